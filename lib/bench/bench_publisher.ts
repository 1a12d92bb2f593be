/**
 * One benchmark publisher, in a worker of its own (lib/bench/worker.ts):
 * stamped messages round-robin over the channels through the project's fast
 * path, a {@linkcode PublishLane} (a socket of its own, one write a batch,
 * integer replies counted), each batch written in place as RESP by a
 * {@linkcode StampBatcher}: as fast as possible in batches of 1,000, four in
 * flight; or paced to a rate against the clock, whatever is due in one batch,
 * with a precise wait (`waitUntil`: nothing else reads on this thread), as
 * `publisher.ts --rate`. In stream mode it XADDs in ioredis pipelines. On a
 * cluster it has a connection (and lane) per master it sends to and each
 * batch is split by the node serving each channel.
 *
 * @module
 */
import { Connection } from "../core/client.ts";
import type { Reporter } from "../core/output.ts";
import { delay, waitUntil } from "../core/timing.ts";
import { PublishLane } from "../pubsub/publish_lane.ts";
import { clockNow } from "./clock.ts";
import { STREAM_MAXLEN } from "./modes.ts";
import { encodeStamp } from "./payload.ts";
import { StampBatcher } from "./stamp_batch.ts";
import type { PublisherFigures, PublisherMember, RunShape } from "./worker_protocol.ts";

/** Messages a batch holds at most (as publisher.ts's). */
export const BATCH = 1000;

/**
 * Batches a publisher has out at once as fast as possible: more than publisher.ts's two keep the server busy while the
 * threads wait for a core (on the loaded 2-core machine, one run each of 1,000,000 messages, 1 → 1: two 307k msg/s,
 * four 374k, eight 388k).
 */
export const IN_FLIGHT = 4;

/** A publisher of the benchmark. */
export class BenchPublisher {
  #confirmed = 0;
  #failed = 0;
  #error: string | undefined;
  #firstAt: number | undefined;
  #lastAt: number | undefined;
  readonly #lanes: PublishLane[];
  readonly #batcher: StampBatcher | undefined;

  private constructor(
    readonly id: number,
    private readonly conns: Connection[],
    private readonly route: readonly number[] | undefined,
    private readonly shape: RunShape,
  ) {
    const command = shape.mode === "sharded" ? "SPUBLISH" : "PUBLISH";
    this.#lanes = shape.mode === "stream" ? [] : conns.map((c) => new PublishLane(c.redis, command));
    this.#batcher = shape.mode === "stream" ? undefined : new StampBatcher(id, shape.names, shape.size, command);
  }

  /**
   * Opens a publisher's connections.
   *
   * @param member its id and where its connections go
   * @param shape the run's shape
   * @param reporter where connection trouble is reported
   * @param signal stops connecting
   * @returns the publisher
   * @throws {CliError} when a server cannot be reached
   */
  static async open(
    member: PublisherMember,
    shape: RunShape,
    reporter: Reporter,
    signal: AbortSignal,
  ): Promise<BenchPublisher> {
    const conns: Connection[] = [];
    try {
      for (const c of member.plan.conns) {
        conns.push(
          await Connection.open({ url: c.url, reporter, reconnect: false, clusterNode: c.clusterNode, signal }),
        );
      }
    } catch (err) {
      await Promise.all(conns.map((c) => c.close()));
      throw err;
    }
    return new BenchPublisher(member.id, conns, member.plan.route, shape);
  }

  /**
   * Publishes until the quota, the deadline or the signal.
   *
   * @param quota messages to send
   * @param durationMs the longest it may take
   * @param signal stops it
   * @param precise pace with a precise wait (this thread has nothing else to do)
   * @param onConfirmed called with the confirmed count after each batch
   */
  async run(
    quota: number,
    durationMs: number,
    signal: AbortSignal,
    precise: boolean,
    onConfirmed: (n: number) => void,
  ): Promise<void> {
    const timer = new AbortController();
    const timeout = setTimeout(() => timer.abort(), durationMs);
    const stop = AbortSignal.any([signal, timer.signal]);
    this.#firstAt = clockNow();
    const send = (from: number, count: number) => this.#send(from, count, onConfirmed);
    try {
      if (this.shape.rate > 0) await paced(quota, this.shape.rate, precise, stop, send);
      else await flat(quota, stop, send);
    } catch (err) {
      this.#error ??= err instanceof Error ? err.message : String(err);
    } finally {
      clearTimeout(timeout);
    }
  }

  /** Sends messages `from` … `from + count - 1` in one batch (one per node on a cluster); throws when it fails. */
  async #send(from: number, count: number, onConfirmed: (n: number) => void): Promise<void> {
    const sentUs = clockNow() * 1000; // the batch goes out in one write: one send time for all of it
    try {
      if (this.#batcher) {
        const batcher = this.#batcher, route = this.route;
        await Promise.all(this.#lanes.map((lane, leg) => {
          const only = route && this.#lanes.length > 1 ? (c: number) => route[c] === leg : undefined;
          let made: { bytes: Uint8Array; count: number } | undefined;
          const encode = () => (made ??= batcher.batch(from, count, sentUs, only)).bytes;
          // The count is known only once encoded: a cluster leg may take none of this batch.
          return only ? laneSend(lane, encode, () => made!.count) : lane.publishEncoded(encode, count);
        }));
      } else await this.#xadd(from, count, sentUs);
    } catch (err) {
      this.#failed += count;
      throw err;
    }
    this.#confirmed += count;
    this.#lastAt = clockNow();
    onConfirmed(this.#confirmed);
  }

  /** Stream mode: the batch as XADDs, in one ioredis pipeline per node. */
  async #xadd(from: number, count: number, sentUs: number): Promise<void> {
    const { names, size } = this.shape;
    const pipes = this.conns.map((c) => c.redis.pipeline());
    for (let seq = from; seq < from + count; seq++) {
      const c = (this.id + seq) % names.length;
      const payload = encodeStamp(this.id, seq, size, sentUs);
      pipes[this.route?.[c] ?? 0]!.xadd(names[c]!, "MAXLEN", "~", STREAM_MAXLEN, "*", "p", payload);
    }
    const replies = await Promise.all(pipes.map((p) => p.length ? p.exec() : Promise.resolve([])));
    for (const [err] of replies.flatMap((r) => r ?? [])) if (err) throw err;
  }

  /** What it did. */
  figures(): PublisherFigures {
    return {
      id: this.id,
      confirmed: this.#confirmed,
      failed: this.#failed,
      ...(this.#error !== undefined ? { error: this.#error } : {}),
      ...(this.#firstAt !== undefined ? { firstAt: this.#firstAt } : {}),
      ...(this.#lastAt !== undefined ? { lastAt: this.#lastAt } : {}),
    };
  }

  /** Closes its lanes and connections. */
  async close(): Promise<void> {
    await Promise.all(this.#lanes.map((l) => l.close()));
    await Promise.all(this.conns.map((c) => c.close()));
  }
}

/** Sends a cluster leg's part of a batch, which may be empty (then nothing is sent). */
async function laneSend(lane: PublishLane, encode: () => Uint8Array, count: () => number): Promise<void> {
  const bytes = encode();
  if (count() > 0) await lane.publishEncoded(() => bytes, count());
}

/** Batches of {@linkcode BATCH} messages, {@linkcode IN_FLIGHT} out at once, until the quota or the signal. */
async function flat(quota: number, stop: AbortSignal, send: (from: number, count: number) => Promise<void>) {
  const out: Promise<void>[] = [];
  let next = 0;
  try {
    // Bounded: every turn takes at least one message of the quota.
    while (next < quota && !stop.aborted) {
      const batch = send(next, Math.min(BATCH, quota - next));
      batch.catch(() => {}); // awaited below; this keeps a failure while an earlier batch is awaited from going unhandled
      next += Math.min(BATCH, quota - next);
      out.push(batch);
      if (out.length >= IN_FLIGHT) await out.shift();
    }
  } finally {
    await Promise.allSettled(out);
  }
  for (const batch of out) await batch;
}

/**
 * Paced: message `seq` is due at `start + seq / rate`; whatever is due goes in one batch (a late turn catches up),
 * each batch awaited; between batches a precise wait (`waitUntil`) when `precise`, a timer otherwise.
 */
async function paced(
  quota: number,
  rate: number,
  precise: boolean,
  stop: AbortSignal,
  send: (from: number, count: number) => Promise<void>,
) {
  const start = performance.now();
  let next = 0;
  // Bounded: every turn sends at least one message or waits for the next one's due time.
  while (next < quota && !stop.aborted) {
    const due = Math.min(quota, Math.floor(((performance.now() - start) * rate) / 1000) + 1);
    if (due > next) {
      const count = Math.min(due - next, BATCH);
      await send(next, count);
      next += count;
      continue;
    }
    const at = start + (next * 1000) / rate;
    if (precise) await waitUntil(at, stop);
    else await delay(at - performance.now(), stop);
  }
}
