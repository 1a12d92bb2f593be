#!/usr/bin/env -S deno run -A
/**
 * Lab 4, step 3 of the Redis-first chain: serves what kv_updater stored and
 * pushes every change to browsers over Server-Sent Events, with a live page.
 *
 *   deno run -A scripts/api_server.ts                 # http://127.0.0.1:8000/
 *   curl -N http://127.0.0.1:8000/events              # the raw event stream
 *   deno run -A scripts/api_server.ts --cluster --url redis://127.0.0.1:7000   # /kv scans every master
 *
 * @module
 */
import { parseByteSize } from "../lib/core/byte_size.ts";
import { COMMON_OPTIONS, runScript, type ScriptSpec } from "../lib/core/cli.ts";
import { Connection } from "../lib/core/client.ts";
import { ClusterConnection } from "../lib/cluster/cluster_connection.ts";
import { ClusterSubscription } from "../lib/cluster/cluster_subscription.ts";
import { CLUSTER_OPTIONS, resolveTarget } from "../lib/cluster/target.ts";
import { CliError, ExitCode, UsageError } from "../lib/core/exit_codes.ts";
import { KvFeed } from "../lib/kv/feed.ts";
import { parseMaxBytes, parsePrefix, parseUpdate, typeNameProblem, updateEventJson } from "../lib/kv/message.ts";
import { readAllStored, readStored } from "../lib/kv/store.ts";
import { LIVE_PAGE_HTML } from "../lib/kv/live_page.ts";
import { Logger, parseLogLevel } from "../lib/core/log.ts";
import { defaultIo, type Io, Printer } from "../lib/core/output.ts";
import { onMessage } from "../lib/pubsub/subscribe.ts";
import { NO_OUTAGES, SubscriberConnection } from "../lib/pubsub/subscriptions.ts";
import { onShutdown } from "../lib/core/shutdown.ts";
import { SseHub } from "../lib/web/sse.ts";
import { ServerStatusFeed } from "../lib/web/server_status.ts";
import { LISTEN_OPTIONS, listenFlags, serveOrExplain } from "../lib/web/listen.ts";
import { withTimeout } from "../lib/core/timing.ts";
import { toSeconds } from "../lib/core/json_event.ts";
import { METRICS_OPTIONS, startOps } from "../lib/ops/mod.ts";

const SPEC: ScriptSpec = {
  name: "api_server.ts",
  summary: "serve the values kv_updater stored, push each change to browsers over SSE, with a live page.",
  usage: [
    "[--port N] [--host ADDRESS] [--allowed-host NAME]... [--channel NAME] [--prefix TEXT] [--max-bytes SIZE] [--max-clients N] " +
    "[--log-level LEVEL]",
    "--cluster [--url SEED]... [any of the above]",
  ],
  options: {
    port: { type: "string", short: "p", arg: "N", help: "HTTP port (default: 8000; 0: any free port)" },
    ...LISTEN_OPTIONS,
    channel: { type: "string", short: "c", arg: "NAME", help: "update channel to follow (default: update)" },
    prefix: { type: "string", arg: "TEXT", help: 'key prefix, the same as kv_updater\'s (default: "")' },
    "max-bytes": {
      type: "string",
      arg: "SIZE",
      help: "ignore larger update messages, the same as kv_updater's (default: 1mb)",
    },
    timeout: {
      type: "string",
      arg: "DURATION",
      help: "how long the server may take to answer before a request gets 503 (default: 5s)",
    },
    heartbeat: { type: "string", arg: "DURATION", help: "SSE heartbeat interval (default: 15s; 0: none)" },
    "client-buffer": {
      type: "string",
      arg: "SIZE",
      help: "bytes queued at most per SSE client; what does not fit waits in the replay ring (default: 1mb)",
    },
    "client-timeout": {
      type: "string",
      arg: "DURATION",
      help: "drop an SSE client whose queue stays full this long, reading nothing (default: 10s)",
    },
    "max-clients": {
      type: "string",
      arg: "N",
      help: "SSE streams open at once; more get 503 (default: 100)",
    },
    "log-level": {
      type: "string",
      arg: "LEVEL",
      help: "debug (each request and client), info (default), warn or error",
    },
    ...COMMON_OPTIONS,
    ...CLUSTER_OPTIONS,
    ...METRICS_OPTIONS,
  },
  examples: [
    "deno run -A scripts/api_server.ts                         # lab 4: open http://127.0.0.1:8000/",
    "deno run -A scripts/api_server.ts --port 8080 --prefix kv:",
    "deno run -A scripts/api_server.ts --host 0.0.0.0 --allowed-host lab.example   # reached as http://lab.example:8000/",
    "curl -s http://127.0.0.1:8000/kv                          # the stored types",
    "curl -s http://127.0.0.1:8000/kv/Weather                  # one stored value",
    "curl -N http://127.0.0.1:8000/events                      # the event stream",
    "deno run -A scripts/api_server.ts --cluster --url redis://127.0.0.1:7000   # lab 7: every master",
  ],
};

function json(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body) + "\n", {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

/**
 * Runs the API server until Ctrl+C / SIGTERM.
 *
 * @param args command-line arguments
 * @param io output streams and an optional stop signal
 * @returns the exit code
 */
export function main(args: string[], io: Io = defaultIo()): Promise<number> {
  return runScript(SPEC, args, io, async (flags) => {
    const port = flags.int("port", { min: 0, max: 65535 }) ?? 8000;
    const channel = flags.string("channel") ?? "update";
    const prefix = parsePrefix(flags.string("prefix"));
    const bufferFlag = flags.string("client-buffer");
    const maxBufferedBytes = bufferFlag === undefined ? 1024 * 1024 : parseByteSize(bufferFlag, "--client-buffer");
    const heartbeatMs = flags.duration("heartbeat") ?? 15_000;
    const stallMs = flags.duration("client-timeout") ?? 10_000;
    if (stallMs <= 0) throw new UsageError("--client-timeout must be more than 0, e.g. 10s");
    const maxClients = flags.int("max-clients", { min: 1 }) ?? 100;
    const maxBytes = parseMaxBytes(flags.string("max-bytes"));
    const timeoutMs = flags.duration("timeout") ?? 5000;
    if (timeoutMs <= 0) throw new UsageError("--timeout must be more than 0, e.g. 5s");
    const log = new Logger(io.stderr, parseLogLevel(flags.string("log-level")), flags.boolean("json"));
    const { hostname, hosts } = listenFlags(flags, log);
    const target = resolveTarget(flags.list("url"), flags.boolean("cluster"));

    using shutdown = onShutdown(io.signal);
    await using ops = startOps(flags, { log, signal: shutdown.signal, starting: "connecting" });
    const startedAt = performance.now();
    // After a restart both connections come back, in either order: resync once both are up.
    let resyncDue = false;
    const resyncWhenBothUp = () => {
      if (resyncDue && reads.ready && subscriber?.ready) {
        resyncDue = false;
        feed.resync();
      }
    };
    // On a cluster: reads routed by slot (sent together per node), /kv scanning every master, and the channel
    // followed through the same client (ioredis subscribes on one node, moved to another when it is lost).
    const reads = target.cluster
      ? await ClusterConnection.open({
        urls: target.urls,
        signal: shutdown.signal,
        reporter: log.reporter("reads: "),
        commandTimeoutMs: timeoutMs,
        autoPipelining: true,
      })
      : await Connection.open({
        url: target.url,
        signal: shutdown.signal,
        reporter: log.reporter("reads: "),
        commandTimeoutMs: timeoutMs,
        onRestored: resyncWhenBothUp,
      });
    const redis = reads instanceof ClusterConnection ? reads.cluster : reads.redis;
    let subscriber: SubscriberConnection | ClusterSubscription | undefined;
    let server: Deno.HttpServer | undefined;
    const hub = new SseHub({ log, heartbeatMs, maxBufferedBytes, stallMs });
    ops.metrics.watchSseClients(() => hub.clients);
    const feed = new KvFeed({ redis, prefix, hub, log, connected: () => reads.ready });
    let requests = 0;
    let fatal: CliError | undefined;
    let refused = 0;
    let refusing = false;
    const seconds = `${timeoutMs / 1000} s`;
    // Responses go to any HTTP client: they never name the server (user, host, port); the log does.
    /** The 503 for a failed read: an outage or a timeout is expected now and then; anything else is logged. */
    const unavailable = (request: Request, pathname: string, err: Error): Response => {
      if (!reads.ready) return json({ error: "Not connected to the Redis server: reconnecting, try again soon" }, 503);
      if (/timed out/i.test(err.message)) {
        log.warn(`${request.method} ${pathname}: the server at ${reads.address} did not answer within ${seconds}`);
        return json({ error: `The Redis server did not answer within ${seconds}` }, 503);
      }
      log.error(`${request.method} ${pathname} failed: ${err.message}`);
      return json({ error: "The Redis server did not answer: the API server's log says why" }, 503);
    };
    /** `GET /events`: a stream, or 503 past --max-clients (said once until a stream is admitted again). */
    const events = (request: Request, completed: Promise<unknown>): Response => {
      if (hub.streams < maxClients) {
        refusing = false;
        return feed.connect(request, completed);
      }
      refused++;
      if (!refusing) {
        log.warn(
          `Refusing event streams: ${hub.streams} are open (--max-clients ${maxClients}; ${hub.clients} connected, ` +
            "the others waiting for their first values or dropped and not yet closed). Said once until one is admitted.",
        );
      }
      refusing = true;
      return json({ error: `Too many event streams open (at most ${maxClients}): try again later` }, 503, {
        "retry-after": "5",
      });
    };
    try {
      const lossNote =
        "Updates published until it is back are not pushed; the current values are sent when it is back.";
      const onRestored = () => {
        resyncDue = true;
        resyncWhenBothUp();
      };
      subscriber = reads instanceof ClusterConnection
        ? new ClusterSubscription(reads, log.reporter("subscription: "), lossNote, onRestored)
        : await SubscriberConnection.open({
          url: target.cluster ? "" : target.url,
          signal: shutdown.signal,
          reporter: log.reporter("subscription: "),
          lossNote,
          remedies: ["--log-level info (not debug)"],
          onRestored,
        });
      const subscriptions = [{ kind: "channel" as const, name: channel }];
      const { received, handled, malformed } = ops.metrics;
      const stopListening = onMessage(subscriber.redis, (m) => {
        received.inc(channel);
        const parsed = parseUpdate(m.payload, maxBytes);
        if (parsed.ok) return (feed.notify(parsed.update), handled.inc(channel));
        malformed.inc(channel);
        log.debug(`Ignored a message kv_updater rejects too (${parsed.rejection.reason})`);
      });
      await subscriber.subscribe(subscriptions);
      // The live page says whether the Redis server is reachable, not only whether it reaches this server.
      using _status = new ServerStatusFeed(hub, () => reads.ready && subscriber!.ready);

      const handler = async (request: Request, info: Deno.ServeHandlerInfo): Promise<Response> => {
        requests++;
        const { pathname } = new URL(request.url);
        if (log.enabled("debug")) log.debug(`${request.method} ${pathname}`);
        if (request.method !== "GET" && request.method !== "HEAD") {
          return json({ error: `${request.method} is not allowed: this API is read-only` }, 405);
        }
        try {
          if (pathname === "/") {
            return new Response(LIVE_PAGE_HTML, { headers: { "content-type": "text/html; charset=utf-8" } });
          }
          if (pathname === "/events") return events(request, info.completed);
          if (pathname === "/kv" || pathname === "/kv/") {
            return json({ types: (await readAllStored(redis, prefix)).map((s) => s.type) });
          }
          if (pathname.startsWith("/kv/")) {
            let type: string;
            try {
              type = decodeURIComponent(pathname.slice(4));
            } catch {
              return json({ error: `"${pathname.slice(4)}" is not a type name: it has a malformed %-escape` }, 400);
            }
            const problem = typeNameProblem(type);
            if (problem) return json({ error: `"${type}" is not a type name: it ${problem}` }, 400);
            const [stored] = await readStored(redis, prefix, [type]);
            if (!stored || updateEventJson(type, stored) === undefined) {
              return json({ error: `Nothing stored for type "${type}" (key "${prefix}${type}")` }, 404);
            }
            return new Response(stored, { headers: { "content-type": "application/json" } });
          }
          if (pathname === "/health") {
            // Connected is not enough: a server that stopped answering keeps its connections open.
            const answers = reads.ready && subscriber!.ready && await redis.ping().then(() => true, () => false);
            const state = answers
              ? "connected"
              : reads.ready && subscriber!.ready
              ? `not answering within ${seconds}`
              : "reconnecting";
            return json(
              { status: answers ? "ok" : "degraded", server: state, clients: hub.clients },
              answers ? 200 : 503,
            );
          }
          return json({ error: `No such page: ${pathname}. Try /, /kv, /kv/<type>, /events or /health` }, 404);
        } catch (err) {
          return unavailable(request, pathname, err as Error);
        }
      };
      server = serveOrExplain({
        port,
        hostname,
        hosts,
        onListen: ({ hostname, port }) =>
          log.info(
            `API server listening on http://${hostname.includes(":") ? `[${hostname}]` : hostname}:${port}/ ` +
              `(following channel "${channel}" at ${subscriber!.address}). Press Ctrl+C to stop.`,
          ),
      }, handler);
      ops.readiness.started();
      fatal = await Promise.race([shutdown.requested, subscriber.failed]) ?? undefined;
      log.info(`Stopping: closing ${hub.clients} event stream(s)…`);
      stopListening();
      await feed.stop();
      hub.close();
      // Streams of clients dropped for not reading may never finish: do not wait on them for long.
      await withTimeout(server.shutdown(), 2000, () => new Error("connections still open")).catch(() =>
        log.warn("Some HTTP connections were still open after 2 s; closing anyway.")
      );
      await subscriber.unsubscribe();
    } finally {
      await feed.stop();
      hub.close();
      await subscriber?.close();
      await reads.close();
    }
    const out = new Printer(io.stdout);
    const summary = {
      requests,
      events: Number(hub.lastId.split("-")[1]),
      dropped_slow_clients: hub.dropped,
      refused_clients: refused,
    };
    if (flags.boolean("json")) {
      out.event("summary", {
        ...summary,
        seconds: toSeconds(performance.now() - startedAt),
        ...(subscriber?.outageJson() ?? NO_OUTAGES),
      });
    } else {
      out.line(
        `Stopped. ${summary.requests} request(s), ${summary.events} update event(s) sent, ` +
          `${summary.dropped_slow_clients} slow client(s) dropped` +
          (refused > 0 ? `, ${refused} refused (--max-clients ${maxClients}).` : "."),
      );
      const lost = subscriber?.outageSummary("updates published then were not pushed.");
      if (lost) out.line(lost);
    }
    if (fatal) throw fatal;
    return ExitCode.Ok;
  });
}

if (import.meta.main) Deno.exit(await main(Deno.args));
