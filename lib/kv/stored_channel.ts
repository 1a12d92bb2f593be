/**
 * The announcement of what kv_updater stored: after each batch it publishes
 * the keys it wrote, as a JSON array, on the update channel's "stored"
 * channel (`update` → `update:stored`). An API server that hears it reads
 * those keys at once; one that follows an updater that does not announce
 * (the seed's Python updater) reads each update's key until it is stored.
 *
 * @module
 */
import { typeNameProblem } from "./message.ts";

/**
 * The channel the keys stored for updates of `channel` are announced on.
 *
 * @param channel the update channel
 * @returns its "stored" channel
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { storedChannel } from "./stored_channel.ts";
 * assert.equal(storedChannel("update"), "update:stored");
 * ```
 */
export function storedChannel(channel: string): string {
  return `${channel}:stored`;
}

/**
 * The types an announcement names under `prefix`: keys of other prefixes, and anything not a list of keys, are left
 * out.
 *
 * @param payload the announcement as published (a JSON array of keys)
 * @param prefix the key prefix the reader uses
 * @returns the types
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { announcedTypes } from "./stored_channel.ts";
 * const payload = new TextEncoder().encode('["kv:Moon","other:Sun","kv:Weather"]');
 * assert.deepEqual(announcedTypes(payload, "kv:"), ["Moon", "Weather"]);
 * ```
 */
export function announcedTypes(payload: Uint8Array, prefix: string): string[] {
  let keys: unknown;
  try {
    keys = JSON.parse(new TextDecoder().decode(payload));
  } catch {
    return [];
  }
  if (!Array.isArray(keys)) return [];
  return keys.flatMap((key) => {
    if (typeof key !== "string" || !key.startsWith(prefix)) return [];
    const type = key.slice(prefix.length);
    return typeNameProblem(type) === undefined ? [type] : [];
  });
}
