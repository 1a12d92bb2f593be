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
import { formatStatsTable, type TopicStatsSnapshot } from "../lib/events/stats.ts";
import { EventPublisher } from "../lib/events/publisher.ts";
import { type ProcessedEvent, processorHandlers } from "../lib/events/processing.ts";
import { DEFAULT_CONCURRENCY, EventSubscriber } from "../lib/events/subscriber.ts";
import { type CliError, ExitCode, UsageError } from "../lib/core/exit_codes.ts";
import { clock, defaultIo, escapeControl, type Io, Printer, Reporter } from "../lib/core/output.ts";
import { onShutdown } from "../lib/core/shutdown.ts";
import { formatNumber } from "../lib/core/stats.ts";
import { toSeconds } from "../lib/core/json_event.ts";
import type { SubscriberConnection } from "../lib/pubsub/subscriptions.ts";
import { refuseTopicFlags, TOPIC_OPTIONS, type TopicPublisher, topicTransport } from "../lib/events/transport.ts";
import type { CreatedEvent } from "../lib/events/envelope.ts";
import {
  DEFAULT_PUBLISH_STATS_MS,
  DEFAULT_STATS_CHANNEL,
  type ProcessorStatsOptions,
  ProcessorStatsPublisher,
} from "../lib/events/processor_stats.ts";
import { runDurableProcessor } from "../lib/streams/durable_processor.ts";
import { DURABLE_OPTIONS, parseDurableFlags, refuseDurableFlags } from "../lib/streams/durable_flags.ts";
import { DEFAULT_STREAM_CONCURRENCY } from "../lib/streams/consumer.ts";
import { METRICS_OPTIONS, startOps } from "../lib/ops/mod.ts";

const SPEC: ScriptSpec = {
  name: "event_processor.ts",
  summary: "process key and profile events and publish the results on processing_results.",
  usage: [
    "[--concurrency N] [--stats-interval DURATION] [--publish-stats DURATION] [--stats-channel NAME] " +
    "[--shutdown-timeout DURATION] [--quiet | --json] [--sharded]",
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
    ...COMMON_OPTIONS,
    ...CLUSTER_OPTIONS,
    ...METRICS_OPTIONS,
  },
  examples: [
    "deno run -A scripts/event_processor.ts                        # lab 5, terminal 1",
    "deno run -A scripts/event_processor.ts --concurrency 64 --quiet --stats-interval 5s",
    "deno run -A scripts/event_processor.ts --publish-stats 0         # no processor_stats events",
    "deno run -A scripts/event_processor.ts --json | jq 'select(.event == \"processed\")'",
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
    const statsEveryMs = flags.duration("stats-interval") ?? 30_000;
    const shutdownMs = flags.duration("shutdown-timeout") ?? 5000;
    const json = flags.boolean("json");
    const quiet = flags.boolean("quiet");
    const publishStats = parsePublishStats(flags.duration("publish-stats"), flags.string("stats-channel"));
    const target = resolveTarget(flags.list("url"), flags.boolean("cluster"));
    if (flags.boolean("durable")) {
      refuseTopicFlags(flags);
      const options = {
        target,
        concurrency,
        statsEveryMs,
        shutdownMs,
        json,
        quiet,
        describe: describeResult,
        ...(publishStats ? { publishStats } : {}),
      };
      const durable = await parseDurableFlags(flags, options);
      using shutdown = onShutdown(io.signal);
      await using ops = startOps(flags, {
        log: new Reporter(io.stderr),
        signal: shutdown.signal,
        starting: "connecting",
      });
      return await runDurableProcessor({ ...durable, ops }, io, shutdown);
    }
    refuseDurableFlags(flags);
    const out = new Printer(io.stdout);
    const status = new Reporter(io.stderr);
    const topics = topicTransport(target, flags.boolean("sharded"));

    using shutdown = onShutdown(io.signal);
    await using ops = startOps(flags, { log: status, signal: shutdown.signal, starting: "connecting" });
    let subscriber: EventSubscriber | undefined;
    const subConn = await topics.subscriber({
      signal: shutdown.signal,
      reporter: status,
      lossNote: "Events published until it is back are lost: pub/sub keeps nothing for absent subscribers.",
      pending: () => subscriber?.queued ?? 0,
      remedies: [...(quiet ? [] : ["--quiet (printing each event is slow)"]), "a higher --concurrency"],
    });
    const startedAt = Date.now();
    let pubConn: TopicPublisher | undefined;
    let published: ProcessorStatsPublisher | undefined;
    let fatal: CliError | undefined;
    try {
      // Results wait in the offline queue during an outage instead of failing the handler; those of one burst of
      // events go out in one write (a write per result took most of the processor's time: tests/bench/event_processor.ts).
      pubConn = await topics.publisher({
        reporter: status,
        offlineQueue: true,
        signal: shutdown.signal,
        autoPipelining: true,
      });
      const publisher = new EventPublisher(pubConn.redis, { source: "event_processor", sharded: topics.sharded });
      subscriber = new EventSubscriber(subConn, {
        topics: processorHandlers(publisher, quiet ? undefined : printProcessed(out, json)),
        concurrency,
        reporter: status,
        metrics: ops.metrics,
      });
      await subscriber.start((c) => {
        if (json) out.event("subscribe", { channel: c.name, active: c.active });
        else out.line(`${out.green("✓")} subscribed to ${out.bold(c.name)} (${c.active} active)`);
      });
      const running = subscriber;
      if (publishStats) {
        const load = () => ({ topics: running.stats(), inFlight: running.inFlight, queued: running.queued });
        const options = { ...publishStats, mode: "pubsub" as const, startedAt, reporter: status };
        published = new ProcessorStatsPublisher(pubConn.redis, load, options);
      }
      status.info(
        `Processing events on ${subConn.address}, up to ${formatNumber(concurrency)} at a time; ` +
          `results go to processing_results${published ? `; ${published.description}` : ""}. Press Ctrl+C to stop.`,
      );
      published?.start();
      ops.readiness.started();
      const timer = statsEveryMs > 0 ? setInterval(() => printStats(out, json, running), statsEveryMs) : undefined;
      try {
        fatal = await Promise.race([shutdown.requested, subConn.failed]) ?? undefined;
      } finally {
        clearInterval(timer);
      }
      status.info(`Stopping: waiting up to ${shutdownMs / 1000} s for events already received…`);
      const { drained, abandoned } = await subscriber.shutdown(shutdown.remaining(shutdownMs));
      if (!drained) status.warn(`${formatNumber(abandoned)} event(s) were still being handled and were abandoned.`);
      printSummary(out, json, subscriber.stats(), Date.now() - startedAt, subConn, { drained, abandoned });
    } finally {
      await published?.stop(shutdown.remaining(shutdownMs)); // the last statistics, with the final counts
      await Promise.all([pubConn?.close(), subConn.close()]);
    }
    if (fatal) throw fatal;
    return ExitCode.Ok;
  });
}

/**
 * `--publish-stats` and `--stats-channel`: undefined when turned off.
 *
 * @param everyMs `--publish-stats` in ms (undefined: the default)
 * @param channel `--stats-channel`
 * @returns the publisher's channel and interval
 * @throws {UsageError} for an empty channel, one given with statistics turned off, or an interval under 100 ms
 */
function parsePublishStats(
  everyMs: number | undefined,
  channel: string | undefined,
): Pick<ProcessorStatsOptions, "channel" | "everyMs"> | undefined {
  if (channel !== undefined && channel.trim() === "") throw new UsageError("--stats-channel must not be empty");
  if (everyMs === 0) {
    if (channel !== undefined) throw new UsageError("--stats-channel goes with statistics on: drop --publish-stats 0");
    return undefined;
  }
  if (everyMs !== undefined && everyMs < 100) throw new UsageError("--publish-stats must be 0 or at least 100ms");
  return { everyMs: everyMs ?? DEFAULT_PUBLISH_STATS_MS, channel: channel ?? DEFAULT_STATS_CHANNEL };
}

function shortId(id: string | undefined): string {
  return id ? id.slice(0, 8) : "(no id)";
}

function describeResult(result: CreatedEvent): string {
  const r = result.result as Record<string, unknown>;
  if (result.event_type === "key_processed") {
    const token = r.token_name === null ? "no token" : `token "${escapeControl(String(r.token_name))}"`;
    return `${r.valid ? "valid" : `invalid (${r.reason})`}, ${r.length} chars, ${token}`;
  }
  const fields = (r.fields as string[]).length ? ` (fields: ${escapeControl((r.fields as string[]).join(", "))})` : "";
  return `${r.action} profile ${escapeControl(String(r.profile_id))}${fields}`;
}

function printProcessed(out: Printer, json: boolean): (p: ProcessedEvent) => void {
  return (p) => {
    if (json) {
      out.event("processed", {
        channel: p.topic,
        event_type: p.original.event_type,
        id: p.original.id ?? null,
        result_type: p.result.event_type,
        result_id: p.result.id,
        result: p.result.result,
        receivers: p.receivers,
      });
      return;
    }
    const receivers = `${p.receivers} receiver${p.receivers === 1 ? "" : "s"}`;
    out.line(
      `${out.dim(clock())} ${out.cyan(p.topic)} ${escapeControl(p.original.event_type)} ${
        out.dim(shortId(p.original.id))
      } → ${p.result.event_type}: ${describeResult(p.result)} ${out.dim(`(${receivers})`)}`,
    );
  };
}

function printStats(out: Printer, json: boolean, subscriber: EventSubscriber): void {
  const topics = subscriber.stats();
  if (json) {
    out.event("stats", {
      in_flight: subscriber.inFlight,
      queued: subscriber.queued,
      topics,
    });
    return;
  }
  out.line(`${out.dim(clock())} statistics (${subscriber.inFlight} in flight, ${subscriber.queued} waiting):`);
  for (const line of formatStatsTable(topics)) out.line(line);
}

function printSummary(
  out: Printer,
  json: boolean,
  topics: TopicStatsSnapshot[],
  elapsedMs: number,
  conn: Pick<SubscriberConnection, "outageJson" | "outageSummary">,
  drain: { drained: boolean; abandoned: number },
): void {
  const processed = topics.reduce((n, t) => n + t.processed, 0);
  if (json) {
    out.event("summary", {
      seconds: toSeconds(elapsedMs),
      processed,
      topics,
      drained: drain.drained,
      abandoned: drain.abandoned,
      ...conn.outageJson(),
    });
    return;
  }
  out.line(`Processed ${formatNumber(processed)} event(s) in ${(elapsedMs / 1000).toFixed(1)} s.`);
  for (const line of formatStatsTable(topics)) out.line(line);
  const outages = conn.outageSummary("events published then were not received.");
  if (outages) out.line(outages);
}

if (import.meta.main) Deno.exit(await main(Deno.args));
