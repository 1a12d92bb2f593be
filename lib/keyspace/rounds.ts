/**
 * Lab 3's writer's rounds: each one printed as it finishes — its round trip,
 * a timeout, a refused or a skipped write — and the summary of them all.
 *
 * @module
 */
import { toSeconds } from "../core/json_event.ts";
import { formatLatency, formatMs, roundMs, summarizeLatency } from "../core/latency.ts";
import type { Printer } from "../core/output.ts";
import type { SeenHandshake } from "./handshake.ts";
import type { WriterOutages } from "./writer_side.ts";

/**
 * The writer's rounds so far, each printed as it finishes (a line, or a
 * `round` event with `--json`), and their summary.
 *
 * @example
 * ```ts
 * import { nullWriter, Printer } from "../core/output.ts";
 * import { Rounds } from "./rounds.ts";
 * import assert from "node:assert/strict";
 * const rounds = new Rounds(new Printer(nullWriter), true);
 * rounds.timedOut(1, "writer timestamp 1", 5000);
 * assert.equal(rounds.total, 1);
 * assert.equal(rounds.timeouts, 1);
 * ```
 */
export class Rounds {
  /** The round trips of the rounds that got their handshake, in ms. */
  readonly times: number[] = [];
  /** Rounds run. */
  total = 0;
  /** Rounds whose handshake did not come in time. */
  timeouts = 0;
  /** Rounds whose write the server refused. */
  failures = 0;
  /** Rounds whose write did not get through (the server unavailable). */
  skipped = 0;
  /** When the first round started, on `performance.now()`'s clock. */
  readonly startedAt: number = performance.now();

  /**
   * Creates a Rounds.
   *
   * @param out where the rounds are printed
   * @param json `--json`
   */
  constructor(private readonly out: Printer, private readonly json: boolean) {}

  /**
   * A round that got its handshake.
   *
   * @param n its number
   * @param value the value written
   * @param stamp the value's timestamp, in epoch µs; undefined when it has whole seconds only (no listener delay then)
   * @param sentAt when it was written, on `performance.now()`'s clock
   * @param seen the handshake
   */
  handshake(n: number, value: string, stamp: number | undefined, sentAt: number, seen: SeenHandshake): void {
    this.total++;
    const ms = seen.arrivedAt - sentAt;
    this.times.push(ms);
    const listenerDelay = seen.listenerMs === undefined || stamp === undefined
      ? undefined
      : seen.listenerMs - Math.floor(stamp / 1000);
    if (this.json) {
      this.out.event("round", {
        n,
        value,
        outcome: "handshake",
        round_trip_ms: roundMs(ms),
        ...(listenerDelay !== undefined ? { listener_delay_ms: listenerDelay } : {}),
      });
      return;
    }
    const woke = listenerDelay === undefined ? "" : this.out.dim(` (listener answered after ${listenerDelay} ms)`);
    this.out.line(`#${n} ${value} → handshake in ${this.out.green(formatMs(ms))}${woke}`);
  }

  /**
   * A round whose handshake did not come within `timeoutMs`.
   *
   * @param n its number
   * @param value the value written
   * @param timeoutMs how long it waited
   */
  timedOut(n: number, value: string, timeoutMs: number): void {
    this.total++;
    this.timeouts++;
    if (this.json) this.out.event("round", { n, value, outcome: "timeout" });
    else this.out.line(`#${n} ${value} → ${this.out.yellow(`no handshake within ${timeoutMs / 1000} s`)}`);
  }

  /**
   * A round whose write the server refused.
   *
   * @param n its number
   * @param value the value
   * @param reason the server's error
   */
  failed(n: number, value: string, reason: string): void {
    this.total++;
    this.failures++;
    if (this.json) this.out.event("round", { n, value, outcome: "write_error", error: reason });
    else this.out.line(`#${n} ${value} → ${this.out.red(`write failed: ${reason}`)}`);
  }

  /**
   * A round whose write did not get through: the connection is down or the server did not answer in time.
   *
   * @param n its number
   * @param value the value
   * @param reason why
   */
  unavailable(n: number, value: string, reason: string): void {
    this.total++;
    this.skipped++;
    if (this.json) this.out.event("round", { n, value, outcome: "skipped", error: reason });
    else this.out.line(`#${n} ${value} → ${this.out.yellow(`server unavailable, round skipped (${reason})`)}`);
  }

  /**
   * Prints the summary: min / p50 / p99 / max and the rounds that did not get their handshake.
   *
   * @param outages the outage fields of the JSON summary
   */
  summary(outages: WriterOutages): void {
    const s = summarizeLatency(this.times);
    if (this.json) {
      this.out.event("summary", {
        rounds: this.total,
        handshakes: s.count,
        timeouts: this.timeouts,
        write_errors: this.failures,
        skipped: this.skipped,
        min_ms: roundMs(s.min),
        p50_ms: roundMs(s.p50),
        p99_ms: roundMs(s.p99),
        max_ms: roundMs(s.max),
        seconds: toSeconds(performance.now() - this.startedAt),
        ...outages,
      });
      return;
    }
    const failed = (this.skipped ? `, ${this.skipped} skipped (server unavailable)` : "") +
      (this.failures ? `, ${this.failures} write(s) failed` : "");
    this.out.line(
      `${s.count} handshake(s) in ${this.total} round(s): ${formatLatency(s)} · ${this.timeouts} timed out${failed}.`,
    );
  }
}
