/**
 * One benchmark publisher: its own connection, sending stamped messages in
 * pipelines of 64 round-robin over the channels, either as fast as the
 * server confirms them (4 pipelines out at once) or paced to a rate against the clock (each
 * message's due time is `start + seq / rate`, so a late turn catches up
 * instead of drifting). On a cluster it has a connection per master and
 * each pipeline is split by the node that serves each channel (one pipeline
 * per node, sent together).
 *
 * @module
 */
import type { Connection } from "../core/client.ts";
import { delay } from "../core/timing.ts";
import { type BenchMode, STREAM_MAXLEN } from "./modes.ts";
import { encodeStamp } from "./payload.ts";

/** Messages per pipeline when sending as fast as possible (as `redis-benchmark -P 64`). */
export const PIPELINE = 64;

/** Pipelines a publisher has out at once when sending as fast as possible. */
export const IN_FLIGHT = 4;

/** When a publisher stops: whichever comes first. */
export interface PublishLimits {
  /** Messages to send. */
  quota: number;
  /** performance.now() after which no more are sent. */
  deadline: number;
  /** Stops sending (Ctrl+C). */
  signal: AbortSignal;
}

/** A publisher of the benchmark. */
export class BenchPublisher {
  /** Messages the server confirmed. */
  confirmed = 0;
  /** Messages the server refused or that failed (connection lost). */
  failed = 0;
  /** The first error, for the report. */
  error: string | undefined;
  /** When the first message was sent and the last one confirmed (performance.now() ms). */
  firstAt: number | undefined;
  /** When the last one was confirmed. */
  lastAt: number | undefined;

  /**
   * Creates a publisher.
   *
   * @param conns its connections: one, or one per cluster node it sends to
   * @param id its publisher id (0-based), carried in every payload
   * @param mode how messages travel
   * @param names the run's channels (or streams)
   * @param size payload bytes
   * @param rate messages per second, 0 for as fast as possible
   * @param route for each name, the index in `conns` of the connection that sends to it (default: all on the first)
   */
  constructor(
    readonly conns: Connection[],
    readonly id: number,
    private readonly mode: BenchMode,
    private readonly names: string[],
    private readonly size: number,
    private readonly rate: number,
    private readonly route?: readonly number[],
  ) {}

  /**
   * Publishes until the quota, the deadline or the signal.
   *
   * @param limits when to stop
   */
  async run(limits: PublishLimits): Promise<void> {
    if (this.rate > 0) return await this.#paced(limits);
    // As fast as possible: IN_FLIGHT pipelines out at once, each taking the next sequence numbers; one connection
    // writes them in the order they were made, so the server sees every publisher's messages in order.
    this.firstAt = performance.now();
    let next = 0;
    const { quota, deadline, signal } = limits;
    const worker = async () => {
      // Bounded: every turn takes at least one message of the quota.
      while (next < quota && !signal.aborted && performance.now() < deadline && this.error === undefined) {
        const from = next, count = Math.min(PIPELINE, quota - next);
        next += count;
        await this.#send(from, count);
        this.lastAt = performance.now();
      }
    };
    await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  }

  /** Paced: each message is due at `start + seq / rate`; a turn sends whatever is due (at most a pipeline). */
  async #paced(limits: PublishLimits): Promise<void> {
    const { quota, deadline, signal } = limits;
    const start = performance.now();
    let seq = 0;
    // Bounded: every turn sends at least one message (seq grows to quota) or waits for the next due time.
    while (seq < quota && !signal.aborted && performance.now() < deadline && this.error === undefined) {
      const due = Math.floor(((performance.now() - start) * this.rate) / 1000) + 1;
      const batch = Math.min(PIPELINE, quota - seq, due - seq);
      if (batch <= 0) {
        // A timer, not waitUntil (timing.ts): its last 2.5 ms sleep the thread, and the subscribers read on this one.
        await delay(start + (seq * 1000) / this.rate - performance.now(), signal);
        continue;
      }
      this.firstAt ??= performance.now();
      await this.#send(seq, batch);
      seq += batch;
      this.lastAt = performance.now();
    }
  }

  async #send(from: number, count: number): Promise<void> {
    const pipes = this.conns.map((c) => c.redis.pipeline());
    const sizes = new Array<number>(pipes.length).fill(0);
    for (let seq = from; seq < from + count; seq++) {
      const index = (this.id + seq) % this.names.length;
      const leg = this.route ? this.route[index]! : 0;
      const pipe = pipes[leg]!, name = this.names[index]!;
      sizes[leg]!++;
      const payload = encodeStamp(this.id, seq, this.size);
      if (this.mode === "stream") pipe.xadd(name, "MAXLEN", "~", STREAM_MAXLEN, "*", "p", payload);
      else if (this.mode === "sharded") pipe.spublish(name, payload);
      else pipe.publish(name, payload);
    }
    await Promise.all(pipes.map((pipe, leg) => sizes[leg]! > 0 ? this.#exec(pipe, sizes[leg]!) : undefined));
  }

  async #exec(pipe: ReturnType<Connection["redis"]["pipeline"]>, count: number): Promise<void> {
    let replies: [Error | null, unknown][] | null;
    try {
      replies = await pipe.exec();
    } catch (err) {
      this.failed += count;
      this.error ??= err instanceof Error ? err.message : String(err);
      return;
    }
    for (const [err] of replies ?? []) {
      if (err) {
        this.failed++;
        this.error ??= err.message;
      } else this.confirmed++;
    }
  }
}
