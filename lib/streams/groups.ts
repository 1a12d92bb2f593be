/**
 * Consumer groups: creating one idempotently (`XGROUP CREATE … MKSTREAM`),
 * what `XINFO GROUPS` / `XINFO CONSUMERS` say about them (lag where the
 * server reports it, Redis 7 and later), and removing a consumer only when it
 * has nothing pending.
 *
 * @module
 */
import type { Commands } from "../endpoint/link.ts";

/**
 * Creates the group at `startId` unless it exists (the stream too, if
 * missing). An existing group keeps its position.
 *
 * @param redis a connection
 * @param stream the stream
 * @param group the group
 * @param startId where a new group starts (`$`, `0`, an id), from {@linkcode ./entry.ts}'s `groupStartId`
 * @returns true when the group was created, false when it existed
 * @throws {Error} when the key is not a stream, or on any other refusal
 */
export async function ensureGroup(redis: Commands, stream: string, group: string, startId: string): Promise<boolean> {
  try {
    await redis.xgroup("CREATE", stream, group, startId, "MKSTREAM");
    return true;
  } catch (err) {
    if (/BUSYGROUP/.test((err as Error).message)) return false;
    throw err;
  }
}

/** One group of a stream, as `XINFO GROUPS` describes it. */
export interface GroupInfo {
  /** The group's name. */
  name: string;
  /** How many consumers it has. */
  consumers: number;
  /** Entries delivered and not yet acknowledged. */
  pending: number;
  /** The last entry id delivered to the group. */
  lastDeliveredId: string;
  /** Entries not yet delivered to the group; null when the server does not say (before Redis 7, KeyDB) or cannot tell. */
  lag: number | null;
}

/** One consumer of a group, as `XINFO CONSUMERS` describes it. */
export interface ConsumerInfo {
  /** Its name. */
  name: string;
  /** Entries delivered to it and not yet acknowledged. */
  pending: number;
  /** Milliseconds since it last read or claimed. */
  idleMs: number;
}

function pairs(raw: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (!Array.isArray(raw)) return out;
  for (let i = 0; i + 1 < raw.length; i += 2) out[String(raw[i])] = raw[i + 1];
  return out;
}

/**
 * The groups of a stream (none when the stream does not exist).
 *
 * @param redis a connection, or a link's commands (a cluster's route the stream to its master)
 * @param stream the stream
 * @returns its groups
 */
export async function streamGroups(redis: Commands, stream: string): Promise<GroupInfo[]> {
  let raw: unknown[];
  try {
    raw = (await redis.xinfo("GROUPS", stream)) as unknown[];
  } catch (err) {
    if (/no such key/i.test((err as Error).message)) return [];
    throw err;
  }
  return raw.map((item) => {
    const g = pairs(item);
    const lag = g.lag;
    return {
      name: String(g.name),
      consumers: Number(g.consumers ?? 0),
      pending: Number(g.pending ?? 0),
      lastDeliveredId: String(g["last-delivered-id"] ?? ""),
      lag: lag === undefined || lag === null ? null : Number(lag),
    };
  });
}

/**
 * The consumers of a group.
 *
 * @param redis a connection
 * @param stream the stream
 * @param group the group
 * @returns its consumers
 */
export async function groupConsumers(redis: Commands, stream: string, group: string): Promise<ConsumerInfo[]> {
  const raw = (await redis.xinfo("CONSUMERS", stream, group)) as unknown[];
  return raw.map((item) => {
    const c = pairs(item);
    return { name: String(c.name), pending: Number(c.pending ?? 0), idleMs: Number(c.idle ?? 0) };
  });
}

/**
 * How many entries of a group are pending (`XPENDING` summary).
 *
 * @param redis a connection
 * @param stream the stream
 * @param group the group
 * @returns the count
 */
export async function pendingCount(redis: Commands, stream: string, group: string): Promise<number> {
  const reply = (await redis.xpending(stream, group)) as unknown[];
  return Number(reply[0] ?? 0);
}

// Atomic: nothing can be delivered to the consumer between the check and the delete.
const DELETE_IF_IDLE = `
local p = redis.call('XPENDING', KEYS[1], ARGV[1], '-', '+', 1, ARGV[2])
if #p > 0 then return 0 end
redis.call('XGROUP', 'DELCONSUMER', KEYS[1], ARGV[1], ARGV[2])
return 1`;

/**
 * Deletes a consumer from its group only when it has no pending entries —
 * `XGROUP DELCONSUMER` would otherwise drop them from the group for good.
 * Check and delete are one script, so nothing slips in between.
 *
 * @param redis a connection
 * @param stream the stream
 * @param group the group
 * @param consumer the consumer
 * @returns true when it was deleted, false when it still has pending entries
 */
export async function deleteConsumerIfIdle(
  redis: Commands,
  stream: string,
  group: string,
  consumer: string,
): Promise<boolean> {
  return (await redis.eval(DELETE_IF_IDLE, 1, stream, group, consumer)) === 1;
}

/**
 * The delivery count of each pending entry (`XPENDING key group id id 1`,
 * pipelined): how many times it was handed to a consumer, this time included.
 *
 * @param redis a connection
 * @param stream the stream
 * @param group the group
 * @param ids the entries
 * @returns id → deliveries (entries no longer pending are absent)
 */
export async function deliveryCounts(
  redis: Commands,
  stream: string,
  group: string,
  ids: string[],
): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  if (ids.length === 0) return counts;
  const pipeline = redis.pipeline();
  for (const id of ids) pipeline.xpending(stream, group, id, id, 1);
  for (const [err, reply] of (await pipeline.exec()) ?? []) {
    if (err) throw err;
    const row = (reply as unknown[][])[0];
    if (row) counts.set(String(row[0]), Number(row[3]));
  }
  return counts;
}
