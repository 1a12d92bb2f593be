/**
 * How the benchmark moves messages: plain channels, a pattern, sharded
 * channels (SSUBSCRIBE / SPUBLISH, Redis 7+ and Valkey) or streams (XADD /
 * XREAD), and the names it uses, unique to one run.
 *
 * @module
 */

/** The ways `bench.ts` moves messages. */
export const BENCH_MODES = ["pubsub", "pattern", "sharded", "stream"] as const;

/** One of {@linkcode BENCH_MODES}. */
export type BenchMode = typeof BENCH_MODES[number];

/** Entries a stream keeps (XADD MAXLEN ~): a subscriber further behind than this loses the oldest. */
export const STREAM_MAXLEN = 1_000_000;

/**
 * The channel (or stream) names of one run: `bench:<run>:<i>`.
 *
 * @param run the run's unique tag
 * @param count how many
 * @returns the names
 * @example
 * ```ts
 * import { channelNames } from "./modes.ts";
 * import assert from "node:assert/strict";
 * assert.equal(channelNames("ab", 2).join(), "bench:ab:0,bench:ab:1");
 * ```
 */
export function channelNames(run: string, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `bench:${run}:${i}`);
}
