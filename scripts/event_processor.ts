#!/usr/bin/env -S deno run -A
/**
 * Lab 5's event processor: a small service that subscribes to
 * `key_submission` and `profile_events`, processes each event and publishes
 * the result on `processing_results`, with statistics (printed, and published
 * every 5 s on `processor_stats` for lab 8's dashboard) and a graceful stop.
 *
 *   deno run -A scripts/event_processor.ts                    # terminal 1
 *   deno run -A scripts/demo_events.ts                        # terminal 2
 *
 * @module
 */
import { COMMON_OPTIONS, runScript, type ScriptSpec } from "../lib/core/cli.ts";
import { CLUSTER_OPTIONS, resolveTarget } from "../lib/cluster/target.ts";
import { defaultIo, type Io, Reporter } from "../lib/core/output.ts";
import { onShutdown } from "../lib/core/shutdown.ts";
import { endpointFor } from "../lib/endpoint/endpoint.ts";
import { DEFAULT_PUBLISH_STATS_MS, DEFAULT_STATS_CHANNEL } from "../lib/events/processor_stats.ts";
import { parsePublishStats, refuseTopicFlags, STREAMS_KEEP, TOPIC_OPTIONS } from "../lib/events/processor_flags.ts";
import { UsageError } from "../lib/core/exit_codes.ts";
import { parseRecoverFlags, recoverOptions } from "../lib/recover/recover_flags.ts";
import { runPubSubProcessor } from "../lib/events/pubsub_processor.ts";
import { DEFAULT_CONCURRENCY } from "../lib/events/subscriber.ts";
import { runDurableProcessor } from "../lib/events/durable_processor.ts";
import { DURABLE_OPTIONS, parseDurableFlags, refuseDurableFlags } from "../lib/events/durable_flags.ts";
import { DEFAULT_STREAM_CONCURRENCY } from "../lib/events/stream_consumer.ts";
import { METRICS_OPTIONS, startOps } from "../lib/ops/mod.ts";

const SPEC: ScriptSpec = {
  name: "event_processor.ts",
  summary: "process key and profile events and publish the results on processing_results.",
  usage: [
    "[--concurrency N] [--stats-interval DURATION] [--publish-stats DURATION] [--stats-channel NAME] " +
    "[--shutdown-timeout DURATION] [--quiet | --json] [--sharded] [--recover [--recover-state FILE]]",
    "--durable [--group NAME] [--consumer NAME] [--claim-after DURATION] [--max-deliveries N] [--from WHERE]",
  ],
  options: {
    concurrency: {
      type: "string",
      short: "c",
      arg: "N",
      help:
        `handle at most N events at once (default ${DEFAULT_CONCURRENCY}, with --durable ${DEFAULT_STREAM_CONCURRENCY}; 1 keeps arrival order)`,
    },
    "stats-interval": {
      type: "string",
      arg: "DURATION",
      help: "print statistics this often (default 30s; 0 turns it off); they are always printed at exit",
    },
    "publish-stats": {
      type: "string",
      arg: "DURATION",
      help: `publish a processor_stats event this often, for the dashboard (default ${
        DEFAULT_PUBLISH_STATS_MS / 1000
      }s; 0 turns it off)`,
    },
    "stats-channel": {
      type: "string",
      arg: "NAME",
      help: `the channel the processor_stats events go to (default ${DEFAULT_STATS_CHANNEL})`,
    },
    "shutdown-timeout": {
      type: "string",
      arg: "DURATION",
      help: "on Ctrl+C, stop within this long, waiting for events already received (default 5s)",
    },
    quiet: { type: "boolean", short: "q", help: "do not print each event, only statistics" },
    ...DURABLE_OPTIONS,
    ...TOPIC_OPTIONS,
    ...recoverOptions("demo_events.ts --history (EventPublisher's history)"),
    ...COMMON_OPTIONS,
    ...CLUSTER_OPTIONS,
    ...METRICS_OPTIONS,
  },
  examples: [
    "deno run -A scripts/event_processor.ts                        # lab 5, terminal 1",
    "deno run -A scripts/event_processor.ts --concurrency 64 --quiet --stats-interval 5s",
    "deno run -A scripts/event_processor.ts --publish-stats 0         # no processor_stats events",
    "deno run -A scripts/event_processor.ts --json | jq 'select(.event == \"processed\")'",
    "deno run -A scripts/event_processor.ts --recover                  # missed events back after an outage",
    "deno run -A scripts/event_processor.ts --durable                  # lab 6: streams, at least once",
    "deno run -A scripts/event_processor.ts --durable --consumer p2 --claim-after 10s --max-deliveries 3",
    "deno run -A scripts/event_processor.ts --cluster --url redis://127.0.0.1:7000 --sharded   # lab 7: SSUBSCRIBE",
    "deno run -A scripts/event_processor.ts --cluster --url redis://127.0.0.1:7000 --durable   # a stream per slot",
  ],
};

/**
 * Runs the event processor until Ctrl+C / SIGTERM.
 *
 * @param args command-line arguments
 * @param io output streams and an optional stop signal
 * @returns the exit code
 * @example
 * ```ts ignore
 * import { main } from "./event_processor.ts";
 * Deno.exit(await main(["--url", "redis://localhost:6379", "--quiet"]));
 * ```
 */
export function main(args: string[], io: Io = defaultIo()): Promise<number> {
  return runScript(SPEC, args, io, async (flags) => {
    const concurrency = flags.int("concurrency", { min: 1, max: 100_000 }) ?? DEFAULT_CONCURRENCY;
    const publishStats = parsePublishStats(flags.duration("publish-stats"), flags.string("stats-channel"));
    const options = {
      endpoint: endpointFor(resolveTarget(flags.list("url"), flags.boolean("cluster"))),
      statsEveryMs: flags.duration("stats-interval") ?? 30_000,
      shutdownMs: flags.duration("shutdown-timeout") ?? 5000,
      json: flags.boolean("json"),
      quiet: flags.boolean("quiet"),
      ...(publishStats ? { publishStats } : {}),
    };
    const durable = flags.boolean("durable");
    const recover = parseRecoverFlags(flags);
    if (durable) refuseTopicFlags(flags);
    else refuseDurableFlags(flags);
    if (durable && recover) throw new UsageError(STREAMS_KEEP("--recover"));
    const durableOptions = durable ? await parseDurableFlags(flags, options) : undefined;
    using shutdown = onShutdown(io.signal);
    const log = new Reporter(io.stderr);
    await using ops = startOps(flags, { log, signal: shutdown.signal, starting: "connecting" });
    if (durableOptions) return await runDurableProcessor({ ...durableOptions, ops }, io, shutdown);
    const sharded = flags.boolean("sharded");
    return await runPubSubProcessor(
      { ...options, concurrency, sharded, ops, ...(recover ? { recover } : {}) },
      io,
      shutdown,
    );
  });
}

if (import.meta.main) Deno.exit(await main(Deno.args));
