/**
 * The letters of `notify-keyspace-events`: which ones a value has, which
 * ones are missing, and the value that adds them while keeping the rest.
 *
 * K keyspace channels, E keyevent channels; classes g generic, $ string,
 * l list, s set, h hash, z sorted set, x expired, e evicted, t stream,
 * d module, n new key, m key miss; A = g$lshzxetd.
 *
 * @module
 */

/** Every letter, in the order used when this module writes a value. */
export const FLAG_ORDER = "KEg$lshzxetdnm";

/** The classes `A` stands for (everything but `n` and `m`). */
export const ALL_CLASSES = "g$lshzxetd";

/**
 * The letters a `notify-keyspace-events` value turns on, with `A` expanded.
 *
 * @param value the setting as the server reports it, e.g. `AKE`
 * @returns the set of single letters
 * @example
 * ```ts
 * import { flagLetters } from "./notify_flags.ts";
 * import assert from "node:assert/strict";
 * assert.ok(flagLetters("AK").has("x"));
 * ```
 */
export function flagLetters(value: string): Set<string> {
  const letters = new Set<string>();
  for (const c of value) {
    if (c === "A") { for (const a of ALL_CLASSES) letters.add(a); }
    else letters.add(c);
  }
  return letters;
}

/**
 * Sorts and de-duplicates letters into {@linkcode FLAG_ORDER}.
 *
 * @param letters flag letters (no `A`)
 * @returns them as one string, e.g. `K$h`
 * @example
 * ```ts
 * import { orderFlags } from "./notify_flags.ts";
 * import assert from "node:assert/strict";
 * assert.equal(orderFlags(["$", "K", "$"]), "K$");
 * ```
 */
export function orderFlags(letters: Iterable<string>): string {
  const set = new Set(letters);
  return [...FLAG_ORDER].filter((c) => set.has(c)).join("");
}

/**
 * The letters `needed` asks for that `current` does not turn on.
 *
 * @param current the server's value, e.g. `E$`
 * @param needed the letters required, e.g. `K$`
 * @returns the missing letters in {@linkcode FLAG_ORDER}, `""` when none
 * @example
 * ```ts
 * import { missingFlags } from "./notify_flags.ts";
 * import assert from "node:assert/strict";
 * assert.equal(missingFlags("E$", "K$"), "K");
 * assert.equal(missingFlags("AKE", "Kx"), "");
 * ```
 */
export function missingFlags(current: string, needed: string): string {
  const have = flagLetters(current);
  return orderFlags([...flagLetters(needed)].filter((c) => !have.has(c)));
}

/**
 * The value that keeps every letter of `current` and adds the missing ones
 * of `needed`. When the result turns on every class of `A`, it is written
 * with `A` itself: servers before Redis 7 (KeyDB 6, Redis 6) reject the
 * spelled-out `d`, while each server's `A` means the classes it has.
 *
 * @param current the server's value (may be empty)
 * @param needed the letters required
 * @returns `current` followed by the missing letters, or the union with `A` for all classes
 * @example
 * ```ts
 * import { mergeFlags } from "./notify_flags.ts";
 * import assert from "node:assert/strict";
 * assert.equal(mergeFlags("Ex", "K$"), "ExK$");
 * assert.equal(mergeFlags("", "K$"), "K$");
 * assert.equal(mergeFlags("E$", "KA"), "KEA");
 * ```
 */
export function mergeFlags(current: string, needed: string): string {
  const missing = missingFlags(current, needed);
  if (missing === "") return current;
  const all = flagLetters(current + missing);
  if (![...ALL_CLASSES].every((c) => all.has(c))) return current + missing;
  const others = orderFlags([...all].filter((c) => !ALL_CLASSES.includes(c)));
  return others.replace(/^(K?E?)/, "$1A");
}

/**
 * Whether a value delivers any event at all: it needs K or E, and a class.
 *
 * @param value a `notify-keyspace-events` value
 * @returns false for `""`, `K`, `$` and the like
 * @example
 * ```ts
 * import { deliversEvents } from "./notify_flags.ts";
 * import assert from "node:assert/strict";
 * assert.ok(deliversEvents("KEA"));
 * assert.ok(!deliversEvents("K"));
 * ```
 */
export function deliversEvents(value: string): boolean {
  const letters = flagLetters(value);
  const channel = letters.has("K") || letters.has("E");
  return channel && [...letters].some((c) => c !== "K" && c !== "E");
}
