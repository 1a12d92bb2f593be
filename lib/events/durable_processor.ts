/**
 * `event_processor.ts --durable`: the event processor's handlers over
 * streams instead of pub/sub — `key_submission` and `profile_events` consumed
 * in a consumer group, each result appended to the `processing_results`
 * stream with the id of the entry it came from, statistics with pending,
 * claimed, retried, dead-lettered, damaged in transit and lag.
 *
 * @module
 */
import { ExitCode } from "../core/exit_codes.ts";
import { toSeconds } from "../core/json_event.ts";
import { clock, escapeControl, type Io, nullWriter, Printer, Reporter } from "../core/output.ts";
import type { Endpoint } from "../endpoint/endpoint.ts";
import type { Link, LinkOutageFields } from "../endpoint/link.ts";
import type { Shutdown } from "../core/shutdown.ts";
import { formatNumber } from "../core/stats.ts";
import { delay } from "../core/timing.ts";
import type { CreatedEvent, EventEnvelope, EventInput } from "./envelope.ts";
import { TOPICS } from "./kinds.ts";
import { PROCESSOR_STEPS } from "./processing.ts";
import { ReadLanes } from "./read_lanes.ts";
import { hostName, ProcessorStatsPublisher } from "./processor_stats.ts";
import { describeResult, type ProcessorRunOptions } from "./processor_output.ts";
import { type DeadLetter, StreamConsumer, type StreamHandler } from "./stream_consumer.ts";
import { deadLetterStream, groupStartId, type StartPosition } from "../streams/entry.ts";
import type { TopicSchemas } from "../streams/schema.ts";
import { formatStreamStatsTable, formatTransitNote, type StreamStatsSnapshot } from "./stream_stats.ts";
import { StreamPublisher } from "./stream_publisher.ts";
import { reportGroupFigures } from "./group_figures.ts";

/** What the durable processor is told by its command line. */
export interface DurableProcessorOptions extends ProcessorRunOptions {
  /** The server or cluster. */
  endpoint: Endpoint;
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
  /** `--results-maxlen`: about how many results `processing_results` keeps (0: all). */
  resultsMaxLen: number;
  /** `--schema` files by topic. */
  schemas?: TopicSchemas;
  /** `--fail-key`: the handler throws for key submissions with this key (lab 6's poison event). */
  failKey?: string;
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
 * import assert from "node:assert/strict";
 * assert.ok(defaultConsumerName().endsWith(`-${Deno.pid}`));
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
  const conns = await openDurable(o.endpoint, status);
  const startedAt = Date.now();
  let published: ProcessorStatsPublisher | undefined;
  try {
    const results = new StreamPublisher(conns.commands.redis, {
      source: "event_processor",
      retry: conns.commands.throughFailover,
      ...(o.resultsMaxLen > 0 ? { retention: { maxLen: o.resultsMaxLen } } : {}),
    });
    const handlers = durableProcessorHandlers(results, {
      ...(o.failKey !== undefined ? { failKey: o.failKey } : {}),
      ...(o.quiet ? {} : { onProcessed: (p: DurablyProcessed) => printProcessed(out, o, p) }),
    });
    const consumer = new StreamConsumer(conns.readers.lanes, conns.commands, {
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
    });
    const created = await consumer.start();
    const nodes = conns.readers.nodes;
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
      `Processing events from streams ${Object.keys(PROCESSOR_STEPS).join(" and ")} on ${conns.commands.address} as ` +
        `consumer ${o.consumer} of group ${o.group}, up to ${formatNumber(o.concurrency)} at a time; results go to ` +
        `the stream ${TOPICS.processingResults}${published ? `; ${published.description}` : ""}. Press Ctrl+C to stop.`,
    );
    published?.start();
    o.ops?.readiness.started();
    const figures = o.ops
      ? reportGroupFigures(consumer, conns.commands.redis, o.group, o.ops.metrics, shutdown.signal)
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

/** The durable processor's connections. */
interface DurableConnections {
  /** XACK, XAUTOCLAIM, results (on a cluster: routed by slot). */
  commands: Link;
  /** The blocking reads: a lane per node (one on one server). */
  readers: ReadLanes;
  /** The link the lanes read through. */
  reader: Link;
  /** The summary's outage fields. */
  outageJson(): LinkOutageFields & { reads_moved?: number };
  close(): Promise<void>;
}

/**
 * Opens the processor's links and read lanes. An outage of one server is said once (with what it costs) by the
 * reader's link, a cluster's lost node or moved slots by the commands' link: each keeps quiet about the other's.
 */
async function openDurable(endpoint: Endpoint, status: Reporter): Promise<DurableConnections> {
  const quiet = new Reporter(nullWriter);
  const reader = await endpoint.link({
    reporter: status,
    lossNote: "Nothing is lost: events wait in their streams and are read when it is back.",
    topology: { reporter: quiet },
  });
  let commands: Link | undefined;
  try {
    // Acknowledgements and results wait in the offline queue during an outage instead of failing.
    commands = await endpoint.link({
      reporter: quiet,
      offlineQueue: true,
      autoPipelining: true,
      topology: {
        reporter: status,
        lossNote: "Nothing is lost: events wait in their streams (on the master's replica) and are read again " +
          "when their slots are served.",
      },
    });
    const readers = await ReadLanes.open(reader, Object.keys(PROCESSOR_STEPS), status);
    const links = commands;
    return {
      commands: links,
      readers,
      reader,
      outageJson: () => ({
        ...links.outageJson(),
        ...(readers.spread ? { reads_moved: readers.moves } : {}),
      }),
      close: async () => {
        await readers.close();
        await Promise.all([links.close(), reader.close()]);
      },
    };
  } catch (err) {
    await Promise.all([commands?.close(), reader.close()]);
    throw err;
  }
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
      `${describeResult(p.result)} ${out.dim(`(result ${p.resultId})`)}${again}`,
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
      `Consumer ${o.consumer} could not check its pending entries on ${conn.commands.address}: it stays in the group; ` +
        `start it again with --consumer ${o.consumer} to finish any, or another consumer claims them after ` +
        `--claim-after.`,
    );
  } else {
    out.line(
      `Consumer ${o.consumer} still has pending entries: it stays in the group; start it again with ` +
        `--consumer ${o.consumer} to finish them, or another consumer claims them after --claim-after.`,
    );
  }
  const outages = conn.commands.outageSummary("events published meanwhile waited in their streams.");
  if (outages) out.line(outages);
}
