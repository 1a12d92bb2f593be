/**
 * What one subscriber received: per publisher, which sequence numbers
 * (a growing bitmap), so lost, duplicated and out-of-order messages are
 * counted exactly. Order is per publisher and channel: publisher `p` sends
 * its message `seq` on channel `(p + seq) % channels`, and no server promises
 * an order across channels (a stream reader gets each stream's entries in
 * turn).
 *
 * @module
 */
import type { Stamp } from "./payload.ts";

/** The counts of one subscriber, against what each publisher confirmed it published. */
export interface TallyCounts {
  /** Messages received, duplicates included. */
  received: number;
  /** Distinct messages received. */
  unique: number;
  /** Messages published (confirmed by the server) that never arrived. */
  lost: number;
  /** Messages received more than once (every extra copy). */
  duplicates: number;
  /** Messages that arrived after a later one from the same publisher on the same channel. */
  reordered: number;
  /** Messages that were not benchmark stamps, or from no known publisher. */
  foreign: number;
}

/**
 * A {@linkcode Tally}'s figures as plain data, to send from the worker that counted them: the distinct messages
 * per publisher, so that what was lost is known once every publisher says what it published.
 */
export interface TallySnapshot {
  /** Messages received, duplicates included. */
  received: number;
  /** Distinct messages received, per publisher. */
  unique: number[];
  /** Extra copies. */
  duplicates: number;
  /** Out of order, per publisher and channel. */
  reordered: number;
  /** Not benchmark stamps. */
  foreign: number;
}

/**
 * A subscriber's counts against what each publisher confirmed it published.
 *
 * @param s what the subscriber counted
 * @param published confirmed messages per publisher
 * @returns the counts
 * @example
 * ```ts
 * import { countAgainst } from "./tally.ts";
 * import assert from "node:assert/strict";
 * const c = countAgainst({ received: 3, unique: [2, 1], duplicates: 0, reordered: 0, foreign: 0 }, [2, 3]);
 * assert.equal(c.lost, 2);
 * assert.equal(c.unique, 3);
 * ```
 */
export function countAgainst(s: TallySnapshot, published: readonly number[]): TallyCounts {
  const lost = published.reduce((sum, n, p) => sum + Math.max(0, n - (s.unique[p] ?? 0)), 0);
  return {
    received: s.received,
    unique: s.unique.reduce((a, b) => a + b, 0),
    lost,
    duplicates: s.duplicates,
    reordered: s.reordered,
    foreign: s.foreign,
  };
}

/**
 * Counts one subscriber's messages.
 *
 * @example
 * ```ts
 * import { Tally } from "./tally.ts";
 * import assert from "node:assert/strict";
 * const t = new Tally(1, 1);
 * for (const seq of [0, 2, 1, 1]) t.add({ publisher: 0, seq, sentUs: 0 });
 * const c = t.counts([4]);
 * assert.equal(c.unique, 3);
 * assert.equal(c.duplicates, 1);
 * assert.equal(c.reordered, 1);
 * assert.equal(c.lost, 1);
 * ```
 */
export class Tally {
  #seen: Uint8Array[];
  #unique: number[];
  #highest: number[];
  readonly #channels: number;
  #received = 0;
  #uniqueAll = 0;
  #duplicates = 0;
  #reordered = 0;
  #foreign = 0;

  /**
   * Creates a Tally.
   *
   * @param publishers how many publishers there are
   * @param channels how many channels they send on, round-robin
   */
  constructor(publishers: number, channels: number) {
    this.#channels = channels;
    this.#seen = Array.from({ length: publishers }, () => new Uint8Array(1024));
    this.#unique = new Array(publishers).fill(0);
    this.#highest = new Array(publishers * channels).fill(-1);
  }

  /** Messages received so far, duplicates included. */
  get received(): number {
    return this.#received;
  }

  /**
   * Counts one message.
   *
   * @param stamp what it carried
   * @returns whether it was one of ours (a known publisher)
   */
  add(stamp: Stamp): boolean {
    const { publisher: p, seq } = stamp;
    let bits = this.#seen[p];
    if (bits === undefined || seq < 0) {
      this.#foreign++;
      return false;
    }
    this.#received++;
    const byte = seq >> 3, bit = 1 << (seq & 7);
    if (byte >= bits.length) {
      const grown = new Uint8Array(Math.max(bits.length * 2, byte + 1));
      grown.set(bits);
      this.#seen[p] = bits = grown;
    }
    if (bits[byte]! & bit) {
      this.#duplicates++;
      return true;
    }
    bits[byte]! |= bit;
    this.#unique[p]!++;
    this.#uniqueAll++;
    const lane = p * this.#channels + ((p + seq) % this.#channels);
    if (seq < this.#highest[lane]!) this.#reordered++;
    else this.#highest[lane] = seq;
    return true;
  }

  /** Counts a message that was not a benchmark stamp. */
  addForeign(): void {
    this.#foreign++;
  }

  /**
   * The counts, against what each publisher published.
   *
   * @param published confirmed messages per publisher
   * @returns the counts
   */
  counts(published: readonly number[]): TallyCounts {
    return countAgainst(this.snapshot(), published);
  }

  /** Distinct messages received so far, from every publisher. */
  get unique(): number {
    return this.#uniqueAll;
  }

  /**
   * The figures as plain data.
   *
   * @returns a copy
   */
  snapshot(): TallySnapshot {
    return {
      received: this.#received,
      unique: [...this.#unique],
      duplicates: this.#duplicates,
      reordered: this.#reordered,
      foreign: this.#foreign,
    };
  }
}
