/**
 * The announcement of what kv_updater stored: after each batch it publishes
 * what it wrote — each key with its stored text — on the update channel's
 * "stored" channel (`update` → `update:stored`), numbered, so that a reader
 * can tell an older announcement that arrives late (on a cluster, PUBLISHes
 * sent through different nodes may cross) from a newer one. An API server
 * that hears it sends those values at once, without reading them back; one
 * that follows an updater that does not announce (the seed's Python
 * updater) reads each update's key until it is stored.
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

/** One announcement: who stored what, and in which order. */
export interface StoredAnnouncement {
  /** The updater that stored them (a random id per run). */
  by: string;
  /** The announcement's number, 1 for the updater's first: a higher one was stored later. */
  seq: number;
  /** Each type stored under the reader's prefix, with its stored text. */
  stored: [type: string, text: string][];
}

/**
 * Numbers the announcements of one updater.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Announcer, parseAnnouncement } from "./stored_channel.ts";
 * const announcer = new Announcer();
 * const payload = new TextEncoder().encode(announcer.payload([["kv:Moon", '{"values":{}}']]));
 * assert.deepEqual(parseAnnouncement(payload, "kv:")?.stored, [["Moon", '{"values":{}}']]);
 * ```
 */
export class Announcer {
  /** This updater's id. */
  readonly by: string = crypto.randomUUID().slice(0, 8);
  #seq = 0;

  /**
   * The next announcement's payload.
   *
   * @param stored each key stored, with its stored text
   * @returns the JSON to publish
   */
  payload(stored: readonly [key: string, text: string][]): string {
    return JSON.stringify({ by: this.by, seq: ++this.#seq, stored: Object.fromEntries(stored) });
  }
}

/**
 * An announcement as published, with the types under `prefix` (keys of other prefixes left out), or undefined when
 * it is not one.
 *
 * @param payload the message
 * @param prefix the key prefix the reader uses
 * @returns the announcement
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseAnnouncement } from "./stored_channel.ts";
 * const text = '{"by":"a1","seq":3,"stored":{"kv:Moon":"{}","other:Sun":"{}"}}';
 * assert.deepEqual(parseAnnouncement(new TextEncoder().encode(text), "kv:"), { by: "a1", seq: 3, stored: [["Moon", "{}"]] });
 * assert.equal(parseAnnouncement(new TextEncoder().encode("[1]"), "kv:"), undefined);
 * ```
 */
export function parseAnnouncement(payload: Uint8Array, prefix: string): StoredAnnouncement | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(new TextDecoder().decode(payload));
  } catch {
    return undefined;
  }
  if (typeof doc !== "object" || doc === null) return undefined;
  const { by, seq, stored } = doc as Record<string, unknown>;
  if (typeof by !== "string" || typeof seq !== "number" || typeof stored !== "object" || stored === null) {
    return undefined;
  }
  const types: [string, string][] = [];
  for (const [key, text] of Object.entries(stored)) {
    if (typeof text !== "string" || !key.startsWith(prefix)) continue;
    const type = key.slice(prefix.length);
    if (typeNameProblem(type) === undefined) types.push([type, text]);
  }
  return { by, seq, stored: types };
}
