/**
 * Publishing in bulk: pipelined batches instead of one round trip per
 * message, optionally held to a rate or an interval.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import type { Redis } from "ioredis";
import { delay } from "../core/timing.ts";

/** One message to publish. */
export interface Outgoing {
  /** The channel to publish on. */
  channel: string;
  /** The payload, text or bytes. */
  payload: string | Uint8Array;
}

/** The result of one publish. */
export interface Published extends Outgoing {
  /** Sequence number, from 1. */
  n: number;
  /** How many subscribers received it (0: it is gone). */
  receivers: number;
}

/** Messages per pipeline when publishing as fast as possible. */
export const BATCH_SIZE = 1000;

/**
 * Publishes messages in one pipeline (one round trip).
 *
 * @param redis a connected client
 * @param messages the messages, in order
 * @returns the number of receivers of each, in order
 * @throws the first error, if any publish failed
 * @example
 * ```ts ignore
 * const [receivers] = await publishBatch(redis, [{ channel: "news", payload: "hi" }]);
 * ```
 */
export async function publishBatch(redis: Redis, messages: readonly Outgoing[]): Promise<number[]> {
  if (messages.length === 1) return [await redis.publish(messages[0]!.channel, wire(messages[0]!.payload))];
  const pipeline = redis.pipeline();
  for (const m of messages) pipeline.publish(m.channel, wire(m.payload));
  const results = await pipeline.exec() ?? [];
  return results.map(([err, receivers]) => {
    if (err) throw err;
    return Number(receivers);
  });
}

/** ioredis sends Buffers byte for byte but stringifies other Uint8Arrays. */
function wire(payload: string | Uint8Array): string | Buffer {
  return typeof payload === "string" ? payload : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
}

/** How {@linkcode publishSeries} paces the messages. */
export interface Pacing {
  /** Messages per second, at most. */
  rate?: number;
  /** Pause between messages, in ms. */
  intervalMs?: number;
}

/** What {@linkcode publishSeries} did. */
export interface SeriesResult {
  /** Messages the server confirmed (each was passed to `onResult`). */
  published: number;
  /**
   * Messages of batches that failed as the server went away: unconfirmed (they may or may not have reached
   * subscribers) and not sent again, since pub/sub has no acknowledgement and a resend could deliver them twice.
   */
  skipped: number;
  /** Messages that were ready to go while the server was away and went out once it was back. */
  delayed: number;
}

/**
 * Publishes `count` messages made by `make(n)`: as fast as possible in
 * pipelined batches (two in flight), or held to `rate` messages per second
 * (everything due is sent in one pipeline), or one every `intervalMs`.
 *
 * When a batch fails and `onFailure` resolves true (it waited until the
 * server was back), the batch is counted as skipped and the series goes on;
 * otherwise the error is thrown.
 *
 * @param redis a connected client
 * @param count how many messages
 * @param make builds message `n` (from 1)
 * @param pacing rate or interval (neither: full speed)
 * @param onResult called for every message, in order
 * @param signal stops early
 * @param onFailure decides, after a failed batch, whether to go on (default: never)
 * @returns how many were published, skipped and delayed
 * @example
 * ```ts ignore
 * await publishSeries(redis, 100, (n) => ({ channel: "c", payload: `m${n}` }), { rate: 50 }, () => {});
 * ```
 */
export async function publishSeries(
  redis: Redis,
  count: number,
  make: (n: number) => Outgoing,
  pacing: Pacing,
  onResult: (result: Published) => void,
  signal?: AbortSignal,
  onFailure?: (err: Error) => Promise<boolean>,
): Promise<SeriesResult> {
  const result: SeriesResult = { published: 0, skipped: 0, delayed: 0 };
  let next = 1;
  let afterOutage = false;
  const sendBatch = async (size: number) => {
    const first = next;
    const batch = Array.from({ length: size }, (_, i) => make(first + i));
    next += size;
    const waited = afterOutage;
    afterOutage = false;
    let receivers: number[];
    try {
      receivers = await publishBatch(redis, batch);
    } catch (err) {
      if (!onFailure || !(await onFailure(err as Error))) throw err;
      result.skipped += size;
      afterOutage = true;
      return;
    }
    if (waited) result.delayed += size;
    result.published += size;
    batch.forEach((m, i) => onResult({ ...m, n: first + i, receivers: receivers[i]! }));
  };
  const start = performance.now();
  if (pacing.intervalMs !== undefined) {
    while (next <= count && !signal?.aborted) {
      await sendBatch(1);
      if (next <= count) await delay(pacing.intervalMs, signal);
    }
  } else if (pacing.rate !== undefined) {
    const rate = pacing.rate;
    while (next <= count && !signal?.aborted) {
      const due = Math.min(count, Math.floor(((performance.now() - start) * rate) / 1000) + 1);
      if (due >= next) await sendBatch(Math.min(due - next + 1, BATCH_SIZE));
      const wait = ((next - 1) * 1000) / rate - (performance.now() - start);
      if (wait > 0) await delay(wait, signal);
    }
  } else {
    let inFlight: Promise<void> = Promise.resolve();
    while (next <= count && !signal?.aborted) {
      const batch = sendBatch(Math.min(BATCH_SIZE, count - next + 1));
      batch.catch(() => {}); // awaited below; this keeps a failure while the previous batch is awaited from going unhandled
      await inFlight;
      inFlight = batch;
    }
    await inFlight;
  }
  return result;
}
