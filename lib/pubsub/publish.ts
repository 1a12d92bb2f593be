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

/**
 * Publishes `count` messages made by `make(n)`: as fast as possible in
 * pipelined batches (two in flight), or held to `rate` messages per second
 * (everything due is sent in one pipeline), or one every `intervalMs`.
 *
 * @param redis a connected client
 * @param count how many messages
 * @param make builds message `n` (from 1)
 * @param pacing rate or interval (neither: full speed)
 * @param onResult called for every message, in order
 * @param signal stops early
 * @returns how many were published
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
): Promise<number> {
  let next = 1;
  const sendBatch = async (size: number) => {
    const first = next;
    const batch = Array.from({ length: size }, (_, i) => make(first + i));
    next += size;
    const receivers = await publishBatch(redis, batch);
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
  return next - 1;
}
