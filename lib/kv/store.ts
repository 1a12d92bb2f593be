/**
 * Reading what the KV updater stored: the types under a prefix and their
 * stored values.
 *
 * @module
 */
import type { Cluster, Redis } from "ioredis";
import { typeNameProblem, updateEventJson } from "./message.ts";

/** Keys asked for per SCAN step. */
const SCAN_COUNT = 1000;

/**
 * The candidate types under `prefix`: string keys `<prefix><type>` whose type
 * part is a safe type name, sorted. Found with SCAN, never KEYS. Their values
 * are not checked: {@linkcode readAllStored} keeps only stored updates. On a
 * cluster every master is scanned (each holds the keys of its slots).
 *
 * @param redis a connected client, or a cluster client
 * @param prefix the key prefix the updater uses
 * @returns the type names
 * @example
 * ```ts ignore
 * console.log(await listTypes(redis, "kv:")); // ["AQI", "Moon", "Weather"]
 * ```
 */
export async function listTypes(redis: Redis | Cluster, prefix: string): Promise<string[]> {
  const types = new Set<string>();
  const nodes = redis.isCluster ? (redis as Cluster).nodes("master") : [redis as Redis];
  await Promise.all(nodes.map((node) => scanTypes(node, prefix, types)));
  return [...types].sort();
}

/** Adds the candidate types one server holds to `types`. */
async function scanTypes(redis: Redis, prefix: string, types: Set<string>): Promise<void> {
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", SCAN_COUNT, "TYPE", "string");
    cursor = next;
    for (const key of keys) {
      const type = key.slice(prefix.length);
      if (typeNameProblem(type) === undefined) types.add(type);
    }
  } while (cursor !== "0");
}

/**
 * The stored texts of some types, in one round trip (on a cluster, one GET
 * per key, routed by slot and sent together per node when the client
 * pipelines automatically).
 *
 * @param redis a connected client, or a cluster client
 * @param prefix the key prefix
 * @param types the types to read
 * @returns each type's stored text, or null when absent
 * @example
 * ```ts ignore
 * const [weather] = await readStored(redis, "", ["Weather"]);
 * ```
 */
export async function readStored(
  redis: Redis | Cluster,
  prefix: string,
  types: readonly string[],
): Promise<(string | null)[]> {
  if (types.length === 0) return [];
  if (redis.isCluster) return await Promise.all(types.map((t) => redis.get(prefix + t)));
  return await redis.mget(types.map((t) => prefix + t));
}

/** One stored update, as {@linkcode readAllStored} finds it. */
export interface StoredUpdate {
  /** The type (the key without the prefix). */
  type: string;
  /** The stored text, as kv_updater wrote it. */
  stored: string;
  /** The event JSON for it (`{"type": ..., "updated": ..., "valid": ..., "values": ...}`). */
  event: string;
}

/**
 * Every stored update under `prefix`, sorted by type: keys whose value is not
 * a stored update (another lab's keys, with an empty prefix) are left out.
 *
 * @param redis a connected client, or a cluster client
 * @param prefix the key prefix the updater uses
 * @returns the stored updates
 * @example
 * ```ts ignore
 * for (const { type, stored } of await readAllStored(redis, "kv:")) console.log(type, stored);
 * ```
 */
export async function readAllStored(redis: Redis | Cluster, prefix: string): Promise<StoredUpdate[]> {
  const types = await listTypes(redis, prefix);
  const found: StoredUpdate[] = [];
  for (let start = 0; start < types.length; start += SCAN_COUNT) {
    const batch = types.slice(start, start + SCAN_COUNT);
    const values = await readStored(redis, prefix, batch);
    batch.forEach((type, n) => {
      const stored = values[n];
      const event = stored ? updateEventJson(type, stored) : undefined;
      if (stored && event) found.push({ type, stored, event });
    });
  }
  return found;
}
