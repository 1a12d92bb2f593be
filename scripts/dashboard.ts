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
import { CLUSTER_OPTIONS, resolveTarget } from "../lib/cluster/target.ts";
import { ExitCode, UsageError } from "../lib/core/exit_codes.ts";
import { Logger, parseLogLevel } from "../lib/core/log.ts";
import { defaultIo, type Io, Printer } from "../lib/core/output.ts";
import { onShutdown } from "../lib/core/shutdown.ts";
import { runDashboard } from "../lib/dashboard/run.ts";
import { endpointFor } from "../lib/endpoint/endpoint.ts";
import { DEFAULT_STATS_CHANNEL } from "../lib/events/processor_stats.ts";
import { parsePrefix } from "../lib/kv/message.ts";
import { LISTEN_OPTIONS, listenFlags } from "../lib/web/listen.ts";
import { METRICS_OPTIONS, startOps } from "../lib/ops/mod.ts";

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
    ...METRICS_OPTIONS,
  },
  examples: [
    "deno run -A scripts/dashboard.ts                        # lab 8: open http://127.0.0.1:8080/",
    "deno run -A scripts/dashboard.ts --port 9000 --prefix kv: --stream events",
    "deno run -A scripts/dashboard.ts --host 0.0.0.0 --read-only       # in a container, shown to a class",
    "deno run -A scripts/dashboard.ts --host 0.0.0.0 --allowed-host teacher.local   # reached as http://teacher.local:8080/",
    "deno run -A scripts/dashboard.ts --cluster --url redis://127.0.0.1:7000   # every master of a cluster",
  ],
};

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
    const tickMs = flags.duration("interval") ?? 500;
    if (tickMs < 100) throw new UsageError("--interval must be at least 100ms, e.g. 500ms");
    const log = new Logger(io.stderr, parseLogLevel(flags.string("log-level")));
    const { hostname, hosts } = listenFlags(flags, log);
    const endpoint = endpointFor(resolveTarget(flags.list("url"), flags.boolean("cluster")));
    using shutdown = onShutdown(io.signal);
    await using ops = startOps(flags, { log, signal: shutdown.signal, starting: "connecting" });
    await runDashboard({
      endpoint,
      port,
      hostname,
      hosts,
      tickMs,
      state: { prefix, ...(streams.length ? { streams } : {}) },
      statsChannel,
      publishing: !flags.boolean("read-only"),
      log,
      out: new Printer(io.stdout),
      signal: shutdown.signal,
      requested: shutdown.requested,
      ops,
    });
    return ExitCode.Ok;
  });
}

if (import.meta.main) Deno.exit(await main(Deno.args));
