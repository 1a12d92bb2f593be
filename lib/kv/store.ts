/**
 * Reading what the KV updater stored: the types under a prefix and their
 * stored values.
 *
 * @module
 */
import type { Redis } from "ioredis";
import { typeNameProblem, updateEventJson } from "./message.ts";

/** Keys asked for per SCAN step. */
const SCAN_COUNT = 1000;

/**
 * The candidate types under `prefix`: string keys `<prefix><type>` whose type
 * part is a safe type name, sorted. Found with SCAN, never KEYS. Their values
 * are not checked: {@linkcode readAllStored} keeps only stored updates.
 *
 * @param redis a connected client
 * @param prefix the key prefix the updater uses
 * @returns the type names
 * @example
 * ```ts ignore
 * console.log(await listTypes(redis, "kv:")); // ["AQI", "Moon", "Weather"]
 * ```
 */
export async function listTypes(redis: Redis, prefix: string): Promise<string[]> {
  const types = new Set<string>();
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", SCAN_COUNT, "TYPE", "string");
    cursor = next;
    for (const key of keys) {
      const type = key.slice(prefix.length);
      if (typeNameProblem(type) === undefined) types.add(type);
    }
  } while (cursor !== "0");
  return [...types].sort();
}

/**
 * The stored texts of some types, in one round trip.
 *
 * @param redis a connected client
 * @param prefix the key prefix
 * @param types the types to read
 * @returns each type's stored text, or null when absent
 * @example
 * ```ts ignore
 * const [weather] = await readStored(redis, "", ["Weather"]);
 * ```
 */
export async function readStored(redis: Redis, prefix: string, types: readonly string[]): Promise<(string | null)[]> {
  if (types.length === 0) return [];
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
 * @param redis a connected client
 * @param prefix the key prefix the updater uses
 * @returns the stored updates
 * @example
 * ```ts ignore
 * for (const { type, stored } of await readAllStored(redis, "kv:")) console.log(type, stored);
 * ```
 */
export async function readAllStored(redis: Redis, prefix: string): Promise<StoredUpdate[]> {
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
