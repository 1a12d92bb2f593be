/**
 * Lab 8's dashboard at work: connects (one server or a cluster, the same
 * path), samples, ticks the page's state to every browser over SSE, serves
 * the page and its publish form until Ctrl+C or a fatal error, then closes
 * the pages, the HTTP server and its connections.
 *
 * @module
 */
import type { Logger } from "../core/log.ts";
import type { Printer } from "../core/output.ts";
import { withTimeout } from "../core/timing.ts";
import type { Endpoint } from "../endpoint/endpoint.ts";
import type { Ops } from "../ops/ops.ts";
import type { HostRule } from "../web/host_rule.ts";
import { serveOrExplain } from "../web/listen.ts";
import { SseHub } from "../web/sse.ts";
import { readAssets } from "./assets.ts";
import { Board } from "./board.ts";
import { dashboardRoutes } from "./routes.ts";
import { MessageSampler } from "./sampler.ts";
import type { StateOptions } from "./server_state.ts";
import { openSources } from "./sources.ts";
import { Updates } from "./updates.ts";

/** What the dashboard was asked to do. */
export interface DashboardOptions {
  /** The server or cluster shown. */
  endpoint: Endpoint;
  /** The HTTP port (0: any free one). */
  port: number;
  /** The address it listens on. */
  hostname: string;
  /** The host names it answers to. */
  hosts: HostRule;
  /** How often the page is updated and the server read, in ms. */
  tickMs: number;
  /** Stored values and streams to show. */
  state: StateOptions;
  /** Where the processors publish their statistics. */
  statsChannel: string;
  /** Whether the page may publish (false with `--read-only`). */
  publishing: boolean;
  /** The dashboard's log. */
  log: Logger;
  /** Where `Stopped.` and the outage lines go. */
  out: Printer;
  /** Aborted at Ctrl+C (stops the connects). */
  signal: AbortSignal;
  /** Resolves at Ctrl+C. */
  requested: Promise<unknown>;
  /** Its metrics (messages heard per channel, SSE clients) and readiness (started once the page is served). */
  ops?: Pick<Ops, "metrics" | "readiness">;
}

/** Rows of messages and key events kept per tick. */
const ROWS_PER_TICK = 40;

/**
 * Runs the dashboard until Ctrl+C / SIGTERM.
 *
 * @param o what to show, where to serve it
 * @returns when stopped and closed
 * @throws {CliError} when the server cannot be used, the port is taken, or the sampler is refused
 */
export async function runDashboard(o: DashboardOptions): Promise<void> {
  const { log } = o;
  const assets = readAssets();
  const sampler = new MessageSampler(ROWS_PER_TICK, o.statsChannel);
  const sources = await openSources(o.endpoint, sampler, log, o.signal);
  const board = new Board(o.tickMs, sources.address, { statsChannel: o.statsChannel, publishing: o.publishing });
  const hub = new SseHub({ log, replay: 4, heartbeatMs: 15_000, maxBufferedBytes: 256 * 1024 });
  const metrics = o.ops?.metrics;
  metrics?.watchSseClients(() => hub.clients);
  const updates = new Updates({ sources, sampler, board, hub, state: o.state, log, ...(metrics ? { metrics } : {}) });
  try {
    await updates.start(o.tickMs);
    const publish = {
      redis: sources.publisher,
      enabled: o.publishing,
      log,
      samplerLive: () => sources.sampler.ready,
    };
    const server = serveOrExplain({
      port: o.port,
      hostname: o.hostname,
      hosts: o.hosts,
      onListen: ({ hostname, port }) =>
        log.info(
          `Dashboard on http://${hostname.includes(":") ? `[${hostname}]` : hostname}:${port}/ ` +
            `(sampling ${sources.sampler.address}). Press Ctrl+C to stop.`,
        ),
    }, dashboardRoutes({ assets, hub, delta: updates.delta, publish }));
    o.ops?.readiness.started();
    const fatal = await Promise.race([o.requested, sources.failed]) ?? undefined;
    log.info(`Stopping: closing ${hub.clients} page(s)…`);
    updates.stop();
    hub.close();
    await withTimeout(server.shutdown(), 2000, () => new Error("connections still open")).catch(() =>
      log.warn("Some HTTP connections were still open after 2 s; closing anyway.")
    );
    if (fatal) throw fatal;
  } finally {
    updates.stop();
    hub.close();
    await sources.close();
  }
  const lost = sources.sampler.outageSummary("messages published then were not counted.");
  o.out.line(`Stopped.${lost ? `\n${lost}` : ""}`);
}
