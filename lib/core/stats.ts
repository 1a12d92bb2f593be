/**
 * Counting and rates: messages per channel, throughput, percentiles.
 *
 * @module
 */

/**
 * Counts messages per name (channel, topic, key) and when they flowed.
 *
 * @example
 * ```ts
 * import { MessageCounter } from "./stats.ts";
 * import assert from "node:assert/strict";
 * const c = new MessageCounter();
 * c.record("chat", 1000);
 * c.record("chat", 2000);
 * assert.equal(c.total, 2);
 * assert.equal(c.flowingMs, 1000);
 * ```
 */
export class MessageCounter {
  /** Messages counted. */
  total = 0;
  /** When the first one came, in epoch ms. */
  firstAt: number | undefined;
  /** When the last one came, in epoch ms. */
  lastAt: number | undefined;
  readonly #byName = new Map<string, number>();
  /** The name counted last and how many of it are not in #byName yet: a flood on one channel costs no Map per message. */
  #lastName: string | undefined;
  #unsaved = 0;

  /** Count by name, in the order names were first seen. */
  get byName(): Map<string, number> {
    this.#save();
    return this.#byName;
  }

  #save(): void {
    if (this.#unsaved === 0) return;
    const name = this.#lastName!;
    this.#byName.set(name, (this.#byName.get(name) ?? 0) + this.#unsaved);
    this.#unsaved = 0;
  }

  /** Counts one message for `name` at time `at` (epoch ms). */
  record(name: string, at: number = Date.now()): void {
    this.recordMany(name, 1, at);
  }

  /** Counts `count` messages for `name`, all at time `at` (epoch ms): a batch, e.g. one a publisher confirmed. */
  recordMany(name: string, count: number, at: number = Date.now()): void {
    if (count <= 0) return;
    this.total += count;
    this.firstAt ??= at;
    this.lastAt = at;
    if (name !== this.#lastName) {
      this.#save();
      this.#lastName = name;
      if (!this.#byName.has(name)) this.#byName.set(name, 0); // keeps the order names were first seen
    }
    this.#unsaved += count;
  }

  /** Milliseconds from the first message to the last (0 before the second), for `flowRate` in json_event.ts. */
  get flowingMs(): number {
    return this.firstAt === undefined ? 0 : this.lastAt! - this.firstAt;
  }
}

/**
 * The `p`-th percentile (0–100) of some numbers, by nearest rank.
 *
 * @param values the numbers (need not be sorted)
 * @param p the percentile, 0 to 100
 * @returns the value at that rank, or NaN for no values
 * @example
 * ```ts
 * import { percentile } from "./stats.ts";
 * import assert from "node:assert/strict";
 * assert.equal(percentile([3, 1, 2, 4], 50), 2);
 * ```
 */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1]!;
}

/**
 * A number with thousands separators and at most `digits` decimals.
 *
 * @param n the number
 * @param digits decimals to keep
 * @returns e.g. `12,345.6`
 * @example
 * ```ts
 * import { formatNumber } from "./stats.ts";
 * import assert from "node:assert/strict";
 * assert.equal(formatNumber(12345.67, 1), "12,345.7");
 * ```
 */
export function formatNumber(n: number, digits = 0): string {
  // One formatter per number of decimals: toLocaleString with options makes a new one each call (in a profile of
  // kv_updater with --stats-interval 50ms, that was 1.5% of its CPU time).
  let format = FORMATS.get(digits);
  if (!format) FORMATS.set(digits, format = new Intl.NumberFormat("en-US", { maximumFractionDigits: digits }));
  return format.format(n);
}

/** The formatters of {@linkcode formatNumber}, by decimals. */
const FORMATS = new Map<number, Intl.NumberFormat>();
