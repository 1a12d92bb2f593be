#!/usr/bin/env -S deno run -A
/**
 * Lab 8: a live dashboard in the browser — channels and their rates, the
 * last messages, keyspace events, the event processors, lab 4's stored
 * values, lab 6's streams and the server — sampled with its own two
 * connections and pushed over SSE; a form publishes, for demos.
 *
 *   deno run -A scripts/dashboard.ts                 # http://127.0.0.1:8080/
 *
 * @module
 */
import { COMMON_OPTIONS, runScript, type ScriptSpec } from "../lib/core/cli.ts";
import { ExitCode, UsageError } from "../lib/core/exit_codes.ts";
import { Logger, parseLogLevel } from "../lib/core/log.ts";
import { defaultIo, type Io, Printer } from "../lib/core/output.ts";
import { onShutdown } from "../lib/core/shutdown.ts";
import { withTimeout } from "../lib/core/timing.ts";
import { CLUSTER_OPTIONS, resolveTarget } from "../lib/cluster/target.ts";
import { parsePrefix } from "../lib/kv/message.ts";
import { LISTEN_OPTIONS, listenFlags, serveOrExplain } from "../lib/web/listen.ts";
import { DEFAULT_STATS_CHANNEL } from "../lib/events/processor_stats.ts";
import { SseHub } from "../lib/web/sse.ts";
import {
  Board,
  type BoardState,
  type ConnectionState,
  DASHBOARD_HTML,
  handlePublish,
  MessageSampler,
  openSources,
  readAssets,
  type ServerState,
  StateDelta,
} from "../lib/dashboard/mod.ts";

/** The common flags but `--json`: the dashboard's output is the page (its log is text). */
const { json: _json, ...FLAGS } = COMMON_OPTIONS;

const SPEC: ScriptSpec = {
  name: "dashboard.ts",
  summary:
    "a live dashboard in the browser: channels, rates, messages, keyspace events, processors, stored values, streams, server.",
  usage: [
    "[--port N] [--host ADDRESS] [--allowed-host NAME]... [--prefix TEXT] [--stream NAME]… [--stats-channel NAME] [--interval DURATION] " +
    "[--read-only] [--log-level LEVEL] [--cluster --url SEED...]",
  ],
  options: {
    port: { type: "string", short: "p", arg: "N", help: "HTTP port (default: 8080; 0: any free port)" },
    ...LISTEN_OPTIONS,
    prefix: { type: "string", arg: "TEXT", help: "lab 4's key prefix, the same as kv_updater's (default: \"\")" },
    stream: {
      type: "string",
      multiple: true,
      arg: "NAME",
      help: "a stream to show (repeatable; default: the first 10 a SCAN finds)",
    },
    "stats-channel": {
      type: "string",
      arg: "NAME",
      help:
        `where the event processors publish their statistics, as their --stats-channel (default ${DEFAULT_STATS_CHANNEL})`,
    },
    "read-only": { type: "boolean", help: "no publish form: the page only shows (POST /publish is refused)" },
    interval: {
      type: "string",
      arg: "DURATION",
      help: "how often the page is updated and the server read (default: 500ms; at least 100ms)",
    },
    "log-level": { type: "string", arg: "LEVEL", help: "debug, info (default), warn or error" },
    ...FLAGS,
    ...CLUSTER_OPTIONS,
  },
  examples: [
    "deno run -A scripts/dashboard.ts                        # lab 8: open http://127.0.0.1:8080/",
    "deno run -A scripts/dashboard.ts --port 9000 --prefix kv: --stream events",
    "deno run -A scripts/dashboard.ts --host 0.0.0.0 --read-only       # in a container, shown to a class",
    "deno run -A scripts/dashboard.ts --host 0.0.0.0 --allowed-host teacher.local   # reached as http://teacher.local:8080/",
    "deno run -A scripts/dashboard.ts --cluster --url redis://127.0.0.1:7000   # every master of a cluster",
  ],
};

/** Rows of messages and key events kept per tick. */
const ROWS_PER_TICK = 40;

/**
 * Runs the dashboard until Ctrl+C / SIGTERM.
 *
 * @param args command-line arguments
 * @param io output streams and an optional stop signal
 * @returns the exit code
 */
export function main(args: string[], io: Io = defaultIo()): Promise<number> {
  return runScript(SPEC, args, io, async (flags) => {
    const port = flags.int("port", { min: 0, max: 65535 }) ?? 8080;
    const prefix = parsePrefix(flags.string("prefix"));
    const streams = flags.list("stream");
    const statsChannel = flags.string("stats-channel") ?? DEFAULT_STATS_CHANNEL;
    if (statsChannel.trim() === "") throw new UsageError("--stats-channel must not be empty");
    const publishing = !flags.boolean("read-only");
    const tickMs = flags.duration("interval") ?? 500;
    if (tickMs < 100) throw new UsageError("--interval must be at least 100ms, e.g. 500ms");
    const log = new Logger(io.stderr, parseLogLevel(flags.string("log-level")));
    const { hostname, hosts } = listenFlags(flags, log);
    const target = resolveTarget(flags.list("url"), flags.boolean("cluster"));
    using shutdown = onShutdown(io.signal);
    const assets = readAssets();

    const sampler = new MessageSampler(ROWS_PER_TICK, statsChannel);
    const sources = await openSources(target, sampler, log, shutdown.signal);
    const board = new Board(tickMs, sources.address, { statsChannel, publishing });
    const hub = new SseHub({ log, replay: 4, heartbeatMs: 15_000, maxBufferedBytes: 256 * 1024 });
    const sub = sources.sampler;
    let server: Deno.HttpServer | undefined;
    let timer: ReturnType<typeof setInterval> | undefined;
    try {
      let state: ServerState | undefined;
      let reading = false;
      let live = true;
      let since = Date.now();
      const poll = async () => {
        if (reading || !sources.readsReady) return;
        reading = true;
        try {
          state = await sources.readState({ prefix, ...(streams.length ? { streams } : {}) });
        } catch (err) {
          if (sources.readsReady) log.warn(`Could not read the server's state: ${(err as Error).message}`);
        } finally {
          reading = false;
        }
      };
      // Each page gets the whole state once, then what changed each tick; it appends each point to its chart.
      const delta = new StateDelta<BoardState>(["messages", "keyEvents"], {
        history: (h) => h.series.map((s) => s.name),
      });
      const tick = () => {
        const up = sources.readsReady && sub.ready;
        if (up !== live) [live, since] = [up, Date.now()];
        const connection: ConnectionState = {
          live,
          since,
          subscriberLive: sub.ready,
          outages: sub.outages,
          fellBehind: sub.fellBehind,
          restarts: sub.restarts,
        };
        hub.publish("state", JSON.stringify(delta.next(board.tick(sampler.take(), state, connection))));
        void poll();
      };
      await poll();
      tick();
      timer = setInterval(tick, tickMs);

      const page = (body: string, type: string) =>
        new Response(body, { headers: { "content-type": type, "cache-control": "no-store" } });
      const publish = {
        redis: sources.publisher,
        enabled: publishing,
        log,
        samplerLive: () => sub.ready,
      };
      server = serveOrExplain({
        port,
        hostname,
        hosts,
        onListen: ({ hostname, port }) =>
          log.info(
            `Dashboard on http://${hostname.includes(":") ? `[${hostname}]` : hostname}:${port}/ ` +
              `(sampling ${sub.address}). Press Ctrl+C to stop.`,
          ),
      }, (request, info) => {
        const { pathname } = new URL(request.url);
        if (pathname === "/publish" && request.method === "POST") return handlePublish(request, publish);
        if (request.method !== "GET" && request.method !== "HEAD") {
          return new Response(`${request.method} is not allowed here: the page only POSTs to /publish\n`, {
            status: 405,
          });
        }
        if (pathname === "/") return page(DASHBOARD_HTML, "text/html; charset=utf-8");
        if (pathname === "/events") {
          const client = hub.open(info.completed);
          void hub.attach(client, [{ id: hub.lastId, event: "state", data: JSON.stringify(delta.full) }]);
          return client.response;
        }
        const asset = assets.get(pathname);
        if (asset) return page(asset.body, asset.type);
        return new Response(`No such page: ${pathname}. Try /\n`, { status: 404 });
      });
      const fatal = await Promise.race([shutdown.requested, sources.failed]) ?? undefined;
      log.info(`Stopping: closing ${hub.clients} page(s)…`);
      clearInterval(timer);
      hub.close();
      await withTimeout(server.shutdown(), 2000, () => new Error("connections still open")).catch(() =>
        log.warn("Some HTTP connections were still open after 2 s; closing anyway.")
      );
      if (fatal) throw fatal;
    } finally {
      clearInterval(timer);
      hub.close();
      await sources.close();
    }
    const lost = sub.outageSummary("messages published then were not counted.");
    new Printer(io.stdout).line(`Stopped.${lost ? `\n${lost}` : ""}`);
    return ExitCode.Ok;
  });
}

if (import.meta.main) Deno.exit(await main(Deno.args));
