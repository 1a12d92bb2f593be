/**
 * The common update read in one pass: the JSON text is checked and the
 * stored text (Python's `json.dumps` of `updated`, `valid` and `values`,
 * lib/kv/python_json.ts) is written while it is read — no tree of `Map`s
 * and number objects in between, which is most of what checking an update
 * cost. It takes only what it can be sure of: printable-ASCII strings
 * without escapes, objects without a repeated key, nesting within the
 * limit, and an update whose fields are all right; anything else it leaves
 * to the full reader (`parseUpdate` in lib/kv/message.ts), which accepts or
 * refuses it and says why. So what it gives is byte for byte what the full
 * reader gives (tests/kv/message_test.ts compares them).
 *
 * @module
 */
import { MAX_JSON_DEPTH } from "../core/json_depth.ts";
import { isIsoTime, parseIsoTime } from "../core/iso_time.ts";
import type { KvUpdate } from "./message.ts";
import { numberEnd, pythonNumber } from "./python_json.ts";

/** Where the reader is in the text (one module-level state: the reader never runs twice at once). */
let text = "";
let at = 0;
/**
 * The pieces of Python's text of `values` (when `write` is on), joined once at the end: one flat string to keep while
 * the update waits, not a tree of pieces for the garbage collector to copy.
 */
const parts: string[] = [];
/** Where the plain string just read as a value starts and ends in the text, quotes left out; -1 for another value. */
let lastStart = -1;
let lastEnd = -1;

/** The last `valid` time read, and its epoch ms. */
let lastValid: string | undefined;
let lastValidAt: number | undefined;

/** Skips JSON whitespace. */
function space(): void {
  // Local copies in the loops (here and in plainString): the module's `text` and `at` are read and written once.
  const t = text;
  let i = at;
  for (let c = t.charCodeAt(i); c === 32 || c === 10 || c === 13 || c === 9; c = t.charCodeAt(++i));
  at = i;
}

/**
 * Reads a string of printable ASCII without escapes (its own Python text), `at` on its opening quote and then past
 * its closing one: where that closing quote is, or -1 for any other string (left to the full reader).
 */
function plainString(): number {
  const t = text;
  let i = at;
  for (let c = t.charCodeAt(++i); c !== 34; c = t.charCodeAt(++i)) {
    // A control character, non-ASCII, DEL, an escape, or the end of the text (NaN).
    if (!(c >= 0x20 && c <= 0x7e) || c === 92) return (at = i, -1);
  }
  at = i + 1;
  return i;
}

/**
 * Reads one value at `at` (after whitespace), adding Python's text of it to `parts` when `write`; false when it is
 * not one this reader takes.
 */
function value(depth: number, write: boolean): boolean {
  space();
  lastStart = -1;
  const c = text.charCodeAt(at);
  if (c === 34) {
    const start = at;
    const end = plainString();
    if (end < 0) return false;
    if (write) parts.push(text.slice(start, at)); // with its quotes
    lastStart = start + 1;
    lastEnd = end;
    return true;
  }
  if (c === 123 || c === 91) {
    if (depth >= MAX_JSON_DEPTH) return false;
    const ok = c === 123 ? object(depth + 1, write) : array(depth + 1, write);
    lastStart = -1; // not what a string inside it left
    return ok;
  }
  if (c === 116 && text.startsWith("true", at)) return (at += 4, write && parts.push("true"), true);
  if (c === 102 && text.startsWith("false", at)) return (at += 5, write && parts.push("false"), true);
  if (c === 110 && text.startsWith("null", at)) return (at += 4, write && parts.push("null"), true);
  const end = numberEnd(text, at);
  if (end < 0) return false;
  if (write) {
    const python = pythonNumber(text.slice(at, end));
    // A literal too large for a double is refused by the full reader, with its reason.
    if (python.endsWith("Infinity")) return false;
    parts.push(python);
  }
  at = end;
  return true;
}

/** What follows a member of an object or array. */
const Next = { more: 0, closed: 1, bad: 2 } as const;

/** Reads past what follows a member: a `,` (more to come), the closing `close` (`}` or `]`), or anything else (bad). */
function afterMember(close: number): number {
  space();
  const c = text.charCodeAt(at++);
  return c === close ? Next.closed : c === 44 ? Next.more : Next.bad;
}

/** Reads an object, `at` on its `{`. */
function object(depth: number, write: boolean): boolean {
  at++;
  space();
  if (text.charCodeAt(at) === 125) return (at++, write && parts.push("{}"), true);
  // Its keys so far, where a repeated one matters: in Python it keeps its first place and its last value.
  const keys: string[] | undefined = write ? [] : undefined;
  for (let first = true;; first = false) {
    space();
    const start = at;
    if (text.charCodeAt(at) !== 34 || plainString() < 0) return false;
    if (keys) {
      const key = text.slice(start, at); // with its quotes
      if (keys.includes(key)) return false; // left to the full reader
      keys.push(key);
      parts.push(first ? "{" : ", ", key, ": ");
    }
    space();
    if (text.charCodeAt(at) !== 58) return false;
    at++;
    if (!value(depth, write)) return false;
    const next = afterMember(125);
    if (next === Next.closed) break;
    if (next === Next.bad) return false;
  }
  if (write) parts.push("}");
  return true;
}

/** Reads an array, `at` on its `[`. */
function array(depth: number, write: boolean): boolean {
  at++;
  space();
  if (text.charCodeAt(at) === 93) return (at++, write && parts.push("[]"), true);
  for (let first = true;; first = false) {
    if (write) parts.push(first ? "[" : ", ");
    if (!value(depth, write)) return false;
    const next = afterMember(93);
    if (next === Next.closed) break;
    if (next === Next.bad) return false;
  }
  if (write) parts.push("]");
  return true;
}

/**
 * Reads an update in one pass, when it is of the common kind (see the module's description) and valid: its fields,
 * with the text to store; otherwise undefined, and the full reader decides.
 *
 * @param json the message's text
 * @param typeProblem what is wrong with a `type` as a key name (`typeNameProblem` of lib/kv/message.ts)
 * @returns the update, or undefined
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { quickUpdate } from "./stored_text.ts";
 * const u = quickUpdate('{"type":"Moon","updated":"2023-10-01T12:00:00Z","valid":"2023-10-01T12:05:32Z",' +
 *   '"values":{"phase":0.5}}', () => undefined);
 * const stored = '{"updated": "2023-10-01T12:00:00Z", "valid": "2023-10-01T12:05:32Z", "values": {"phase": 0.5}}';
 * assert.equal(u?.stored, stored);
 * ```
 */
export function quickUpdate(json: string, typeProblem: (type: string) => string | undefined): KvUpdate | undefined {
  text = json;
  at = 0;
  try {
    return readUpdate(typeProblem);
  } finally {
    text = "";
    parts.length = 0;
  }
}

/** The fields of an update the reader tells apart. */
const Field = { other: 0, type: 1, updated: 2, valid: 3, values: 4 } as const;

function readUpdate(typeProblem: (type: string) => string | undefined): KvUpdate | undefined {
  space();
  if (text.charCodeAt(at) !== 123) return undefined;
  at++;
  let type: string | undefined, updated: string | undefined, valid: string | undefined, values = false;
  space();
  if (text.charCodeAt(at) === 125) return undefined; // {}: fields missing
  for (;;) {
    space();
    if (text.charCodeAt(at) !== 34) return undefined;
    // A field written twice: its last value counts, as in the full reader (the stored text's order is fixed).
    const keyStart = at + 1;
    const keyEnd = plainString();
    if (keyEnd < 0) return undefined;
    const field = keyEnd - keyStart === 6 && text.startsWith("values", keyStart)
      ? Field.values
      : keyEnd - keyStart === 4 && text.startsWith("type", keyStart)
      ? Field.type
      : keyEnd - keyStart === 7 && text.startsWith("updated", keyStart)
      ? Field.updated
      : keyEnd - keyStart === 5 && text.startsWith("valid", keyStart)
      ? Field.valid
      : Field.other;
    space();
    if (text.charCodeAt(at) !== 58) return undefined;
    at++;
    const isValues = field === Field.values;
    space();
    if (isValues) {
      if (text.charCodeAt(at) !== 123) return undefined; // not an object
      parts.length = 0;
      parts.push('{"updated": "', "", '", "valid": "', "", '", "values": ');
    }
    if (!value(1, isValues)) return undefined;
    if (isValues) {
      parts.push("}");
      values = true;
    } else if (field !== Field.other) {
      if (lastStart < 0) return undefined; // not a plain string
      const s = text.slice(lastStart, lastEnd);
      if (field === Field.type) type = s;
      else if (field === Field.updated) updated = s;
      else valid = s;
    }
    const next = afterMember(125);
    if (next === Next.closed) break;
    if (next === Next.bad) return undefined;
  }
  space();
  if (at < text.length) return undefined;
  if (type === undefined || updated === undefined || valid === undefined || !values) return undefined;
  if (typeProblem(type) !== undefined || !isIsoTime(updated)) return undefined;
  // Updates of one source mostly share their valid time: read once while it stays the same.
  if (valid === lastValid) valid = lastValid; // one string kept for all (this one is a slice of its message)
  else [lastValid, lastValidAt] = [valid, parseIsoTime(valid)];
  const validAt = lastValidAt;
  if (validAt === undefined) return undefined;
  // The stored text as one flat string: the times go into the places left for them before `values`.
  parts[1] = updated;
  parts[3] = valid;
  return { type, updated, valid, validAt, stored: parts.join("") };
}
