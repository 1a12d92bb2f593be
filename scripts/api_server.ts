#!/usr/bin/env -S deno run -A
/**
 * Lab 4, step 3 of the Redis-first chain: serves what kv_updater stored and
 * pushes every change to browsers over Server-Sent Events, with a live page.
 *
 *   deno run -A scripts/api_server.ts                 # http://127.0.0.1:8000/
 *   curl -N http://127.0.0.1:8000/events              # the raw event stream
 *
 * @module
 */
import { parseByteSize } from "../lib/byte_size.ts";
import { COMMON_OPTIONS, runScript, type ScriptSpec } from "../lib/cli.ts";
import { Connection } from "../lib/client.ts";
import { resolveUrl } from "../lib/config.ts";
import { CliError, ExitCode, UsageError } from "../lib/exit_codes.ts";
import { KvFeed } from "../lib/kv_feed.ts";
import { parseUpdate, prefixProblem, typeNameProblem } from "../lib/kv_message.ts";
import { listTypes, readStored } from "../lib/kv_store.ts";
import { LIVE_PAGE_HTML } from "../lib/live_page.ts";
import { Logger, parseLogLevel } from "../lib/log.ts";
import { defaultIo, type Io, Printer } from "../lib/output.ts";
import { onMessage, subscribeAll, unsubscribeAll } from "../lib/pubsub.ts";
import { onShutdown } from "../lib/shutdown.ts";
import { SseHub } from "../lib/sse.ts";
import { withTimeout } from "../lib/timing.ts";

const SPEC: ScriptSpec = {
  name: "api_server.ts",
  summary: "serve the values kv_updater stored, push each change to browsers over SSE, with a live page.",
  usage: ["[--port N] [--host ADDRESS] [--channel NAME] [--prefix TEXT] [--log-level LEVEL]"],
  options: {
    port: { type: "string", short: "p", arg: "N", help: "HTTP port (default: 8000; 0: any free port)" },
    host: { type: "string", arg: "ADDRESS", help: "address to listen on (default: 127.0.0.1; 0.0.0.0 in a container)" },
    channel: { type: "string", short: "c", arg: "NAME", help: "update channel to follow (default: update)" },
    prefix: { type: "string", arg: "TEXT", help: 'key prefix, the same as kv_updater\'s (default: "")' },
    heartbeat: { type: "string", arg: "DURATION", help: "SSE heartbeat interval (default: 15s; 0: none)" },
    "client-buffer": {
      type: "string",
      arg: "SIZE",
      help: "unread bytes after which a slow SSE client is dropped (default: 1mb)",
    },
    "log-level": {
      type: "string",
      arg: "LEVEL",
      help: "debug (each request and client), info (default), warn or error",
    },
    ...COMMON_OPTIONS,
  },
  examples: [
    "deno run -A scripts/api_server.ts                         # lab 4: open http://127.0.0.1:8000/",
    "deno run -A scripts/api_server.ts --port 8080 --prefix kv:",
    "curl -s http://127.0.0.1:8000/kv                          # the stored types",
    "curl -s http://127.0.0.1:8000/kv/Weather                  # one stored value",
    "curl -N http://127.0.0.1:8000/events                      # the event stream",
  ],
};

function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body) + "\n", { status, headers: { "content-type": "application/json" } });
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
    const hostname = flags.string("host") ?? "127.0.0.1";
    const channel = flags.string("channel") ?? "update";
    const prefix = flags.string("prefix") ?? "";
    const badPrefix = prefixProblem(prefix);
    if (badPrefix) throw new UsageError(`--prefix "${prefix}" ${badPrefix}`);
    const bufferFlag = flags.string("client-buffer");
    const maxBufferedBytes = bufferFlag === undefined ? 1024 * 1024 : parseByteSize(bufferFlag, "--client-buffer");
    const heartbeatMs = flags.duration("heartbeat") ?? 15_000;
    const log = new Logger(io.stderr, parseLogLevel(flags.string("log-level")), flags.boolean("json"));
    const url = resolveUrl(flags.string("url"));

    using shutdown = onShutdown(io.signal);
    const reads = await Connection.open({ url, reporter: log.reporter("reads: ") });
    let subscriber: Connection | undefined;
    let server: Deno.HttpServer | undefined;
    const hub = new SseHub({ log, heartbeatMs, maxBufferedBytes });
    const feed = new KvFeed({ redis: reads.redis, prefix, hub, log });
    let requests = 0;
    try {
      subscriber = await Connection.open({
        url,
        reporter: log.reporter("subscription: "),
        lossNote: "Updates published until it is back are not pushed; the current values are sent when it is back.",
        onRestored: () => feed.resync(),
      });
      const subscriptions = [{ kind: "channel" as const, name: channel }];
      const stopListening = onMessage(subscriber.redis, (m) => {
        const parsed = parseUpdate(m.payload);
        if (parsed.ok) feed.notify(parsed.update);
        else log.debug(`Ignored a message kv_updater rejects too (${parsed.rejection.reason})`);
      });
      await subscribeAll(subscriber.redis, subscriptions, () => {});

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
          if (pathname === "/events") return feed.connect(request, info.completed);
          if (pathname === "/kv" || pathname === "/kv/") return json({ types: await listTypes(reads.redis, prefix) });
          if (pathname.startsWith("/kv/")) {
            const type = decodeURIComponent(pathname.slice(4));
            const problem = typeNameProblem(type);
            if (problem) return json({ error: `"${type}" is not a type name: it ${problem}` }, 400);
            const [stored] = await readStored(reads.redis, prefix, [type]);
            if (stored === null || stored === undefined) {
              return json({ error: `Nothing stored for type "${type}" (key "${prefix}${type}")` }, 404);
            }
            return new Response(stored, { headers: { "content-type": "application/json" } });
          }
          if (pathname === "/health") {
            const up = reads.ready && subscriber!.ready;
            return json({
              status: up ? "ok" : "degraded",
              server: up ? "connected" : "reconnecting",
              clients: hub.clients,
            }, up ? 200 : 503);
          }
          return json({ error: `No such page: ${pathname}. Try /, /kv, /kv/<type>, /events or /health` }, 404);
        } catch (err) {
          log.error(`${request.method} ${pathname} failed: ${(err as Error).message}`);
          return json({ error: `The server at ${reads.address} did not answer: ${(err as Error).message}` }, 503);
        }
      };
      try {
        server = Deno.serve({
          port,
          hostname,
          onListen: ({ hostname, port }) =>
            log.info(
              `API server listening on http://${hostname.includes(":") ? `[${hostname}]` : hostname}:${port}/ ` +
                `(following channel "${channel}" at ${subscriber!.address}). Press Ctrl+C to stop.`,
            ),
        }, handler);
      } catch (err) {
        if (err instanceof Deno.errors.AddrInUse) {
          throw new CliError(
            ExitCode.Failure,
            `Port ${port} on ${hostname} is already in use: choose another with --port`,
          );
        }
        throw err;
      }
      await shutdown.requested;
      log.info(`Stopping: closing ${hub.clients} event stream(s)…`);
      stopListening();
      await feed.stop();
      hub.close();
      // Streams of clients dropped for not reading may never finish: do not wait on them for long.
      await withTimeout(server.shutdown(), 2000, () => new Error("connections still open")).catch(() =>
        log.warn("Some HTTP connections were still open after 2 s; closing anyway.")
      );
      await unsubscribeAll(subscriber.redis, subscriptions);
    } finally {
      await feed.stop();
      hub.close();
      await subscriber?.close();
      await reads.close();
    }
    const out = new Printer(io.stdout);
    const summary = { requests, events: Number(hub.lastId.split("-")[1]), dropped_slow_clients: hub.dropped };
    if (flags.boolean("json")) out.json({ event: "summary", ...summary });
    else {
      out.line(
        `Stopped. ${summary.requests} request(s), ${summary.events} update event(s) sent, ` +
          `${summary.dropped_slow_clients} slow client(s) dropped.`,
      );
    }
    return ExitCode.Ok;
  });
}

if (import.meta.main) Deno.exit(await main(Deno.args));
