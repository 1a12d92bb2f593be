/**
 * Reading a delivered entry again by id, to tell an entry that is bad in its
 * stream from one whose bytes were damaged on the way here (a server that
 * wrote a wrong byte into its reply: KeyDB 6.3.4 under client churn), with
 * `XRANGE stream id id` on whatever connection the caller gives.
 *
 * @module
 */
import type { Commands } from "../endpoint/link.ts";
import { toEntries } from "./entry.ts";

/** What the stream holds now for a delivered entry, next to the copy that was delivered. */
export type Reread =
  /** The stream holds exactly what was delivered: the entry itself is what it is. */
  | { verdict: "same" }
  /** The entry is no longer in the stream (trimmed or deleted since): the delivered copy is all there is. */
  | { verdict: "gone" }
  /** The stream holds something else: the delivered copy was damaged in transit; `stored` is the entry's fields. */
  | { verdict: "differs"; stored: Record<string, string> };

/**
 * How many reads in a row must return exactly the delivered copy before it is
 * taken for what the stream holds: a server that damages replies can damage a
 * re-read alike (KeyDB 6.3.4 flips a bit at one offset of a reply buffer, and
 * a one-entry XRANGE reply puts the payload where a one-entry XREADGROUP
 * reply does), so one agreeing read is not proof enough.
 */
export const AGREEING_READS = 2;

/**
 * Reads an entry again by id, up to {@linkcode AGREEING_READS} times while it
 * agrees, and compares it with the copy delivered.
 *
 * @param redis a connection (on a cluster: the cluster, which routes by the stream's slot)
 * @param stream the stream
 * @param delivered the entry as it was delivered
 * @returns same (every read agreed), gone, or differs with the stored fields
 * @throws {Error} when the read fails (the server is gone): then nothing is known
 * @example
 * ```ts
 * import { Redis } from "ioredis";
 * import { readAgain } from "./reread.ts";
 * import { LocalServer } from "../core/local_server.ts";
 * import assert from "node:assert/strict";
 *
 * // A throw-away server for the example, unless REDIS_URL names one to use:
 * await using local = Deno.env.get("REDIS_URL") ? undefined : await LocalServer.start();
 * const redis = new Redis(local?.url ?? Deno.env.get("REDIS_URL")!);
 * const log = `log-${crypto.randomUUID()}`; // a stream of the example's own
 * const id = await redis.xadd(log, "*", "payload", '{"n":1}');
 * const damaged = await readAgain(redis, log, { id: id!, fields: { payload: '{"n":1=' } });
 * assert.equal(damaged.verdict, "differs");
 * assert.equal(damaged.stored.payload, '{"n":1}');
 * assert.equal((await readAgain(redis, log, { id: id!, fields: { payload: '{"n":1}' } })).verdict, "same");
 * await redis.del(log);
 * await redis.quit();
 * ```
 */
export async function readAgain(
  redis: Commands,
  stream: string,
  delivered: { id: string; fields: Record<string, string> },
): Promise<Reread> {
  for (let read = 0; read < AGREEING_READS; read++) {
    const [stored] = toEntries(await redis.xrange(stream, delivered.id, delivered.id));
    if (!stored?.fields) return { verdict: "gone" };
    if (!sameFields(stored.fields, delivered.fields)) return { verdict: "differs", stored: stored.fields };
  }
  return { verdict: "same" };
}

/** Whether two entries' fields are the same names with the same values. */
function sameFields(a: Record<string, string>, b: Record<string, string>): boolean {
  const names = Object.keys(a);
  return names.length === Object.keys(b).length && names.every((name) => b[name] === a[name]);
}
