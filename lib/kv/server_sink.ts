/**
 * One server's {@linkcode KvSink}: a batch as a few MSET commands (SET with
 * an expiry per update for `expireAtValid`), in one pipeline.
 *
 * @module
 */
import type { Redis } from "ioredis";
import type { KvUpdate } from "./message.ts";
import { type BatchOptions, type BatchReplies, failedBatch, type KvSink, type Reply, TRANSIENT } from "./sink.ts";

/** Most updates in one MSET: a long command is read whole by the server before it runs. */
const MULTI_SET_ENTRIES = 250;

/** About the most bytes of values in one MSET (one larger value goes alone). */
const MULTI_SET_BYTES = 256 * 1024;

/** What a server says when MSET is not allowed or not there: then each update is SET. */
const MULTI_SET_REFUSED = /^(NOPERM|ERR unknown command)/;

/**
 * The sink of one server.
 *
 * @param redis its connection (opened with the offline queue on, so writes wait out an outage)
 * @returns the sink
 * @example
 * ```ts ignore
 * const writer = new KvWriter({ sink: serverSink(conn.redis), prefix: "", validate: false, expireAtValid: false, log });
 * ```
 */
export function serverSink(redis: Redis): KvSink {
  /** Whether batches go as MSET (until the server refuses it). */
  let multiSet = true;
  return {
    transient: (err) => TRANSIENT.test(err.message),
    async write(batch, options) {
      if (multiSet && !options.expireAtValid) {
        const replies = await writeMulti(redis, batch, options);
        if (replies) return replies;
        multiSet = false;
      }
      return await writeEach(redis, batch, options);
    },
  };
}

/** One SET (with its expiry) per update, and a GET each for `validate`. */
async function writeEach(
  redis: Redis,
  batch: readonly [string, KvUpdate][],
  { validate, expireAtValid }: BatchOptions,
): Promise<BatchReplies> {
  const pipeline = redis.pipeline();
  for (const [key, u] of batch) {
    if (expireAtValid) pipeline.set(key, u.stored, "PXAT", u.validAt);
    else pipeline.set(key, u.stored);
    if (validate) pipeline.get(key);
  }
  let results: Reply[];
  try {
    results = (await pipeline.exec()) ?? [];
  } catch (err) {
    return failedBatch(batch.length, err as Error);
  }
  const step = validate ? 2 : 1;
  return {
    set: batch.map((_, n) => results[n * step]),
    read: batch.map((_, n) => validate ? results[n * step + 1] : undefined),
  };
}

/**
 * A batch as a few MSET commands (each of at most {@linkcode MULTI_SET_ENTRIES} updates and about
 * {@linkcode MULTI_SET_BYTES}), with one MGET each to read them back for `validate`: a handful of commands in the
 * pipeline instead of one or two per update, which is most of what ioredis costs per command. The keys of a batch are
 * distinct, so this stores what a SET per update would. Undefined when the server refuses MSET (an ACL, a renamed
 * command): from then on each update is SET.
 */
async function writeMulti(
  redis: Redis,
  batch: readonly [string, KvUpdate][],
  { validate, log }: BatchOptions,
): Promise<BatchReplies | undefined> {
  // Chunks [start, end) of at most MULTI_SET_ENTRIES updates and about MULTI_SET_BYTES (one larger value alone).
  const chunks: [number, number][] = [];
  let start = 0;
  let bytes = 0;
  for (let n = 0; n < batch.length; n++) {
    if (n > start && (n - start === MULTI_SET_ENTRIES || bytes >= MULTI_SET_BYTES)) {
      chunks.push([start, n]);
      [start, bytes] = [n, 0];
    }
    bytes += batch[n]![1].stored.length;
  }
  if (batch.length > start) chunks.push([start, batch.length]);
  const pipeline = redis.pipeline();
  for (const [from, to] of chunks) {
    const entries = batch.slice(from, to);
    pipeline.mset(entries.flatMap(([key, u]) => [key, u.stored]));
    if (validate) pipeline.mget(entries.map(([key]) => key));
  }
  const step = validate ? 2 : 1;
  let results: Reply[];
  try {
    results = (await pipeline.exec()) ?? [];
  } catch (err) {
    return failedBatch(batch.length, err as Error);
  }
  const refused = results.find(([err]) => err && MULTI_SET_REFUSED.test(err.message));
  if (refused) {
    log.debug(`MSET refused (${refused[0]!.message}): each update is written with its own SET now`);
    return undefined;
  }
  const replies: BatchReplies = { set: [], read: [] };
  chunks.forEach(([first, end], c) => {
    const setReply = results[c * step];
    const read = validate ? results[c * step + 1] : undefined;
    for (let n = first; n < end; n++) {
      replies.set.push(setReply);
      replies.read.push(read && [read[0], read[0] ? null : (read[1] as unknown[])[n - first]]);
    }
  });
  return replies;
}
