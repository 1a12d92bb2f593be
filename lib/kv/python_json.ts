/**
 * JSON read in order and written exactly as Python's `json.dumps` writes it
 * (`", "` and `": "` separators, non-ASCII as `\uXXXX`, floats as Python's
 * `repr`), so values stored by the TypeScript chain are byte-for-byte those
 * the Python-era services stored — and those services read ours unchanged.
 *
 * `JSON.parse` cannot do this: it moves integer-like keys first and turns
 * `1.0` into `1`. {@linkcode parseOrdered} keeps key order (objects are
 * `Map`s) and number literals ({@linkcode JsonNumber}).
 *
 * @module
 */
import { jsonDepthProblem } from "../core/json_depth.ts";

/** A number as it was written, so `1.0` and `12345678901234567890` survive. */
export class JsonNumber {
  /**
   * Creates a JsonNumber.
   *
   * @param text the literal from the JSON text
   */
  constructor(readonly text: string) {}
}

/** A JSON value with object key order and number literals kept. */
export type JsonNode = null | boolean | string | JsonNumber | JsonNode[] | JsonObject;

/** A JSON object, in the order its keys were first written (a repeated key keeps its first place, last value). */
export type JsonObject = Map<string, JsonNode>;

/** Thrown by {@linkcode parseOrdered} for text that is not JSON. */
export class JsonSyntaxError extends Error {
  /**
   * Creates a JsonSyntaxError.
   *
   * @param message what is wrong and where
   */
  constructor(message: string) {
    super(message);
    this.name = "JsonSyntaxError";
  }
}

/** Whether a UTF-16 code (NaN past the end) is a decimal digit. */
const isDigit = (c: number) => c >= 48 && c <= 57;

/**
 * Where the JSON number starting at `i` ends: the longest match of
 * `-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?`, read by its characters; -1 when none starts there.
 *
 * @param text a JSON text
 * @param i where the number would start
 * @returns the index just past it, or -1
 * @example
 * ```ts
 * import { numberEnd } from "./python_json.ts";
 * import assert from "node:assert/strict";
 * assert.equal(numberEnd("[21.5, 1]", 1), 5);
 * assert.equal(numberEnd("[x]", 1), -1);
 * ```
 */
export function numberEnd(text: string, i: number): number {
  let j = text.charCodeAt(i) === 45 ? i + 1 : i; // -
  const first = text.charCodeAt(j);
  if (first === 48) j++;
  else if (isDigit(first)) { for (j++; isDigit(text.charCodeAt(j)); j++); }
  else return -1;
  if (text.charCodeAt(j) === 46 && isDigit(text.charCodeAt(j + 1))) { for (j += 2; isDigit(text.charCodeAt(j)); j++); }
  const e = text.charCodeAt(j);
  if (e === 101 || e === 69) { // e E
    let k = j + 1;
    const sign = text.charCodeAt(k);
    if (sign === 43 || sign === 45) k++;
    if (isDigit(text.charCodeAt(k))) { for (j = k + 1; isDigit(text.charCodeAt(j)); j++); }
  }
  return j;
}
// deno-lint-ignore no-control-regex -- JSON forbids raw control characters in strings
const PLAIN_STRING = /[^"\\\x00-\x1f]*/y;
const ESCAPES: Record<string, string> = { '"': '"', "\\": "\\", "/": "/", b: "\b", f: "\f", n: "\n", r: "\r", t: "\t" };

/**
 * Parses JSON text strictly (RFC 8259), keeping object key order and number literals.
 *
 * @param text the JSON text
 * @returns the value: objects as `Map`, numbers as {@linkcode JsonNumber}
 * @throws {JsonSyntaxError} naming the position of the first error, or of the first level past 100 (see
 *   `jsonDepthProblem` in lib/core/json_depth.ts)
 * @example
 * ```ts
 * import { parseOrdered } from "./python_json.ts";
 * import assert from "node:assert/strict";
 * const value = parseOrdered('{"b": 1, "2": 2.0}') as Map<string, unknown>;
 * assert.equal([...value.keys()].join(), "b,2");
 * ```
 */
export function parseOrdered(text: string): JsonNode {
  // The parser recurses once per level: bound the depth before it starts.
  const deep = jsonDepthProblem(text);
  if (deep) throw new JsonSyntaxError(deep[0]!.toUpperCase() + deep.slice(1));
  let i = 0;
  const fail = (what: string): never => {
    throw new JsonSyntaxError(`${what} at position ${i}`);
  };
  const space = () => {
    for (let c = text.charCodeAt(i); c === 32 || c === 10 || c === 13 || c === 9; c = text.charCodeAt(++i));
  };
  const string = (): string => {
    const start = ++i; // after the opening quote
    // Most strings have no escape: found by their characters, one slice.
    for (let c = text.charCodeAt(i); c !== 34 && c !== 92 && c >= 0x20; c = text.charCodeAt(++i));
    if (text.charCodeAt(i) === 34) return text.slice(start, i++);
    let out = text.slice(start, i);
    for (;;) {
      PLAIN_STRING.lastIndex = i;
      PLAIN_STRING.test(text);
      out += text.slice(i, PLAIN_STRING.lastIndex);
      i = PLAIN_STRING.lastIndex;
      const c = text[i];
      if (c === '"') {
        i++;
        return out;
      }
      if (c !== "\\") fail(c === undefined ? "Unterminated string" : "Control character in string");
      const e = text[i + 1];
      if (e === "u") {
        const hex = text.slice(i + 2, i + 6);
        if (!/^[0-9a-fA-F]{4}$/.test(hex)) fail("Bad \\u escape");
        out += String.fromCharCode(parseInt(hex, 16));
        i += 6;
      } else {
        const decoded = e === undefined ? undefined : ESCAPES[e];
        if (decoded === undefined) fail("Bad escape in string");
        out += decoded;
        i += 2;
      }
    }
  };
  const value = (): JsonNode => {
    space();
    const c = text[i];
    if (c === '"') return string();
    if (c === "{") return object();
    if (c === "[") return array();
    if (c === "t" && text.startsWith("true", i)) return (i += 4, true);
    if (c === "f" && text.startsWith("false", i)) return (i += 5, false);
    if (c === "n" && text.startsWith("null", i)) return (i += 4, null);
    const end = numberEnd(text, i);
    if (end < 0) return fail(c === undefined ? "Unexpected end of JSON" : `Unexpected character ${JSON.stringify(c)}`);
    const literal = text.slice(i, end);
    i = end;
    return new JsonNumber(literal);
  };
  const object = (): JsonObject => {
    i++;
    const map: JsonObject = new Map();
    space();
    if (text[i] === "}") return (i++, map);
    for (;;) {
      space();
      if (text[i] !== '"') fail("Expected a property name in double quotes");
      const key = string();
      space();
      if (text[i] !== ":") fail("Expected ':' after a property name");
      i++;
      map.set(key, value());
      space();
      if (text[i] === ",") i++;
      else if (text[i] === "}") return (i++, map);
      else fail("Expected ',' or '}' in object");
    }
  };
  const array = (): JsonNode[] => {
    i++;
    const items: JsonNode[] = [];
    space();
    if (text[i] === "]") return (i++, items);
    for (;;) {
      items.push(value());
      space();
      if (text[i] === ",") i++;
      else if (text[i] === "]") return (i++, items);
      else fail("Expected ',' or ']' in array");
    }
  };
  const result = value();
  space();
  if (i < text.length) fail("Unexpected text after the JSON value");
  return result;
}

/**
 * Whether a JSON number is finite as a double (Python turns `1e999` into
 * `Infinity`, which is not JSON; such values are refused).
 *
 * @param n the number
 * @returns false for literals that overflow a double
 * @example
 * ```ts
 * import { isFiniteNumber, JsonNumber } from "./python_json.ts";
 * import assert from "node:assert/strict";
 * assert.ok(!isFiniteNumber(new JsonNumber("1e999")));
 * ```
 */
export function isFiniteNumber(n: JsonNumber): boolean {
  return isInteger(n.text) || Number.isFinite(Number(n.text));
}

/**
 * Finds the first number in a value that overflows a double.
 *
 * @param node the value
 * @returns the literal, or undefined when every number is finite
 * @example
 * ```ts
 * import { findInfinite, parseOrdered } from "./python_json.ts";
 * import assert from "node:assert/strict";
 * assert.equal(findInfinite(parseOrdered("[1, 2e400]")), "2e400");
 * ```
 */
export function findInfinite(node: JsonNode): string | undefined {
  if (node instanceof JsonNumber) return isFiniteNumber(node) ? undefined : node.text;
  const children = Array.isArray(node) ? node : node instanceof Map ? node.values() : [];
  for (const child of children) {
    const found = findInfinite(child);
    if (found !== undefined) return found;
  }
  return undefined;
}

/** Whether a number literal is an integer (`-?digits`), read by its characters: a regex cost more per number. */
function isInteger(text: string): boolean {
  const n = text.length;
  let k = text.charCodeAt(0) === 45 ? 1 : 0; // -
  if (k === n) return false;
  for (; k < n; k++) {
    const c = text.charCodeAt(k);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

/**
 * Writes a value as Python's `json.dumps(value)` does with its defaults.
 *
 * @param node the value (from {@linkcode parseOrdered}, or built by hand)
 * @returns the JSON text, ASCII only
 * @example
 * ```ts
 * import { dumpsPython, parseOrdered } from "./python_json.ts";
 * import assert from "node:assert/strict";
 * assert.equal(dumpsPython(parseOrdered('{"a":[1,2.50,"é"]}')), '{"a": [1, 2.5, "\\u00e9"]}');
 * ```
 */
export function dumpsPython(node: JsonNode): string {
  if (node === null) return "null";
  if (node === true) return "true";
  if (node === false) return "false";
  if (typeof node === "string") return pythonString(node);
  if (node instanceof JsonNumber) return pythonNumber(node.text);
  let out = "";
  if (Array.isArray(node)) {
    for (const item of node) out += (out ? ", " : "[") + dumpsPython(item);
    return out ? out + "]" : "[]";
  }
  for (const [key, value] of node) out += `${out ? ", " : "{"}${pythonString(key)}: ${dumpsPython(value)}`;
  return out ? out + "}" : "{}";
}

const ASCII_SAFE = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;
const SHORT_ESCAPES: Record<number, string> = {
  8: "\\b",
  9: "\\t",
  10: "\\n",
  12: "\\f",
  13: "\\r",
  34: '\\"',
  92: "\\\\",
};

/**
 * A string as Python's `json.dumps` writes it (`ensure_ascii=True`).
 *
 * @param s the string
 * @returns the quoted, escaped string
 * @example
 * ```ts
 * import { pythonString } from "./python_json.ts";
 * import assert from "node:assert/strict";
 * assert.equal(pythonString("a\"é"), '"a\\"\\u00e9"');
 * ```
 */
export function pythonString(s: string): string {
  if (ASCII_SAFE.test(s)) return `"${s}"`;
  let out = '"';
  for (let k = 0; k < s.length; k++) {
    const c = s.charCodeAt(k);
    if (c >= 0x20 && c <= 0x7e && c !== 34 && c !== 92) out += s[k];
    else out += SHORT_ESCAPES[c] ?? `\\u${c.toString(16).padStart(4, "0")}`;
  }
  return out + '"';
}

/**
 * A JSON number literal as Python writes it back: integers exactly (any
 * size), floats as `repr(float(text))` — `1.0`, `1e-05`, `1e+16`.
 *
 * @param text a JSON number literal
 * @returns Python's text for it
 * @example
 * ```ts
 * import { pythonNumber } from "./python_json.ts";
 * import assert from "node:assert/strict";
 * assert.equal(pythonNumber("1E5"), "100000.0");
 * assert.equal(pythonNumber("0.00001"), "1e-05");
 * ```
 */
export function pythonNumber(text: string): string {
  if (isInteger(text)) return text === "-0" ? "0" : text;
  const x = Number(text);
  if (!Number.isFinite(x)) return x > 0 ? "Infinity" : "-Infinity";
  // Common case: a plain decimal already in shortest form (21.5) is its own repr.
  const size = Math.abs(x);
  if (size >= 1e-4 && size < 1e16 && String(x) === text && text.includes(".")) return text;
  const sign = x < 0 || Object.is(x, -0) ? "-" : "";
  const [mantissa, exp] = Math.abs(x).toExponential().split("e") as [string, string];
  const digits = mantissa.replace(".", "");
  const point = Number(exp) + 1; // digits before the decimal point
  if (point > 16 || point < -3) {
    const e = Number(exp);
    const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    return `${sign}${m}e${e < 0 ? "-" : "+"}${String(Math.abs(e)).padStart(2, "0")}`;
  }
  if (point <= 0) return `${sign}0.${"0".repeat(-point)}${digits}`;
  if (point >= digits.length) return `${sign}${digits}${"0".repeat(point - digits.length)}.0`;
  return `${sign}${digits.slice(0, point)}.${digits.slice(point)}`;
}
