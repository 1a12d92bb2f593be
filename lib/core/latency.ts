/**
 * Round-trip times summed up: min, p50, p99 and max, and how to print them.
 *
 * @module
 */
import { percentile } from "./stats.ts";

/** The distribution of some round-trip times, in ms. */
export interface LatencySummary {
  /** How many times were measured. */
  count: number;
  /** The fastest. */
  min: number;
  /** The median (nearest rank). */
  p50: number;
  /** The 99th percentile (nearest rank). */
  p99: number;
  /** The slowest. */
  max: number;
}

/**
 * Sums up round-trip times.
 *
 * @param values times in ms (need not be sorted)
 * @returns count, min, p50, p99 and max (NaN for no values)
 * @example
 * ```ts
 * import { summarizeLatency } from "./latency.ts";
 * import assert from "node:assert/strict";
 * const s = summarizeLatency([3, 1, 2]);
 * assert.equal(s.min, 1);
 * assert.equal(s.p50, 2);
 * assert.equal(s.max, 3);
 * ```
 */
export function summarizeLatency(values: readonly number[]): LatencySummary {
  return {
    count: values.length,
    min: values.length ? Math.min(...values) : NaN,
    p50: percentile(values, 50),
    p99: percentile(values, 99),
    max: values.length ? Math.max(...values) : NaN,
  };
}

/**
 * A time in ms with two decimals below 10 ms, one below 100, none above.
 *
 * @param ms milliseconds
 * @returns e.g. `1.25 ms`
 * @example
 * ```ts
 * import { formatMs } from "./latency.ts";
 * import assert from "node:assert/strict";
 * assert.equal(formatMs(1.254), "1.25 ms");
 * assert.equal(formatMs(250.4), "250 ms");
 * ```
 */
export function formatMs(ms: number): string {
  if (Number.isNaN(ms)) return "–";
  return `${ms.toFixed(ms < 10 ? 2 : ms < 100 ? 1 : 0)} ms`;
}

/**
 * A summary as one line: `min 1.02 ms · p50 1.20 ms · p99 2.85 ms · max 3.10 ms`.
 *
 * @param s the summary
 * @returns the line
 * @example
 * ```ts
 * import { formatLatency, summarizeLatency } from "./latency.ts";
 * import assert from "node:assert/strict";
 * assert.ok(formatLatency(summarizeLatency([1])).startsWith("min 1.00 ms"));
 * ```
 */
export function formatLatency(s: LatencySummary): string {
  return `min ${formatMs(s.min)} · p50 ${formatMs(s.p50)} · p99 ${formatMs(s.p99)} · max ${formatMs(s.max)}`;
}

/**
 * Rounds a time to microseconds for JSON output.
 *
 * @param ms milliseconds
 * @returns the value with at most three decimals
 * @example
 * ```ts
 * import { roundMs } from "./latency.ts";
 * import assert from "node:assert/strict";
 * assert.equal(roundMs(1.23456), 1.235);
 * ```
 */
export function roundMs(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
