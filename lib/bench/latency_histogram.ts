/**
 * One-way latencies in an HDR histogram (`npm:hdr-histogram-js`, plain
 * JavaScript, no WebAssembly): microseconds from 1 µs to an hour at three
 * significant digits, so percentiles are within 0.1 % whatever the count.
 *
 * @module
 */
import * as hdr from "hdr-histogram-js";

/** Latency percentiles in milliseconds. */
export interface LatencySummary {
  /** How many latencies were recorded. */
  count: number;
  /** Median. */
  p50: number;
  /** 90th percentile. */
  p90: number;
  /** 99th percentile. */
  p99: number;
  /** 99.9th percentile. */
  p999: number;
  /** The largest. */
  max: number;
}

const HOUR_US = 3_600_000_000;

/**
 * A latency histogram in microseconds.
 *
 * @example
 * ```ts
 * import { LatencyHistogram } from "./latency_histogram.ts";
 * import assert from "node:assert/strict";
 * const h = new LatencyHistogram();
 * for (let us = 1; us <= 1000; us++) h.record(us);
 * const s = h.summary();
 * assert.equal(s.count, 1000, JSON.stringify(s));
 * assert.equal(s.p50, 0.5, JSON.stringify(s));
 * assert.equal(s.max, 1, JSON.stringify(s));
 * ```
 */
export class LatencyHistogram {
  #h = hdr.build({
    bitBucketSize: 64,
    useWebAssembly: false,
    autoResize: false,
    lowestDiscernibleValue: 1,
    highestTrackableValue: HOUR_US,
    numberOfSignificantValueDigits: 3,
  });

  /**
   * Records one latency (clamped to 1 µs … 1 h: a clock cannot run backwards here, but rounding can).
   *
   * @param us the latency in microseconds
   */
  record(us: number): void {
    const v = Math.min(HOUR_US, Math.max(1, Math.round(us)));
    // Messages of one batch read from one piece of a socket have the same latency: counted as a run, recorded once.
    if (v === this.#runValue) this.#runCount++;
    else {
      this.#flush();
      [this.#runValue, this.#runCount] = [v, 1];
    }
  }

  #runValue = 0;
  #runCount = 0;

  #flush(): void {
    if (this.#runCount > 0) this.#h.recordValueWithCount(this.#runValue, this.#runCount);
    this.#runCount = 0;
  }

  /**
   * The histogram as text (HdrHistogram's compressed base64), to send from the worker that recorded it.
   *
   * @returns the text
   */
  encode(): string {
    this.#flush();
    return hdr.encodeIntoCompressedBase64(this.#h);
  }

  /**
   * Adds another histogram's latencies, as {@linkcode LatencyHistogram.encode} gave them.
   *
   * @param text the other histogram, encoded
   * @example
   * ```ts
   * import { LatencyHistogram } from "./latency_histogram.ts";
   * import assert from "node:assert/strict";
   * const [a, b] = [new LatencyHistogram(), new LatencyHistogram()];
   * a.record(100);
   * b.record(300);
   * a.addEncoded(b.encode());
   * assert.equal(a.count, 2);
   * assert.equal(a.summary().max, 0.3);
   * ```
   */
  addEncoded(text: string): void {
    this.#flush();
    this.#h.add(hdr.decodeFromCompressedBase64(text, 64, false));
  }

  /** How many latencies were recorded. */
  get count(): number {
    this.#flush();
    return this.#h.totalCount;
  }

  /**
   * The percentiles, in milliseconds rounded to the microsecond.
   *
   * @returns the summary (all 0 when nothing was recorded)
   */
  summary(): LatencySummary {
    this.#flush();
    // A percentile is the top of its bucket, which can be a little above the largest value recorded.
    const at = (p: number) =>
      this.#h.totalCount === 0 ? 0 : Math.min(this.#h.getValueAtPercentile(p), this.#h.maxValue) / 1000;
    return {
      count: this.#h.totalCount,
      p50: at(50),
      p90: at(90),
      p99: at(99),
      p999: at(99.9),
      max: this.#h.totalCount === 0 ? 0 : this.#h.maxValue / 1000,
    };
  }
}
