/**
 * One server's {@linkcode KvSink}: a batch as a few MSET commands (SET with
 * an expiry per update for `expireAtValid`), in one pipeline.
 *
 * @module
 */
import { type Redis, ReplyError } from "ioredis";
import { ConnectionLostError } from "../core/client.ts";
import { PublishLane } from "../pubsub/publish_lane.ts";
import { encodeCommands } from "../wire/commands.ts";
import type { KvUpdate } from "./message.ts";
import { type BatchOptions, type BatchReplies, failedBatch, type KvSink, type Reply, TRANSIENT } from "./sink.ts";

/** Most updates in one MSET: a long command is read whole by the server before it runs. */
const MULTI_SET_ENTRIES = 250;

/** About the most bytes of values in one MSET (one larger value goes alone). */
const MULTI_SET_BYTES = 256 * 1024;

/** What a server says when MSET is not allowed or not there: then each update is SET. */
const MULTI_SET_REFUSED = /^(NOPERM|ERR unknown command)/;

/**
 * The sink of one server. Batches go as MSET chunks through a lane of its own (lib/pubsub/publish_lane.ts: the
 * commands encoded by hand, on a socket opened as `redis`'s), or through `redis` with their MGETs for `validate`; as
 * a SET each where the server refuses MSET, and with an expiry each for `expireAtValid`.
 *
 * @param redis its connection (opened with the offline queue on, so writes wait out an outage); the lane is closed
 *   with it, or by the sink's `close()`
 * @returns the sink
 * @example
 * ```ts ignore
 * const writer = new KvWriter({ sink: serverSink(conn.redis), prefix: "", validate: false, expireAtValid: false, log });
 * ```
 */
export function serverSink(redis: Redis): KvSink {
  /** Whether batches go as MSET (until the server refuses it). */
  let multiSet = true;
  const lane = new PublishLane(redis);
  redis.once("end", () => void lane.close());
  return {
    // The lane fails a batch at once while the server is away (where ioredis's offline queue would hold it): again.
    transient: (err) => TRANSIENT.test(err.message) || err instanceof ConnectionLostError,
    async write(batch, options) {
      if (multiSet && !options.expireAtValid) {
        const replies = options.validate
          ? await writeMulti(redis, batch, options)
          : await writeThroughLane(lane, redis.options.db ?? 0, batch, options);
        if (replies) return replies;
        multiSet = false;
        await lane.close();
      }
      return await writeEach(redis, batch, options);
    },
    close: () => lane.close(),
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
  const chunks = chunksOf(batch);
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

/**
 * Where a batch is cut into MSET chunks: `[start, end)` of at most {@linkcode MULTI_SET_ENTRIES} updates and about
 * {@linkcode MULTI_SET_BYTES} (one larger value alone).
 */
function chunksOf(batch: readonly [string, KvUpdate][]): [number, number][] {
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
  return chunks;
}

/**
 * A batch as MSET chunks written through the lane, each chunk's reply its entries' (a chunk the lane could not send,
 * or the server refused, fails alone). Undefined when the server refuses MSET (an ACL, a renamed command): from then
 * on each update is SET.
 */
async function writeThroughLane(
  lane: PublishLane,
  db: number,
  batch: readonly [string, KvUpdate][],
  { log }: BatchOptions,
): Promise<BatchReplies | undefined> {
  const chunks = chunksOf(batch);
  // The lane's connection has not selected the URL's database: each chunk does, so a reconnect needs nothing more.
  const select = db ? ["SELECT", String(db)] : undefined;
  const sent = chunks.map(([from, to]) => {
    const args = ["MSET"];
    for (let n = from; n < to; n++) args.push(batch[n]![0], batch[n]![1].stored);
    return lane.publishEncoded(() => encodeCommands(select ? [select, args] : [args]), select ? 2 : 1);
  });
  const results = await Promise.allSettled(sent);
  const refused = results.find((r) =>
    r.status === "rejected" && r.reason instanceof ReplyError && MULTI_SET_REFUSED.test(r.reason.message)
  ) as PromiseRejectedResult | undefined;
  if (refused) {
    log.debug(`MSET refused (${(refused.reason as Error).message}): each update is written with its own SET now`);
    return undefined;
  }
  const replies: BatchReplies = { set: [], read: [] };
  chunks.forEach(([from, to], c) => {
    const r = results[c]!;
    const reply: Reply = r.status === "fulfilled" ? [null, "OK"] : [r.reason as Error, null];
    for (let n = from; n < to; n++) {
      replies.set.push(reply);
      replies.read.push(undefined);
    }
  });
  return replies;
}
