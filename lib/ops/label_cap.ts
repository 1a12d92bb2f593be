/**
 * A bound on the distinct values of one metric label: a script told of
 * 10,000 channels must not make 10,000 time series per metric (each costs
 * the scraper memory, and a scrape that big times out). The first `max`
 * values are kept as they are; every later one is counted under
 * {@linkcode OTHER_LABEL}, and that is said once.
 *
 * @module
 */

/** The label value every value past the cap is counted under. */
export const OTHER_LABEL = "_other_";

/** How many distinct values a label keeps by default. */
export const DEFAULT_LABEL_CAP = 100;

/**
 * The values one label may take: the first `max` seen, then {@linkcode OTHER_LABEL}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LabelCap, OTHER_LABEL } from "./label_cap.ts";
 * const said: string[] = [];
 * const cap = new LabelCap("channel", 2, (text) => said.push(text));
 * assert.deepEqual(["a", "b", "c", "a", "d"].map((v) => cap.label(v)), ["a", "b", OTHER_LABEL, "a", OTHER_LABEL]);
 * assert.equal(said.length, 1);
 * ```
 */
export class LabelCap {
  readonly #kept = new Set<string>();
  #overflowed = false;

  /**
   * Creates a LabelCap.
   *
   * @param name the label's name, for the line said when the cap is reached
   * @param max how many distinct values are kept
   * @param warn where that line goes, once
   * @throws {RangeError} when `max` is not a positive whole number
   */
  constructor(readonly name: string, readonly max: number, private readonly warn?: (text: string) => void) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`A label cap must be a positive whole number: ${max}`);
  }

  /** Whether some value has been counted under {@linkcode OTHER_LABEL}. */
  get overflowed(): boolean {
    return this.#overflowed;
  }

  /**
   * The label value to count `value` under.
   *
   * @param value the value (a channel, a topic, a stream)
   * @returns `value`, or {@linkcode OTHER_LABEL} once `max` other values were seen
   */
  label(value: string): string {
    if (this.#kept.has(value)) return value;
    if (this.#kept.size < this.max) {
      this.#kept.add(value);
      return value;
    }
    if (!this.#overflowed) {
      this.#overflowed = true;
      this.warn?.(
        `Metrics: more than ${this.max} distinct "${this.name}" values; the others are counted under ` +
          `${this.name}="${OTHER_LABEL}" (said once).`,
      );
    }
    return OTHER_LABEL;
  }
}
