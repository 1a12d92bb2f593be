/**
 * `event_processor.ts --durable`: the event processor's handlers over
 * streams instead of pub/sub — `key_submission` and `profile_events` consumed
 * in a consumer group, each result appended to the `processing_results`
 * stream with the id of the entry it came from, statistics with pending,
 * claimed, retried, dead-lettered, damaged in transit and lag.
 *
 * @module
 */
import type { Redis } from "ioredis";
import { ClusterConnection } from "../cluster/cluster_connection.ts";
import { duringFailover } from "../cluster/failover_retry.ts";
import type { Target } from "../cluster/target.ts";
import { Connection } from "../core/client.ts";
import { ExitCode } from "../core/exit_codes.ts";
import { toSeconds } from "../core/json_event.ts";
import { clock, escapeControl, type Io, nullWriter, Printer, Reporter } from "../core/output.ts";
import type { Shutdown } from "../core/shutdown.ts";
import { formatNumber } from "../core/stats.ts";
import { delay } from "../core/timing.ts";
import type { CreatedEvent, EventEnvelope, EventInput } from "../events/envelope.ts";
import { TOPICS } from "../events/kinds.ts";
import { PROCESSOR_STEPS } from "../events/processing.ts";
import { ClusterReadLanes } from "./cluster_lanes.ts";
import { hostName, type ProcessorStatsOptions, ProcessorStatsPublisher } from "../events/processor_stats.ts";
import { type DeadLetter, type ReadLane, StreamConsumer, type StreamHandler } from "./consumer.ts";
import { deadLetterStream, groupStartId, type StartPosition } from "./entry.ts";
import type { TopicSchemas } from "./schema.ts";
import { formatStreamStatsTable, formatTransitNote, type StreamStatsSnapshot } from "./stats.ts";
import { StreamPublisher } from "./stream_publisher.ts";
import { reportGroupFigures } from "./group_figures.ts";
import type { Ops } from "../ops/ops.ts";

/** What the durable processor is told by its command line. */
export interface DurableProcessorOptions {
  /** The server, or the seeds of a cluster. */
  target: Target;
  /** The consumer group (`--group`, default `processors`). */
  group: string;
  /** This consumer's name (`--consumer`, default host and pid). */
  consumer: string;
  /** Where a new group starts (`--from`, default the start); an existing group keeps its position. */
  from: StartPosition;
  /** `--claim-after` in ms. */
  claimAfterMs: number;
  /** `--max-deliveries`. */
  maxDeliveries: number;
  /** `--concurrency`. */
  concurrency: number;
  /** `--results-maxlen`: about how many results `processing_results` keeps (0: all). */
  resultsMaxLen: number;
  /** `--stats-interval` in ms (0: only at exit). */
  statsEveryMs: number;
  /** `--shutdown-timeout` in ms. */
  shutdownMs: number;
  /** `--json`. */
  json: boolean;
  /** `--quiet`. */
  quiet: boolean;
  /** `--schema` files by topic. */
  schemas?: TopicSchemas;
  /** `--fail-key`: the handler throws for key submissions with this key (lab 6's poison event). */
  failKey?: string;
  /** How a result reads in the per-event line, as the pub/sub processor shows it. */
  describe: (result: CreatedEvent) => string;
  /** `--publish-stats` and `--stats-channel`: where and how often `processor_stats` go (undefined: off). */
  publishStats?: Pick<ProcessorStatsOptions, "channel" | "everyMs">;
  /** Its metrics (counts, handler times, the group's figures) and readiness (started once it consumes). */
  ops?: Pick<Ops, "metrics" | "readiness">;
}

/** One event the durable processor handled, for whoever shows progress. */
export interface DurablyProcessed {
  /** The stream it came from. */
  stream: string;
  /** Its entry id there. */
  entryId: string;
  /** How many times it has been delivered (more than 1 after a failure or a crash). */
  deliveries: number;
  /** The event. */
  event: EventEnvelope;
  /** The result appended. */
  result: CreatedEvent;
  /** The result's entry id in `processing_results`. */
  resultId: string;
}

/**
 * The durable processor's handlers: `key_submission` and `profile_events`,
 * each appending its result — with `source_stream` and `source_entry_id` —
 * to the `processing_results` stream.
 *
 * @param results appends the results
 * @param options `failKey` makes the handler throw for that key (lab 6's poison event); `onProcessed` after each result
 * @returns handlers by stream, for a {@linkcode StreamConsumer}
 */
export function durableProcessorHandlers(
  results: StreamPublisher,
  options: { failKey?: string; onProcessed?: (p: DurablyProcessed) => void } = {},
): Record<string, StreamHandler> {
  const { failKey, onProcessed } = options;
  const handler =
    (stream: string, step: (event: EventEnvelope) => EventInput): StreamHandler =>
    async (event, { entryId, deliveries }) => {
      if (failKey !== undefined && event.key_value === failKey) {
        throw new Error(`the key "${escapeControl(failKey)}" is the --fail-key: this handler always fails on it`);
      }
      const result = results.prepare(TOPICS.processingResults, {
        ...step(event),
        source_stream: stream,
        source_entry_id: entryId,
      });
      const resultId = await results.appendPrepared(TOPICS.processingResults, result);
      onProcessed?.({ stream, entryId, deliveries, event, result, resultId });
    };
  return Object.fromEntries(Object.entries(PROCESSOR_STEPS).map(([stream, step]) => [stream, handler(stream, step)]));
}

/** The default consumer group of the durable processor. */
export const DEFAULT_GROUP = "processors";

/**
 * The default consumer name: this host and process id, so that two
 * processors started alike never share a name (which would mix their
 * pending entries).
 *
 * @returns e.g. `myhost-12345`
 * @example
 * ```ts
 * import { defaultConsumerName } from "./durable_processor.ts";
 * console.assert(defaultConsumerName().endsWith(`-${Deno.pid}`));
 * ```
 */
export function defaultConsumerName(): string {
  // Without --allow-sys the host is "host": the pid alone still tells processes apart on one machine.
  return `${hostName()}-${Deno.pid}`;
}

/**
 * Runs the durable processor until the shutdown is requested.
 *
 * @param o the parsed options
 * @param io output streams
 * @param shutdown the stop request
 * @returns the exit code
 */
export async function runDurableProcessor(o: DurableProcessorOptions, io: Io, shutdown: Shutdown): Promise<number> {
  const out = new Printer(io.stdout);
  const status = new Reporter(io.stderr);
  const conns = await openDurable(o.target, status);
  const startedAt = Date.now();
  let published: ProcessorStatsPublisher | undefined;
  try {
    const results = new StreamPublisher(conns.commands, {
      source: "event_processor",
      ...(o.target.cluster ? { duringFailover: true } : {}),
      ...(o.resultsMaxLen > 0 ? { retention: { maxLen: o.resultsMaxLen } } : {}),
    });
    const handlers = durableProcessorHandlers(results, {
      ...(o.failKey !== undefined ? { failKey: o.failKey } : {}),
      ...(o.quiet ? {} : { onProcessed: (p: DurablyProcessed) => printProcessed(out, o, p) }),
    });
    const consumer = new StreamConsumer(conns.readers, conns.commands, {
      group: o.group,
      consumer: o.consumer,
      streams: handlers,
      from: o.from,
      concurrency: o.concurrency,
      claimAfterMs: o.claimAfterMs,
      maxDeliveries: o.maxDeliveries,
      ...(o.schemas ? { schemas: o.schemas } : {}),
      reporter: status,
      ...(o.ops ? { metrics: o.ops.metrics } : {}),
      onDeadLetter: (d) => o.json && printDeadLetter(out, d),
      ...(o.target.cluster ? { retryAck: duringFailover } : {}),
    });
    const created = await consumer.start();
    const nodes = conns.nodes();
    for (const stream of Object.keys(PROCESSOR_STEPS)) {
      const isNew = created.includes(stream);
      const node = nodes[stream];
      if (o.json) out.event("group", { channel: stream, group: o.group, created: isNew, ...(node ? { node } : {}) });
      else {
        const how = isNew ? `created, reading from ${describeStart(o.from)}` : "exists: it goes on where it was";
        const where = node ? ` on ${node}` : "";
        out.line(`${out.green("✓")} group ${out.bold(o.group)} on stream ${out.bold(stream)}${where} (${how})`);
      }
    }
    if (o.publishStats) {
      const load = () => ({ topics: consumer.stats(), inFlight: consumer.inFlight, queued: consumer.queued });
      published = new ProcessorStatsPublisher(conns.commands, load, {
        ...o.publishStats,
        mode: "durable",
        group: o.group,
        consumer: o.consumer,
        startedAt,
        reporter: status,
      });
    }
    status.info(
      `Processing events from streams ${Object.keys(PROCESSOR_STEPS).join(" and ")} on ${conns.address} as ` +
        `consumer ${o.consumer} of group ${o.group}, up to ${formatNumber(o.concurrency)} at a time; results go to ` +
        `the stream ${TOPICS.processingResults}${published ? `; ${published.description}` : ""}. Press Ctrl+C to stop.`,
    );
    published?.start();
    o.ops?.readiness.started();
    const figures = o.ops
      ? reportGroupFigures(consumer, conns.commands, o.group, o.ops.metrics, shutdown.signal)
      : undefined;
    const stats = o.statsEveryMs > 0 ? statsLoop(out, o, consumer, shutdown.signal) : Promise.resolve();
    await shutdown.requested;
    await Promise.all([stats, figures]);
    status.info(`Stopping: waiting up to ${o.shutdownMs / 1000} s for the events already taken…`);
    const { drained, abandoned, removed } = await consumer.shutdown(shutdown.remaining(o.shutdownMs));
    if (!drained) {
      status.warn(
        `${formatNumber(abandoned)} event(s) were still being handled: they stay pending and are handled again ` +
          `(by this consumer name when it restarts, or by another consumer after --claim-after).`,
      );
    }
    const topics = await withinMs(consumer.serverStats(), shutdown.remaining(o.shutdownMs), consumer.stats());
    printSummary(out, o, topics, Date.now() - startedAt, conns, { drained, abandoned, removed });
  } finally {
    await published?.stop(shutdown.remaining(o.shutdownMs)); // the last statistics, with the final counts
    await conns.close();
  }
  return ExitCode.Ok;
}

/** The durable processor's connections: one server's, or a cluster's. */
interface DurableConnections {
  address: string;
  /** XACK, XAUTOCLAIM, results: one connection, or the cluster (routed by slot). */
  commands: Redis;
  /** The blocking reads: one connection, or a lane per slot on a cluster. */
  readers: Redis | ReadLane[];
  /** The node each stream is read from (on a cluster). */
  nodes(): Record<string, string>;
  /** The summary's outage fields. */
  outageJson(): Record<string, number>;
  outageSummary(cost: string): string | undefined;
  close(): Promise<void>;
}

const NOTHING_LOST = "Nothing is lost: events wait in their streams and are read when it is back.";

/** Opens the processor's connections: a chosen-once branch, so one server's path stays as it was. */
async function openDurable(target: Target, status: Reporter): Promise<DurableConnections> {
  if (target.cluster) return await openDurableCluster(target.urls, status);
  const reader = await Connection.open({ url: target.url, reporter: status, lossNote: NOTHING_LOST });
  let commands: Connection;
  try {
    // Acknowledgements and results wait in the offline queue during an outage instead of failing. An outage of the
    // server is the reader's too, said once (with what it costs) by the reader's connection: this one keeps quiet.
    const quiet = new Reporter(nullWriter);
    commands = await Connection.open({ url: target.url, reporter: quiet, offlineQueue: true, autoPipelining: true });
  } catch (err) {
    await reader.close();
    throw err;
  }
  return {
    address: reader.address,
    commands: commands.redis,
    readers: reader.redis,
    nodes: () => ({}),
    outageJson: () => ({ outages: reader.outages, disconnected_seconds: toSeconds(reader.downMs) }),
    outageSummary: (cost) => reader.outageSummary(cost),
    close: async () => {
      await Promise.all([commands.close(), reader.close()]);
    },
  };
}

async function openDurableCluster(urls: string[], status: Reporter): Promise<DurableConnections> {
  const cluster = await ClusterConnection.open({
    urls,
    reporter: status,
    offlineQueue: true,
    autoPipelining: true,
    lossNote: "Nothing is lost: events wait in their streams (on the master's replica) and are read again when " +
      "their slots are served.",
  });
  let lanes: ClusterReadLanes;
  try {
    lanes = await ClusterReadLanes.open(cluster, Object.keys(PROCESSOR_STEPS), status);
  } catch (err) {
    await cluster.close();
    throw err;
  }
  return {
    address: cluster.address,
    // The cluster routes each single-key command by its slot; its command methods are those of one connection.
    commands: cluster.cluster as unknown as Redis,
    readers: lanes.lanes,
    nodes: () => lanes.nodes,
    outageJson: () => ({
      outages: cluster.outages,
      disconnected_seconds: toSeconds(lanes.downMs),
      slot_map_changes: cluster.topologyChanges,
      reads_moved: lanes.moves,
    }),
    outageSummary: (cost) => cluster.outageSummary(cost),
    close: async () => {
      await lanes.close();
      await cluster.close();
    },
  };
}

function describeStart(from: StartPosition): string {
  const id = groupStartId(from);
  if (from.kind === "new") return "new events on";
  if (from.kind === "start") return "the start";
  if (from.kind === "time") return `${new Date(from.ms).toISOString()} (after ${id})`;
  return `after ${id}`;
}

async function withinMs<T>(work: Promise<T>, ms: number, fallback: T): Promise<T> {
  const timer = new AbortController();
  try {
    return await Promise.race([work, delay(ms, timer.signal).then(() => fallback)]);
  } finally {
    timer.abort();
  }
}

function printProcessed(out: Printer, o: DurableProcessorOptions, p: DurablyProcessed): void {
  if (o.json) {
    out.event("processed", {
      channel: p.stream,
      entry_id: p.entryId,
      attempt: p.deliveries,
      event_type: p.event.event_type,
      id: p.event.id ?? null,
      result_type: p.result.event_type,
      result_id: p.result.id,
      result_entry_id: p.resultId,
      result: p.result.result,
    });
    return;
  }
  const again = p.deliveries > 1 ? ` ${out.yellow(`(delivery ${p.deliveries})`)}` : "";
  out.line(
    `${out.dim(clock())} ${out.cyan(p.stream)} ${p.entryId} ${escapeControl(p.event.event_type)} ` +
      `${out.dim(p.event.id ? p.event.id.slice(0, 8) : "(no id)")} → ${p.result.event_type}: ` +
      `${o.describe(p.result)} ${out.dim(`(result ${p.resultId})`)}${again}`,
  );
}

function printDeadLetter(out: Printer, d: DeadLetter): void {
  out.event("dead_letter", {
    channel: d.stream,
    entry_id: d.originalId,
    dead_stream: deadLetterStream(d.stream),
    dead_entry_id: d.deadId,
    attempts: d.attempts,
    reason: d.reason,
  });
}

async function statsLoop(out: Printer, o: DurableProcessorOptions, consumer: StreamConsumer, stop: AbortSignal) {
  while (!stop.aborted) {
    await delay(o.statsEveryMs, stop);
    if (stop.aborted) return;
    const topics = await consumer.serverStats(stop);
    if (stop.aborted) return;
    if (o.json) {
      out.event("stats", {
        in_flight: consumer.inFlight,
        queued: consumer.queued,
        topics,
      });
      continue;
    }
    out.line(`${out.dim(clock())} statistics (${consumer.inFlight} in flight, ${consumer.queued} waiting):`);
    for (const line of formatStreamStatsTable(topics)) out.line(line);
    const transit = formatTransitNote(topics);
    if (transit) out.line(transit);
  }
}

function printSummary(
  out: Printer,
  o: DurableProcessorOptions,
  topics: StreamStatsSnapshot[],
  elapsedMs: number,
  conn: DurableConnections,
  end: { drained: boolean; abandoned: number; removed: boolean | null },
): void {
  const processed = topics.reduce((n, t) => n + t.processed, 0);
  if (o.json) {
    out.event("summary", {
      seconds: toSeconds(elapsedMs),
      processed,
      group: o.group,
      consumer: o.consumer,
      topics,
      drained: end.drained,
      abandoned: end.abandoned,
      consumer_removed: end.removed,
      ...conn.outageJson(),
    });
    return;
  }
  out.line(
    `Processed ${formatNumber(processed)} event(s) in ${(elapsedMs / 1000).toFixed(1)} s as consumer ` +
      `${o.consumer} of group ${o.group}.`,
  );
  for (const line of formatStreamStatsTable(topics)) out.line(line);
  const transit = formatTransitNote(topics);
  if (transit) out.line(transit);
  if (end.removed) out.line(`Consumer ${o.consumer} had nothing pending and left the group.`);
  else if (end.removed === null) {
    out.line(
      `Consumer ${o.consumer} could not check its pending entries on ${conn.address}: it stays in the group; ` +
        `start it again with --consumer ${o.consumer} to finish any, or another consumer claims them after ` +
        `--claim-after.`,
    );
  } else {
    out.line(
      `Consumer ${o.consumer} still has pending entries: it stays in the group; start it again with ` +
        `--consumer ${o.consumer} to finish them, or another consumer claims them after --claim-after.`,
    );
  }
  const outages = conn.outageSummary("events published meanwhile waited in their streams.");
  if (outages) out.line(outages);
}
