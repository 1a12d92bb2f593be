/**
 * Statistics of event handling per topic: how many events were received,
 * processed, failed or malformed, and how long the handler took (p50/p99
 * over the most recent events).
 *
 * @module
 */
import { formatNumber, percentile } from "../core/stats.ts";
import { roundMs } from "../core/latency.ts";
import type { ServiceMetrics } from "../ops/service_metrics.ts";

/** How many recent handler durations each topic keeps for its percentiles. */
export const DURATION_SAMPLES = 1024;

/** Past the first {@linkcode DURATION_SAMPLES} events, one in this many is timed. */
export const TIMED_ONE_IN = 8;

/** One topic's figures at one moment. */
export interface TopicStatsSnapshot {
  /** The topic (channel) or pattern the handler is registered for. */
  topic: string;
  /** Messages that arrived. */
  received: number;
  /** Events whose handler finished without throwing. */
  processed: number;
  /** Events whose handler threw. */
  failed: number;
  /** Messages that were not valid events (or that the handler rejected as malformed); the handler did not run. */
  malformed: number;
  /** Events dropped because the queue was full. */
  dropped: number;
  /** Handler time, median over the recent events, in ms (null before any). */
  p50_ms: number | null;
  /** Handler time, 99th percentile over the recent events, in ms (null before any). */
  p99_ms: number | null;
}

/**
 * The running counts for one topic.
 *
 * @example
 * ```ts
 * import { TopicStats } from "./stats.ts";
 * import assert from "node:assert/strict";
 * const stats = new TopicStats("orders");
 * stats.received++;
 * stats.recordDone(2.5, true);
 * assert.equal(stats.snapshot().processed, 1);
 * assert.equal(stats.snapshot().p50_ms, 2.5);
 * ```
 */
export class TopicStats {
  /** Messages that arrived. */
  received = 0;
  /** Handlers that finished. */
  processed = 0;
  /** Handlers that threw. */
  failed = 0;
  /** Messages that were not valid events. */
  malformed = 0;
  /** Events dropped because the queue was full. */
  dropped = 0;
  readonly #durations = new Float64Array(DURATION_SAMPLES);
  #samples = 0;
  readonly #metrics: ServiceMetrics | undefined;

  /**
   * Creates a TopicStats.
   *
   * @param topic the topic or pattern
   * @param metrics where its counts are reported at each scrape, and each handler time measured (see
   *   {@linkcode timeNext}: every one of the first, then a sample) is observed
   */
  constructor(readonly topic: string, metrics?: ServiceMetrics) {
    this.#metrics = metrics;
    if (!metrics) return;
    metrics.received.follow(topic, () => this.received);
    metrics.handled.follow(topic, () => this.processed);
    metrics.failed.follow(topic, () => this.failed);
    metrics.malformed.follow(topic, () => this.malformed);
    metrics.dropped.follow(topic, () => this.dropped);
  }

  /**
   * Records one finished handler run.
   *
   * @param ms how long it took, or undefined when it was not timed (see {@linkcode timeNext})
   * @param ok whether it finished without throwing
   */
  recordDone(ms: number | undefined, ok: boolean): void {
    if (ok) this.processed++;
    else this.failed++;
    if (ms === undefined) return;
    this.#metrics?.handlerSeconds.observe(this.topic, ms / 1000);
    this.#durations[this.#samples % DURATION_SAMPLES] = ms;
    this.#samples++;
  }

  /**
   * Whether the next event's duration is worth timing: each of the first
   * {@linkcode DURATION_SAMPLES}, then one in {@linkcode TIMED_ONE_IN} (the
   * percentiles come from the last {@linkcode DURATION_SAMPLES} samples
   * anyway; two clock reads per event were a tenth of a fast handler's cost).
   *
   * @returns true when the caller should time this event and pass its duration to {@linkcode recordDone}
   */
  timeNext(): boolean {
    return this.#samples < DURATION_SAMPLES || (this.processed + this.failed) % TIMED_ONE_IN === 0;
  }

  /** The figures now. */
  snapshot(): TopicStatsSnapshot {
    const durations = Array.from(this.#durations.subarray(0, Math.min(this.#samples, DURATION_SAMPLES)));
    const round = (n: number) => Number.isNaN(n) ? null : roundMs(n);
    return {
      topic: this.topic,
      received: this.received,
      processed: this.processed,
      failed: this.failed,
      malformed: this.malformed,
      dropped: this.dropped,
      p50_ms: round(percentile(durations, 50)),
      p99_ms: round(percentile(durations, 99)),
    };
  }
}

/** A column {@linkcode formatStatsTable} adds after `dropped`: its header and how a snapshot shows in it. */
export type ExtraColumn<T> = readonly [header: string, cell: (snapshot: T) => string];

/**
 * Lays out snapshots as an aligned text table, one line per topic.
 *
 * @param snapshots the figures
 * @param extra more columns, shown after `dropped` (the streams consumer adds its own counts)
 * @returns the lines, header first
 * @example
 * ```ts
 * import { formatStatsTable, TopicStats } from "./stats.ts";
 * import assert from "node:assert/strict";
 * const lines = formatStatsTable([new TopicStats("orders").snapshot()]);
 * assert.equal(lines.length, 2);
 * assert.ok(lines[1]!.startsWith("  orders"));
 * ```
 */
export function formatStatsTable<T extends TopicStatsSnapshot>(
  snapshots: readonly T[],
  extra: readonly ExtraColumn<T>[] = [],
): string[] {
  const ms = (n: number | null) => n === null ? "-" : n < 10 ? n.toFixed(2) : formatNumber(n, 1);
  const rows = [
    ["topic", "received", "processed", "failed", "malformed", "dropped", ...extra.map(([h]) => h), "p50 ms", "p99 ms"],
    ...snapshots.map((s) => [
      s.topic,
      formatNumber(s.received),
      formatNumber(s.processed),
      formatNumber(s.failed),
      formatNumber(s.malformed),
      formatNumber(s.dropped),
      ...extra.map(([, cell]) => cell(s)),
      ms(s.p50_ms),
      ms(s.p99_ms),
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) =>
    "  " + r.map((cell, i) => i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!)).join("  ")
  );
}
