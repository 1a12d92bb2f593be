/**
 * Reading a stream without a group, for people and for replay: the entries
 * from a position (`XRANGE`, page by page), then — when following — the new
 * ones as they are appended (`XREAD BLOCK`).
 *
 * @module
 */
import type { Commands } from "../endpoint/link.ts";
import { rangeStartId, type StartPosition, type StreamEntry, toEntries } from "./entry.ts";

/** How {@linkcode readStream} reads. */
export interface ReadOptions {
  /** After the existing entries, wait for new ones until `signal` aborts. */
  follow?: boolean;
  /** How long one blocking read waits (default 500 ms): also how soon a stop is noticed. */
  blockMs?: number;
  /** Entries per XRANGE / XREAD (default 500). */
  pageSize?: number;
  /** Stops reading (at the latest after `blockMs`). */
  signal?: AbortSignal;
  /** Follow from just after this id, skipping `from` (a caller that took the newest id before appending). */
  after?: string;
}

/**
 * The id of a stream's newest entry, `0-0` when it is empty or missing.
 *
 * @param redis a connection
 * @param stream the stream
 * @returns the id
 */
export async function lastEntryId(redis: Commands, stream: string): Promise<string> {
  const [newest] = toEntries(await redis.xrevrange(stream, "+", "-", "COUNT", 1));
  return newest?.id ?? "0-0";
}

/**
 * Reads a stream's entries from a position, in pages; with `follow`, goes
 * on with entries appended later.
 *
 * @param redis a connection (blocked while following: use it for nothing else meanwhile)
 * @param stream the stream
 * @param from where to start
 * @param options follow, block time, page size, stop signal
 * @returns the entries, a page at a time
 * @example
 * ```ts
 * import { Redis } from "ioredis";
 * import { readStream } from "./reader.ts";
 * import { LocalServer } from "../core/local_server.ts";
 * import assert from "node:assert/strict";
 *
 * // A throw-away server for the example, unless REDIS_URL names one to use:
 * await using local = Deno.env.get("REDIS_URL") ? undefined : await LocalServer.start();
 * const url = local?.url ?? Deno.env.get("REDIS_URL")!;
 * const redis = new Redis(url);
 * const log = `log-${crypto.randomUUID()}`; // a stream of the example's own
 * await redis.xadd(log, "1-0", "payload", "a");
 * await redis.xadd(log, "2-0", "payload", "b");
 * const ids: string[] = [];
 * for await (const page of readStream(redis, log, { kind: "id", id: "2-0" })) ids.push(...page.map((e) => e.id));
 * assert.deepEqual(ids, ["2-0"]);
 * await redis.del(log);
 * await redis.quit();
 * ```
 */
export async function* readStream(
  redis: Commands,
  stream: string,
  from: StartPosition,
  options: ReadOptions = {},
): AsyncGenerator<StreamEntry[]> {
  const pageSize = options.pageSize ?? 500;
  const stopped = () => options.signal?.aborted === true;
  let last = options.after;
  const start = options.after === undefined ? rangeStartId(from) : undefined;
  if (start !== undefined) {
    let cursor = start;
    while (!stopped()) {
      const page = toEntries(await redis.xrange(stream, cursor, "+", "COUNT", pageSize));
      if (page.length === 0) break;
      yield page;
      last = page.at(-1)!.id;
      cursor = `(${last}`;
      if (page.length < pageSize) break;
    }
  }
  if (!options.follow) return;
  last ??= await lastEntryId(redis, stream);
  while (!stopped()) {
    const reply = (await redis.xread("COUNT", pageSize, "BLOCK", options.blockMs ?? 500, "STREAMS", stream, last)) as
      | [string, unknown][]
      | null;
    const page = toEntries(reply?.[0]?.[1]);
    if (page.length === 0) continue;
    yield page;
    last = page.at(-1)!.id;
  }
}
