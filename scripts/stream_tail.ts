#!/usr/bin/env -S deno run -A
/**
 * A reader for people, the streams counterpart of `kcat -C`: prints a
 * stream's entries from the start, an entry id or a time, follows new ones,
 * and with `--groups` shows each consumer group — its consumers, pending
 * counts, idle times and lag — and the dead-letter stream.
 *
 *   deno run -A scripts/stream_tail.ts key_submission --from 10m --follow
 *   deno run -A scripts/stream_tail.ts key_submission profile_events --groups
 *
 * @module
 */
import { COMMON_OPTIONS, runScript, type ScriptSpec } from "../lib/core/cli.ts";
import { CLUSTER_OPTIONS, resolveTarget } from "../lib/cluster/target.ts";
import { ExitCode, UsageError } from "../lib/core/exit_codes.ts";
import { defaultIo, type Io, Printer, Reporter } from "../lib/core/output.ts";
import { onShutdown } from "../lib/core/shutdown.ts";
import { endpointFor } from "../lib/endpoint/endpoint.ts";
import { parseStartPosition } from "../lib/streams/entry.ts";
import { readStream } from "../lib/streams/reader.ts";
import { explainStreamError, printEntry, printGroups } from "../lib/streams/tail.ts";
import { METRICS_OPTIONS, startOps } from "../lib/ops/mod.ts";

const SPEC: ScriptSpec = {
  name: "stream_tail.ts",
  summary: "print a stream's entries from a position and follow new ones, or show its consumer groups.",
  usage: [
    "STREAM [--from WHERE] [--follow] [--count N] [--json]",
    "STREAM... --groups [--json]",
  ],
  positionals: true,
  options: {
    from: {
      type: "string",
      arg: "WHERE",
      help: "start at: start (default), new, an entry id (1700000000000-0), an ISO time, or an age such as 10m",
    },
    follow: {
      type: "boolean",
      short: "f",
      help: "after the existing entries, print new ones as they come (Ctrl+C stops)",
    },
    count: { type: "string", short: "n", arg: "N", help: "stop after N entries" },
    groups: {
      type: "boolean",
      help: "show each consumer group: consumers, pending, idle times, lag; and the dead-letter stream",
    },
    ...COMMON_OPTIONS,
    ...CLUSTER_OPTIONS,
    ...METRICS_OPTIONS,
  },
  examples: [
    "deno run -A scripts/stream_tail.ts key_submission                     # every entry, oldest first",
    "deno run -A scripts/stream_tail.ts processing_results --from new -f   # new results as they come",
    "deno run -A scripts/stream_tail.ts key_submission:dead --json | jq .fields.reason",
    "deno run -A scripts/stream_tail.ts key_submission --from 2026-01-01T10:00:00Z --count 10",
    "deno run -A scripts/stream_tail.ts key_submission profile_events --groups",
    "deno run -A scripts/stream_tail.ts --cluster --url redis://127.0.0.1:7000 key_submission profile_events --groups",
  ],
};

/**
 * Runs the stream reader.
 *
 * @param args command-line arguments
 * @param io output streams and an optional stop signal
 * @returns the exit code
 * @example
 * ```ts ignore
 * import { main } from "./stream_tail.ts";
 * Deno.exit(await main(["key_submission", "--groups"]));
 * ```
 */
export function main(args: string[], io: Io = defaultIo()): Promise<number> {
  return runScript(SPEC, args, io, async (flags) => {
    const streams = flags.positionals;
    const groups = flags.boolean("groups");
    const json = flags.boolean("json");
    if (streams.length === 0) throw new UsageError("Name the STREAM to read, e.g. key_submission");
    if (groups && (flags.string("from") !== undefined || flags.boolean("follow") || flags.string("count"))) {
      throw new UsageError("--groups shows the groups only: it takes no --from, --follow or --count");
    }
    if (!groups && streams.length > 1) throw new UsageError("Read one STREAM at a time (--groups takes several)");
    const from = parseStartPosition(flags.string("from") ?? "start");
    const count = flags.int("count", { min: 1 });
    const endpoint = endpointFor(resolveTarget(flags.list("url"), flags.boolean("cluster")));
    const out = new Printer(io.stdout);
    const status = new Reporter(io.stderr);
    const follow = flags.boolean("follow");
    using shutdown = onShutdown(io.signal);
    await using ops = startOps(flags, { log: status, signal: shutdown.signal, starting: "connecting" });
    const conn = await endpoint.link({ reporter: status, reconnect: follow, offlineQueue: follow });
    // A read waiting out an outage (in the offline queue) ends at the stop, as a closed connection.
    shutdown.signal.addEventListener("abort", () => void conn.close(), { once: true });
    try {
      if (groups) {
        for (const stream of streams) await printGroups(conn, out, json, stream);
        return ExitCode.Ok;
      }
      const stream = streams[0]!;
      let printed = 0;
      try {
        const pages = readStream(conn.redis, stream, from, { follow, signal: shutdown.signal });
        ops.readiness.started();
        for await (const page of pages) {
          ops.metrics.received.inc(stream, page.length);
          for (const entry of page) {
            printEntry(out, json, stream, entry);
            ops.metrics.handled.inc(stream);
            if (++printed === count) return ExitCode.Ok;
          }
        }
      } catch (err) {
        if (shutdown.signal.aborted) return ExitCode.Ok;
        throw explainStreamError(err, stream);
      }
      if (printed === 0 && !shutdown.signal.aborted) {
        status.info(`No entries in ${stream} from ${flags.string("from") ?? "the start"}.`);
      }
      return ExitCode.Ok;
    } finally {
      await conn.close();
    }
  });
}

if (import.meta.main) Deno.exit(await main(Deno.args));
