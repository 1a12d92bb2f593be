/**
 * Reading what the KV updater stored: the types under a prefix and their
 * stored values.
 *
 * @module
 */
import type { Redis } from "ioredis";
import { typeNameProblem } from "./kv_message.ts";

/** Keys asked for per SCAN step. */
const SCAN_COUNT = 1000;

/**
 * The types stored under `prefix`: string keys `<prefix><type>` whose type
 * part is a safe type name, sorted. Found with SCAN, never KEYS.
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
