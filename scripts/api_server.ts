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
import { CLUSTER_OPTIONS, resolveTarget } from "../lib/cluster/target.ts";
import { UsageError } from "../lib/core/exit_codes.ts";
import { parseMaxBytes, parsePrefix } from "../lib/kv/message.ts";
import { runApiServer } from "../lib/kv/api_server.ts";
import { Logger, parseLogLevel } from "../lib/core/log.ts";
import { defaultIo, type Io } from "../lib/core/output.ts";
import { onShutdown } from "../lib/core/shutdown.ts";
import { endpointFor } from "../lib/endpoint/endpoint.ts";
import { LISTEN_OPTIONS, listenFlags } from "../lib/web/listen.ts";
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
    const [channel, prefix] = [flags.string("channel") ?? "update", parsePrefix(flags.string("prefix"))];
    const bufferFlag = flags.string("client-buffer");
    const maxBufferedBytes = bufferFlag === undefined ? 1024 * 1024 : parseByteSize(bufferFlag, "--client-buffer");
    const heartbeatMs = flags.duration("heartbeat") ?? 15_000;
    const stallMs = flags.duration("client-timeout") ?? 10_000;
    if (stallMs <= 0) throw new UsageError("--client-timeout must be more than 0, e.g. 10s");
    const maxClients = flags.int("max-clients", { min: 1 }) ?? 100;
    const maxBytes = parseMaxBytes(flags.string("max-bytes"));
    const timeoutMs = flags.duration("timeout") ?? 5000;
    if (timeoutMs <= 0) throw new UsageError("--timeout must be more than 0, e.g. 5s");
    const json = flags.boolean("json");
    const log = new Logger(io.stderr, parseLogLevel(flags.string("log-level")), json);
    const { hostname, hosts } = listenFlags(flags, log);
    const endpoint = endpointFor(resolveTarget(flags.list("url"), flags.boolean("cluster")));
    using shutdown = onShutdown(io.signal);
    const sse = { heartbeatMs, maxBufferedBytes, stallMs, maxClients };
    await using ops = startOps(flags, { log, signal: shutdown.signal, starting: "connecting" });
    return await runApiServer(
      { endpoint, port, hostname, hosts, channel, prefix, maxBytes, timeoutMs, ...sse, json, log, ops },
      io,
      shutdown,
    );
  });
}

if (import.meta.main) Deno.exit(await main(Deno.args));
