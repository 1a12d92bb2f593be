/**
 * How deeply a JSON text nests, checked before it is parsed: a text nested
 * 100,000 levels deep is valid JSON that `JSON.parse` accepts, and then
 * overflows the stack of whatever walks the value (`JSON.stringify`,
 * a recursive parser). Every place that parses a message from the network
 * asks this one function first.
 *
 * @module
 */

/** How deeply arrays and objects may nest in a message before it is refused. */
export const MAX_JSON_DEPTH = 100;

const OPEN_OBJECT = 123; // {
const OPEN_ARRAY = 91; // [
const CLOSE_OBJECT = 125; // }
const CLOSE_ARRAY = 93; // ]
const QUOTE = 34; // "
const BACKSLASH = 92; // \

/**
 * Says whether a JSON text nests arrays and objects deeper than `max`
 * levels, without parsing it (one pass, no recursion; brackets inside
 * strings do not count). Text that is not JSON may pass: the parser says
 * what is wrong with it.
 *
 * @param text the JSON text
 * @param max levels allowed (default {@linkcode MAX_JSON_DEPTH})
 * @returns the problem (`nested deeper than 100 levels at position 100`), or undefined
 * @example
 * ```ts
 * import { jsonDepthProblem } from "./json_depth.ts";
 * import assert from "node:assert/strict";
 * assert.equal(jsonDepthProblem('{"a": [1, {"b": "[[["}]}'), undefined);
 * assert.equal(jsonDepthProblem("[".repeat(101) + "]".repeat(101)), "nested deeper than 100 levels at position 100");
 * ```
 */
export function jsonDepthProblem(text: string, max: number = MAX_JSON_DEPTH): string | undefined {
  if (!moreOpeningsThan(text, max)) return undefined; // the common case, found by the engine's own search
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      for (i++; i < text.length; i++) {
        const s = text.charCodeAt(i);
        if (s === BACKSLASH) i++;
        else if (s === QUOTE) break;
      }
    } else if (c === OPEN_OBJECT || c === OPEN_ARRAY) {
      if (++depth > max) return `nested deeper than ${max} levels at position ${i}`;
    } else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) depth--;
  }
  return undefined;
}

/** Whether the text has more than `max` `{` and `[` in all (inside strings too): only then can it nest that deep. */
function moreOpeningsThan(text: string, max: number): boolean {
  let count = 0;
  for (const bracket of ["{", "["]) {
    for (let i = text.indexOf(bracket); i !== -1; i = text.indexOf(bracket, i + 1)) if (++count > max) return true;
  }
  return false;
}
