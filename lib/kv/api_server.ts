/**
 * `api_server.ts`: serves what kv_updater stored and pushes each change to
 * browsers over Server-Sent Events, on a server or a cluster alike. It
 * follows the update channel (for an updater that does not announce, as the
 * seed's) and the channel kv_updater announces what it stored on.
 *
 * @module
 */
import { type CliError, ExitCode } from "../core/exit_codes.ts";
import { toSeconds } from "../core/json_event.ts";
import type { Logger } from "../core/log.ts";
import { type Io, Printer } from "../core/output.ts";
import type { Shutdown } from "../core/shutdown.ts";
import { withTimeout } from "../core/timing.ts";
import type { Endpoint } from "../endpoint/endpoint.ts";
import type { Link } from "../endpoint/link.ts";
import type { Subscriber } from "../endpoint/subscriber.ts";
import type { HostRule } from "../web/host_rule.ts";
import { rootUrl, serveOrExplain } from "../web/listen.ts";
import { ServerStatusFeed } from "../web/server_status.ts";
import { SseHub } from "../web/sse.ts";
import { apiRoutes } from "./api_routes.ts";
import { subscriberOutages } from "./channel_updater.ts";
import { KvFeed } from "./feed.ts";
import { parseUpdate } from "./message.ts";
import type { Ops } from "../ops/ops.ts";
import { parseAnnouncement, storedChannel } from "./stored_channel.ts";
import { KvStore } from "./store.ts";

/** What `api_server.ts` is told by its command line. */
export interface ApiServerOptions {
  /** The server or cluster. */
  endpoint: Endpoint;
  /** HTTP port (0: any free one). */
  port: number;
  /** The address to listen on. */
  hostname: string;
  /** The host names requests may name (`--allowed-host`, see lib/web/listen.ts). */
  hosts: HostRule;
  /** The update channel. */
  channel: string;
  /** The key prefix, kv_updater's. */
  prefix: string;
  /** Ignore larger update messages. */
  maxBytes: number;
  /** Fail a read after this long, in ms. */
  timeoutMs: number;
  /** SSE heartbeat interval, in ms (0: none). */
  heartbeatMs: number;
  /** Bytes queued at most per SSE client. */
  maxBufferedBytes: number;
  /** Drop an SSE client whose queue stays full this long, in ms. */
  stallMs: number;
  /** SSE streams open at once, at most. */
  maxClients: number;
  /** `--json`. */
  json: boolean;
  /** Where records go. */
  log: Logger;
  /** Its metrics (updates received, handled, malformed; SSE clients) and readiness (started once it listens). */
  ops?: Pick<Ops, "metrics" | "readiness">;
}

const LOSS_NOTE = "Updates published until it is back are not pushed; the current values are sent when it is back.";

/**
 * Runs the API server until the shutdown is requested (or the subscriptions fail).
 *
 * @param o the parsed options
 * @param io output streams
 * @param shutdown the stop request
 * @returns 0
 * @throws {CliError} when the server cannot be used, the port not listened on, or the subscription is refused
 */
export async function runApiServer(o: ApiServerOptions, io: Io, shutdown: Shutdown): Promise<number> {
  const { log } = o;
  const startedAt = performance.now();
  const reads = await o.endpoint.link({
    signal: shutdown.signal,
    reporter: log.reporter("reads: "),
    commandTimeoutMs: o.timeoutMs,
    autoPipelining: true,
  });
  let store: KvStore | undefined;
  let subscriber: Subscriber | undefined;
  let feed: KvFeed | undefined;
  const hub = new SseHub({ log, heartbeatMs: o.heartbeatMs, maxBufferedBytes: o.maxBufferedBytes, stallMs: o.stallMs });
  o.ops?.metrics.watchSseClients(() => hub.clients);
  let counters = { requests: 0, refused: 0 };
  let fatal: CliError | undefined;
  try {
    store = await KvStore.open(reads, o.prefix, {
      reporter: log.reporter("reads: "),
      commandTimeoutMs: o.timeoutMs,
      signal: shutdown.signal,
    });
    const f = feed = new KvFeed({ store, hub, log, connected: () => reads.ready });
    // After a restart both connections come back, in either order: resync once both are up.
    const resync = resyncWhenBothUp(reads, () => subscriber, () => f.resync());
    subscriber = await o.endpoint.subscriber({
      signal: shutdown.signal,
      reporter: log.reporter("subscription: "),
      lossNote: LOSS_NOTE,
      remedies: ["--log-level info (not debug)"],
      onRestored: resync,
      gapsOnly: true,
    });
    const sub = subscriber;
    const announcements = storedChannel(o.channel);
    const metrics = o.ops?.metrics;
    const stopListening = sub.listen((m) => {
      if (m.channel === announcements) {
        const announced = parseAnnouncement(m.payload, o.prefix);
        return announced
          ? f.stored(announced)
          : log.debug("Ignored a message on the stored channel: not an announcement");
      }
      metrics?.received.inc(o.channel);
      const parsed = parseUpdate(m.payload, o.maxBytes);
      if (parsed.ok) return (f.notify(parsed.update), metrics?.handled.inc(o.channel));
      metrics?.malformed.inc(o.channel);
      log.debug(`Ignored a message kv_updater rejects too (${parsed.rejection.reason})`);
    });
    await sub.subscribe([{ kind: "channel", name: o.channel }, { kind: "channel", name: announcements }]);
    // The live page says whether the Redis server is reachable, not only whether it reaches this server.
    using _status = new ServerStatusFeed(hub, () => reads.ready && sub.ready);
    const { maxClients, timeoutMs } = o;
    const routes = apiRoutes({ reads, subscriber: sub, store, feed: f, hub, log, maxClients, timeoutMs });
    counters = routes.counters;
    const { port, hostname, hosts } = o;
    const following = `(following channel "${o.channel}" at ${sub.address})`;
    const onListen = (addr: Deno.NetAddr) =>
      log.info(`API server listening on ${rootUrl(addr)} ${following}. Press Ctrl+C to stop.`);
    const server = serveOrExplain({ port, hostname, hosts, onListen }, routes.handler);
    o.ops?.readiness.started();
    fatal = await Promise.race([shutdown.requested, sub.failed]) ?? undefined;
    log.info(`Stopping: closing ${hub.clients} event stream(s)…`);
    stopListening();
    await f.stop();
    hub.close();
    // Streams of clients dropped for not reading may never finish: do not wait on them for long.
    await withTimeout(server.shutdown(), 2000, () => new Error("connections still open")).catch(() =>
      log.warn("Some HTTP connections were still open after 2 s; closing anyway.")
    );
    await sub.unsubscribe();
  } finally {
    await feed?.stop();
    hub.close();
    await subscriber?.close();
    await store?.close();
    await reads.close();
  }
  printSummary(o, io, hub, counters, startedAt, subscriber);
  if (fatal) throw fatal;
  return ExitCode.Ok;
}

/**
 * A listener for the subscriber's return that resyncs the feed once the reads are up too (and for the reads' return,
 * once the subscriber is up too, when the subscriber came back first).
 */
function resyncWhenBothUp(reads: Link, subscriber: () => Subscriber | undefined, resync: () => void): () => void {
  let due = false;
  const check = () => {
    if (due && reads.ready && subscriber()?.ready) {
      due = false;
      resync();
    }
  };
  reads.onRestored(check);
  return () => {
    due = true;
    check();
  };
}

/** The summary at exit. */
function printSummary(
  o: ApiServerOptions,
  io: Io,
  hub: SseHub,
  counters: { requests: number; refused: number },
  startedAt: number,
  subscriber: Subscriber | undefined,
): void {
  const out = new Printer(io.stdout);
  const summary = {
    requests: counters.requests,
    events: Number(hub.lastId.split("-")[1]),
    dropped_slow_clients: hub.dropped,
    refused_clients: counters.refused,
  };
  if (o.json) {
    out.event("summary", {
      ...summary,
      seconds: toSeconds(performance.now() - startedAt),
      ...subscriberOutages(subscriber),
    });
    return;
  }
  out.line(
    `Stopped. ${summary.requests} request(s), ${summary.events} update event(s) sent, ` +
      `${summary.dropped_slow_clients} slow client(s) dropped` +
      (counters.refused > 0 ? `, ${counters.refused} refused (--max-clients ${o.maxClients}).` : "."),
  );
  const lost = subscriber?.outageSummary("updates published then were not pushed.");
  if (lost) out.line(lost);
}
