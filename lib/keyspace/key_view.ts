/**
 * A key's value shown sensibly whatever its type: strings byte for byte,
 * collections as their size and first few members, a missing key as gone.
 *
 * @module
 */
import type { Commands } from "../endpoint/link.ts";
import { escapeControl, showPayload } from "../core/output.ts";

/** How many members of a collection are shown. */
export const PREVIEW_MEMBERS = 10;

/** A key's value, ready for text and JSON output. */
export interface KeyView {
  /** The key's type: `string`, `hash`, `list`, `set`, `zset`, `stream`, `none` (gone), or a module type. */
  type: string;
  /** One line for text output (control characters escaped). */
  text: string;
  /** The value for JSON output. */
  json: Record<string, unknown>;
  /** The text a timestamp is looked for in. */
  searchable: string;
}

/**
 * Shows a string value (binary-safe) or a missing key.
 *
 * @param type the key's type (`string` or `none`)
 * @param value the string's bytes, when it is a string
 * @returns the view
 * @example
 * ```ts
 * import { stringView } from "./key_view.ts";
 * import assert from "node:assert/strict";
 * assert.equal(stringView("string", new TextEncoder().encode("hi")).text, "hi");
 * ```
 */
export function stringView(type: string, value: Uint8Array | null | undefined): KeyView {
  if (type !== "string" || !value) return goneView(type);
  const shown = showPayload(value);
  return { type, text: shown.text, json: { value: shown.json.payload, ...rest(shown.json) }, searchable: shown.text };
}

function rest(json: { encoding?: string }): Record<string, unknown> {
  return json.encoding ? { encoding: json.encoding } : {};
}

function goneView(type: string): KeyView {
  return type === "none"
    ? { type, text: "(key no longer exists)", json: { value: null }, searchable: "" }
    : { type, text: `(${type})`, json: { value: null }, searchable: "" };
}

/**
 * Reads a key of any type: a string whole, a hash, list, set, sorted set
 * or stream as its size and first {@linkcode PREVIEW_MEMBERS} members
 * (one round trip), anything else as its type.
 *
 * @param redis a link's commands (one server's, or a cluster's, routed by key)
 * @param key the key
 * @param type its type, from TYPE
 * @returns the view
 * @example
 * ```ts ignore
 * const view = await readKeyView(redis, "user:1", "hash");
 * console.log(view.text); // hash, 2 fields: {name=ann, ts=1725543675}
 * ```
 */
export async function readKeyView(redis: Commands, key: string, type: string): Promise<KeyView> {
  const n = PREVIEW_MEMBERS;
  switch (type) {
    case "string":
      return stringView(type, await redis.getBuffer(key));
    case "hash": {
      const [size, [, flat]] = await Promise.all([redis.hlen(key), redis.hscan(key, "0", "COUNT", n)]);
      const entries = pairs(flat).slice(0, n);
      return collection(type, size, "field", entries.map(([f, v]) => `${f}=${v}`), Object.fromEntries(entries));
    }
    case "list": {
      const [size, items] = await Promise.all([redis.llen(key), redis.lrange(key, 0, n - 1)]);
      return collection(type, size, "item", items, items);
    }
    case "set": {
      const [size, [, members]] = await Promise.all([redis.scard(key), redis.sscan(key, "0", "COUNT", n)]);
      return collection(type, size, "member", members.slice(0, n), members.slice(0, n));
    }
    case "zset": {
      const [size, flat] = await Promise.all([redis.zcard(key), redis.zrange(key, "0", String(n - 1), "WITHSCORES")]);
      const entries = pairs(flat);
      return collection(type, size, "member", entries.map(([m, s]) => `${m}:${s}`), Object.fromEntries(entries));
    }
    case "stream": {
      const [size, last] = await Promise.all([redis.xlen(key), redis.xrevrange(key, "+", "-", "COUNT", 1)]);
      const entry = last[0];
      const fields = entry ? Object.fromEntries(pairs(entry[1])) : {};
      const shown = entry ? [`last ${entry[0]}: ${pairs(entry[1]).map(([f, v]) => `${f}=${v}`).join(", ")}`] : [];
      return collection(type, size, "entry", shown, entry ? { id: entry[0], fields } : null);
    }
    default:
      return goneView(type);
  }
}

function pairs(flat: string[]): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i + 1 < flat.length; i += 2) out.push([flat[i]!, flat[i + 1]!]);
  return out;
}

function collection(type: string, size: number, noun: string, shown: string[], value: unknown): KeyView {
  const more = size > shown.length ? ", …" : "";
  const body = escapeControl(shown.join(", ")) + more;
  return {
    type,
    text: `${type}, ${size} ${noun}${size === 1 ? "" : "s"}: {${body}}`,
    json: { value, length: size },
    searchable: shown.join(" "),
  };
}
