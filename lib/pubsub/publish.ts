/**
 * Publishing in bulk: pipelined batches instead of one round trip per
 * message, optionally held to a rate or an interval.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { preciseNow } from "../core/json_event.ts";
import type { Commands } from "../core/client.ts";
import { delay, waitUntil } from "../core/timing.ts";

/** One message to publish. */
export interface Outgoing {
  /** The channel to publish on. */
  channel: string;
  /** The payload, text or bytes. */
  payload: string | Uint8Array;
}

/** The commands of a link to one server or a cluster (a `Redis` or a `Cluster`): what a {@linkcode BatchSender} sends through. */
export type Client = Commands;

/** What the server answered for one message. */
export interface Delivery {
  /** How many subscribers received it (0: it is gone); 0 for a stream append, which keeps it. */
  receivers: number;
  /** On a cluster, the master (`host:port`) that took a sharded message (SPUBLISH). */
  node?: string;
  /** The entry id, when the message was appended to a stream (`XADD`) instead of published. */
  entryId?: string;
  /** On a recoverable channel (`--history`): the message's offset in the channel's history. */
  offset?: number;
  /** On a recoverable channel: the epoch of the channel's history. */
  epoch?: string;
  /** On a recoverable channel: sent again after an outage, it had gone in already (not published twice). */
  resent?: true;
}

/** The result of one publish. */
export interface Published extends Outgoing, Delivery {
  /** Sequence number, from 1. */
  n: number;
}

/** Sends a batch of messages in one round trip and says what became of each, in order. */
export type BatchSender = (redis: Client, messages: readonly Outgoing[]) => Promise<Delivery[]>;

/**
 * The {@linkcode BatchSender} that PUBLISHes (see {@linkcode publishBatch}).
 *
 * @param redis a connected client
 * @param messages the messages, in order
 * @returns the receivers of each
 */
export const publishSender: BatchSender = async (redis, messages) =>
  (await publishBatch(redis, messages)).map((receivers) => ({ receivers }));

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
export async function publishBatch(redis: Client, messages: readonly Outgoing[]): Promise<number[]> {
  if (messages.length === 1) return [await redis.publish(messages[0]!.channel, wire(messages[0]!.payload))];
  const pipeline = redis.pipeline();
  for (const m of messages) pipeline.publish(m.channel, wire(m.payload));
  const results = await pipeline.exec() ?? [];
  return results.map(([err, receivers]) => {
    if (err) throw err;
    return Number(receivers);
  });
}

/**
 * A payload as ioredis sends it byte for byte: ioredis stringifies
 * Uint8Arrays that are not Buffers.
 *
 * @param payload text or bytes
 * @returns the text, or the bytes as a Buffer
 * @example
 * ```ts
 * import { wire } from "./publish.ts";
 * import assert from "node:assert/strict";
 * assert.equal(wire("a"), "a");
 * assert.equal(wire(new Uint8Array([1])).length, 1);
 * ```
 */
export function wire(payload: string | Uint8Array): string | Buffer {
  return typeof payload === "string" ? payload : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
}

/** How {@linkcode publishSeries} paces the messages. */
export interface Pacing {
  /** Messages per second, at most. */
  rate?: number;
  /**
   * With `rate`: keep each message's due time to about 0.1 ms, sleeping the thread for the last 2.5 ms of each wait
   * (`waitUntil` in timing.ts) — only for a process that receives nothing meanwhile; otherwise timers (1–2 ms late).
   */
  precise?: boolean;
  /** Pause between messages, in ms. */
  intervalMs?: number;
}

/** How {@linkcode publishSeries} sends, goes on after a failure, and reports. */
export interface SeriesOptions {
  /** How a batch is sent (default PUBLISH; a stream sender appends instead). */
  send?: BatchSender;
  /** Decides, after a failed batch, whether to go on (default: never). */
  onFailure?: (err: Error) => Promise<boolean>;
  /**
   * Going on after a failed batch, send the same batch (the same array) again instead of skipping it: for a sender
   * that makes a repeat safe (`IdempotentAppender` in lib/streams/idempotent_append.ts). Default false: pub/sub has no
   * way to tell whether a message went out, so a repeat could deliver it twice.
   */
  resend?: boolean;
  /**
   * Called once per confirmed batch instead of `onResult` per message: `first` is the number of its first message.
   * A series at full speed reports a million messages a second this way without making an object for each.
   */
  onBatch?: (first: number, batch: readonly Outgoing[], deliveries: readonly Delivery[]) => void;
}

/** What {@linkcode publishSeries} did. */
export interface SeriesResult {
  /** Messages the server confirmed (each was passed to `onResult`). */
  published: number;
  /**
   * Messages of batches that failed as the server went away: unconfirmed (they may or may not have reached
   * subscribers) and not sent again, since pub/sub has no acknowledgement and a resend could deliver them twice.
   * With `resend`, only those of a batch still unconfirmed when the series was stopped.
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
 * server was back), the batch is counted as skipped and the series goes on —
 * or, with `resend`, the same batch is sent again until it is confirmed;
 * otherwise the error is thrown.
 *
 * @param redis a connected client
 * @param count how many messages
 * @param make builds message `n` (from 1); `at` is when its batch is sent, epoch ms to the microsecond
 *   ({@linkcode preciseNow}), for a `{{ts}}` in it
 * @param pacing rate or interval (neither: full speed)
 * @param onResult called for every message, in order
 * @param signal stops early
 * @param how how a batch is sent, what happens after a failed one, and an `onBatch` that replaces `onResult`
 * @returns how many were published, skipped and delayed
 * @example
 * ```ts ignore
 * await publishSeries(redis, 100, (n) => ({ channel: "c", payload: `m${n}` }), { rate: 50 }, () => {});
 * ```
 */
export async function publishSeries(
  redis: Client,
  count: number,
  make: (n: number, at: number) => Outgoing,
  pacing: Pacing,
  onResult: (result: Published) => void,
  signal?: AbortSignal,
  how: SeriesOptions = {},
): Promise<SeriesResult> {
  const { send = publishSender, onFailure, onBatch, resend = false } = how;
  const result: SeriesResult = { published: 0, skipped: 0, delayed: 0 };
  let next = 1;
  let afterOutage = false;
  const sendBatch = async (size: number) => {
    const first = next;
    const at = preciseNow(); // the batch goes out in one write: one send time for all of it
    const batch: Outgoing[] = new Array(size);
    for (let i = 0; i < size; i++) batch[i] = make(first + i, at);
    next += size;
    const waited = afterOutage;
    afterOutage = false;
    let deliveries: Delivery[] | undefined;
    while (!deliveries) {
      try {
        deliveries = await send(redis, batch);
      } catch (err) {
        if (!onFailure || !(await onFailure(err as Error))) throw err;
        afterOutage = true;
        if (!resend || signal?.aborted) {
          result.skipped += size;
          return;
        }
      }
    }
    if (waited) result.delayed += size;
    result.published += size;
    if (onBatch) onBatch(first, batch, deliveries);
    else batch.forEach((m, i) => onResult({ ...m, n: first + i, ...deliveries[i]! }));
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
      if (next > count) break;
      const at = start + ((next - 1) * 1000) / rate; // the next message's due time
      if (pacing.precise) await waitUntil(at, signal);
      else if (at > performance.now()) await delay(at - performance.now(), signal);
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
