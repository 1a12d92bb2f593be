/**
 * The Redis-first chain's update message: how it is checked, which key it
 * goes to, and the exact text stored there.
 *
 * Incoming (published on the update channel):
 * `{"type": "Weather", "updated": "2023-10-01T12:00:00Z", "valid": "2023-10-01T12:05:32Z", "values": {...}}`
 *
 * Stored under `<prefix><type>`, as the Python-era kv_updater stored it
 * (`json.dumps` of the three other fields, in this order; other fields dropped):
 * `{"updated": "2023-10-01T12:00:00Z", "valid": "2023-10-01T12:05:32Z", "values": {...}}`
 *
 * @module
 */
import {
  dumpsPython,
  findInfinite,
  type JsonNode,
  type JsonObject,
  parseOrdered,
  pythonString,
} from "./python_json.ts";
import { Buffer } from "node:buffer";
import { parseByteSize } from "../core/byte_size.ts";
import { quickUpdate } from "./stored_text.ts";
import { UsageError } from "../core/exit_codes.ts";
import { escapeControl } from "../core/output.ts";
import { parseIsoTime } from "../core/iso_time.ts";

export { parseIsoTime };

/** Why a message was refused. */
export type RejectReason =
  | "too_large"
  | "invalid_json"
  | "not_an_object"
  | "missing_field"
  | "bad_type"
  | "unsafe_type"
  | "bad_time"
  | "bad_values";

/** A checked update, ready to store. */
export interface KvUpdate {
  /** The `type` field: the key name without the prefix. */
  type: string;
  /** The `updated` time as written. */
  updated: string;
  /** The `valid` time as written. */
  valid: string;
  /** `valid` in epoch ms (a time without a zone is taken as UTC). */
  validAt: number;
  /** The text to store: the seed's format, byte for byte. */
  stored: string;
}

/** A refused message: why, in words, and the start of what was received. */
export interface Rejection {
  /** The reason, for counting. */
  reason: RejectReason;
  /** What exactly is wrong, for the log. */
  detail: string;
  /** The first characters of the payload, control characters escaped. */
  excerpt: string;
}

/** The result of {@linkcode parseUpdate}. */
export type ParsedUpdate = { ok: true; update: KvUpdate } | { ok: false; rejection: Rejection };

/** The longest `type` accepted. */
export const MAX_TYPE_LENGTH = 128;

/** Characters a `type` may contain: letters, digits, `_ - . :`, starting with a letter or digit. */
export const TYPE_PATTERN = /^[A-Za-z0-9][A-Za-z0-9_.:-]*$/;

/** Payload size refused by default (bytes). */
export const DEFAULT_MAX_BYTES = 1024 * 1024;

/**
 * Reads `--max-bytes` the same way in kv_updater and api_server, so both refuse the same messages.
 *
 * @param text the flag's value, if given
 * @returns the limit in bytes ({@linkcode DEFAULT_MAX_BYTES} when not given)
 * @example
 * ```ts
 * import { DEFAULT_MAX_BYTES, parseMaxBytes } from "./message.ts";
 * import assert from "node:assert/strict";
 * assert.equal(parseMaxBytes(undefined), DEFAULT_MAX_BYTES);
 * assert.equal(parseMaxBytes("64kb"), 65536);
 * ```
 */
export function parseMaxBytes(text: string | undefined): number {
  return text === undefined ? DEFAULT_MAX_BYTES : parseByteSize(text, "--max-bytes");
}

const EXCERPT_CHARS = 80;
const decoder = new TextDecoder("utf-8", { fatal: true });

/**
 * A payload as text, or undefined when it is not valid UTF-8 — what the strict decoder says, at a fraction of its cost:
 * a Buffer's own decoding (in a profile of kv_updater the strict decoder took a fifth of checking an update), asked
 * again strictly only when that put in a replacement character (a byte that is no UTF-8, or one that was sent) or
 * kept a byte order mark (which the strict decoder drops).
 */
function utf8Text(payload: Uint8Array): string | undefined {
  const bytes = payload instanceof Buffer
    ? payload
    : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  const text = bytes.toString("utf8");
  if (!text.includes("\uFFFD") && text.charCodeAt(0) !== 0xfeff) return text;
  try {
    return decoder.decode(payload);
  } catch {
    return undefined;
  }
}

/**
 * Says what is wrong with a `type` as a key name, if anything: it must be
 * 1–128 characters of letters, digits, `_ - . :`, starting with a letter or
 * digit — no spaces, slashes, glob characters or control characters.
 *
 * @param type the proposed type
 * @returns the problem, or undefined when the name is safe
 * @example
 * ```ts
 * import { typeNameProblem } from "./message.ts";
 * import assert from "node:assert/strict";
 * assert.equal(typeNameProblem("Weather"), undefined);
 * assert.notEqual(typeNameProblem("a b"), undefined);
 * ```
 */
export function typeNameProblem(type: string): string | undefined {
  if (type.length === 0) return "is empty";
  if (type.length > MAX_TYPE_LENGTH) return `is ${type.length} characters long (at most ${MAX_TYPE_LENGTH})`;
  if (!TYPE_PATTERN.test(type)) {
    return "may only contain letters, digits, '_', '-', '.' and ':', and must start with a letter or digit";
  }
  return undefined;
}

/**
 * Reads `--prefix` the same way in kv_updater and api_server: at most 64 of
 * letters, digits and `_ - . : /` (no spaces or glob characters, so `SCAN
 * MATCH <prefix>*` finds exactly the stored types).
 *
 * @param text the flag's value, if given
 * @returns the prefix (empty when not given, as in the seed)
 * @throws {UsageError} when the prefix is not usable
 * @example
 * ```ts
 * import { parsePrefix } from "./message.ts";
 * import assert from "node:assert/strict";
 * assert.equal(parsePrefix("kv:"), "kv:");
 * assert.equal(parsePrefix(undefined), "");
 * ```
 */
export function parsePrefix(text: string | undefined): string {
  const prefix = text ?? "";
  if (prefix.length > 64) throw new UsageError(`--prefix "${prefix}" is ${prefix.length} characters long (at most 64)`);
  if (!/^[A-Za-z0-9_.:\/-]*$/.test(prefix)) {
    throw new UsageError(`--prefix "${prefix}" may only contain letters, digits, '_', '-', '.', ':' and '/'`);
  }
  return prefix;
}

/**
 * The first characters of a payload for a log line: control characters
 * escaped, cut at 80 characters with the total size.
 *
 * @param text the payload as text
 * @param bytes its size in bytes
 * @returns the excerpt
 * @example
 * ```ts
 * import { excerpt } from "./message.ts";
 * import assert from "node:assert/strict";
 * assert.equal(excerpt("a\nb", 3), "a\\nb");
 * ```
 */
export function excerpt(text: string, bytes: number): string {
  if (text.length <= EXCERPT_CHARS) return escapeControl(text);
  return `${escapeControl(text.slice(0, EXCERPT_CHARS))}… (${bytes} bytes)`;
}

function describe(node: JsonNode | undefined): string {
  if (node === undefined) return "missing";
  if (node === null) return "null";
  if (Array.isArray(node)) return "an array";
  if (node instanceof Map) return "an object";
  if (typeof node === "string") {
    return `the string ${JSON.stringify(node.length > 40 ? node.slice(0, 40) + "…" : node)}`;
  }
  if (typeof node === "boolean") return String(node);
  return `the number ${node.text}`;
}

/**
 * Checks one payload from the update channel and, when it is valid, gives
 * the key's type and the exact text to store.
 *
 * @param payload the message as received
 * @param maxBytes payloads larger than this are refused unread
 * @returns the update, or why it was refused
 * @example
 * ```ts
 * import { parseUpdate } from "./message.ts";
 * import assert from "node:assert/strict";
 * const msg = '{"type":"Moon","updated":"2023-10-01T12:00:00Z","valid":"2023-10-01T12:05:32Z","values":{"phase":0.5}}';
 * const parsed = parseUpdate(new TextEncoder().encode(msg));
 * assert.ok(parsed.ok);
 * assert.equal(
 *   parsed.update.stored,
 *   '{"updated": "2023-10-01T12:00:00Z", "valid": "2023-10-01T12:05:32Z", "values": {"phase": 0.5}}',
 * );
 * ```
 */
export function parseUpdate(payload: Uint8Array, maxBytes = DEFAULT_MAX_BYTES): ParsedUpdate {
  if (payload.byteLength > maxBytes) {
    const head = new TextDecoder().decode(payload.subarray(0, EXCERPT_CHARS * 4));
    return reject("too_large", `${payload.byteLength} bytes is more than --max-bytes ${maxBytes}`, head, payload);
  }
  const text = utf8Text(payload);
  if (text === undefined) return reject("invalid_json", "not valid UTF-8", new TextDecoder().decode(payload), payload);
  // The common update is read in one pass; anything else by the full reader, which also says what is wrong.
  const quick = quickUpdate(text, typeNameProblem);
  if (quick) return { ok: true, update: quick };
  let root: JsonNode;
  try {
    root = parseOrdered(text);
  } catch (err) {
    return reject("invalid_json", (err as Error).message, text, payload);
  }
  if (!(root instanceof Map)) return reject("not_an_object", `the message is ${describe(root)}`, text, payload);
  const problem = checkFields(root);
  if (problem) return reject(problem[0], problem[1], text, payload);
  const type = root.get("type") as string;
  const updated = root.get("updated") as string;
  const valid = root.get("valid") as string;
  const stored = `{"updated": ${pythonString(updated)}, "valid": ${pythonString(valid)}, "values": ${
    dumpsPython(root.get("values")!)
  }}`;
  return { ok: true, update: { type, updated, valid, validAt: parseIsoTime(valid)!, stored } };
}

function checkFields(root: JsonObject): [RejectReason, string] | undefined {
  const missing = ["type", "updated", "valid", "values"].filter((f) => !root.has(f));
  if (missing.length > 0) return ["missing_field", `no ${missing.map((f) => `"${f}"`).join(", ")} field`];
  const type = root.get("type");
  if (typeof type !== "string") return ["bad_type", `"type" must be a string, got ${describe(type)}`];
  const unsafe = typeNameProblem(type);
  if (unsafe) return [type === "" ? "bad_type" : "unsafe_type", `"type" ${unsafe}`];
  for (const field of ["updated", "valid"]) {
    const value = root.get(field);
    if (typeof value !== "string" || parseIsoTime(value) === undefined) {
      return ["bad_time", `"${field}" must be an ISO-8601 time such as 2023-10-01T12:00:00Z, got ${describe(value)}`];
    }
  }
  const values = root.get("values");
  if (!(values instanceof Map)) return ["bad_values", `"values" must be an object, got ${describe(values)}`];
  const infinite = findInfinite(values);
  if (infinite !== undefined) return ["bad_values", `"values" has the number ${infinite}, too large for JSON`];
  return undefined;
}

function reject(reason: RejectReason, detail: string, text: string, payload: Uint8Array): ParsedUpdate {
  return { ok: false, rejection: { reason, detail, excerpt: excerpt(text, payload.byteLength) } };
}

/**
 * The stored value plus its type: what the API and the live page send for
 * one update (`{"type": ..., "updated": ..., "valid": ..., "values": ...}`).
 *
 * @param type the type (key without the prefix)
 * @param stored the stored text
 * @returns the event's JSON text, or undefined when the stored text is not a stored update
 * @example
 * ```ts
 * import { updateEventJson } from "./message.ts";
 * import assert from "node:assert/strict";
 * assert.equal(
 *   updateEventJson("Moon", '{"updated": "u", "valid": "v", "values": {}}'),
 *   '{"type":"Moon","updated":"u","valid":"v","values":{}}',
 * );
 * ```
 */
export function updateEventJson(type: string, stored: string): string | undefined {
  let value: unknown;
  try {
    value = JSON.parse(stored);
  } catch {
    return undefined;
  }
  if (typeof value !== "object" || value === null || Array.isArray(value) || !("values" in value)) return undefined;
  return JSON.stringify({ type, ...value });
}
