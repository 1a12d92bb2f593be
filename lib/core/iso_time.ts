/**
 * The one rule for ISO-8601 times in this project (update messages, event
 * envelopes): `YYYY-MM-DDTHH:MM[:SS[.fraction]][zone]`.
 *
 * - `T` (or `t`) between date and time; no space.
 * - Seconds are optional, 00–60 (60 is a leap second, read as the first second of the next minute);
 *   the fraction (after `.` or `,`) has 1–9 digits.
 * - The zone is `Z`, `z`, `±HH`, `±HHMM` or `±HH:MM`, or missing: a time without a zone is taken as UTC
 *   (Python's `datetime.now().isoformat()` writes none).
 * - The date must exist (`2023-02-30` does not); hours 00–23, minutes 00–59.
 *
 * @module
 */

const ISO_TIME =
  /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?(Z|z|[+-]\d{2}(?::?\d{2})?)?$/;

/**
 * Reads an ISO-8601 date and time by the rule of this module.
 *
 * @param text the time as written
 * @returns epoch milliseconds, or undefined when it is not such a time
 * @example
 * ```ts
 * import { parseIsoTime } from "./iso_time.ts";
 * import assert from "node:assert/strict";
 * assert.equal(parseIsoTime("1970-01-01T00:00:01Z"), 1000);
 * assert.equal(parseIsoTime("1970-01-01T02:00:01+02:00"), 1000);
 * assert.equal(parseIsoTime("1970-01-01T00:00:01"), 1000); // no zone: UTC
 * assert.equal(parseIsoTime("2023-02-30T00:00:00Z"), undefined);
 * ```
 */
export function parseIsoTime(text: string): number | undefined {
  // The forms most messages carry (toISOString's, and without the fraction) are read by their characters.
  const fast = utcForm(text);
  if (fast !== undefined) return Number.isNaN(fast) ? undefined : fast;
  const m = ISO_TIME.exec(text);
  if (!m) return undefined;
  const year = +m[1]!, month = +m[2]!, day = +m[3]!, hour = +m[4]!, minute = +m[5]!, second = m[6] ? +m[6] : 0;
  if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 60) return undefined;
  if (day > 28 && new Date(Date.UTC(year, month - 1, day)).getUTCDate() !== day) return undefined; // Feb 30th…
  const fraction = m[7] ? Number(`0.${m[7]}`) : 0;
  const zone = m[8];
  let base = Date.UTC(year, month - 1, day, hour, minute, second);
  if (year < 100) base = new Date(base).setUTCFullYear(year); // Date.UTC reads 0–99 as 1900–1999
  let offsetMin = 0;
  if (zone && zone !== "Z" && zone !== "z") {
    const digits = zone.slice(1).replace(":", "");
    const h = Number(digits.slice(0, 2));
    const mm = Number(digits.slice(2) || "0");
    if (h > 23 || mm > 59) return undefined;
    offsetMin = (zone[0] === "-" ? -1 : 1) * (h * 60 + mm);
  }
  return base + Math.round(fraction * 1000) - offsetMin * 60_000;
}

/**
 * Whether a text is a time by the rule of this module.
 *
 * @param text the timestamp
 * @returns true when {@linkcode parseIsoTime} reads it
 * @example
 * ```ts
 * import { isIsoTime } from "./iso_time.ts";
 * import assert from "node:assert/strict";
 * assert.ok(isIsoTime("2024-01-01T10:00:00"));
 * assert.ok(!isIsoTime("2024-01-01 10:00:00"));
 * ```
 */
export function isIsoTime(text: string): boolean {
  const fast = utcForm(text, false);
  return fast !== undefined ? !Number.isNaN(fast) : parseIsoTime(text) !== undefined;
}

/** What {@linkcode utcForm} returns for a text of its form that is no real moment (tested with `Number.isNaN`). */
const INVALID = Number.NaN;

/**
 * `YYYY-MM-DDTHH:MM:SSZ` or `YYYY-MM-DDTHH:MM:SS.sssZ`, read by its characters (no regex): epoch ms (0 when not
 * `exact`: only whether it is a time is asked), INVALID (NaN) when it is no real moment, undefined when the text has
 * another form (then the regex decides).
 */
function utcForm(t: string, exact = true): number | undefined {
  const n = t.length;
  if (n !== 20 && n !== 24) return undefined;
  // "-" at 4 and 7, "T" at 10, ":" at 13 and 16, then "Z" at 19, or "." at 19 and "Z" at 23; digits everywhere else.
  if (
    t.charCodeAt(4) !== 45 || t.charCodeAt(7) !== 45 || t.charCodeAt(10) !== 84 || t.charCodeAt(13) !== 58 ||
    t.charCodeAt(16) !== 58 || t.charCodeAt(n - 1) !== 90 || (n === 24 && t.charCodeAt(19) !== 46)
  ) return undefined;
  const d = DIGITS;
  const count = n === 24 ? DIGIT_AT.length : DIGIT_AT.length - 3;
  for (let k = 0; k < count; k++) {
    const v = t.charCodeAt(DIGIT_AT[k]!) - 48;
    if (v < 0 || v > 9) return undefined;
    d[k] = v;
  }
  // d: Y Y Y Y M M D D h h m m s s f f f
  const year = d[0]! * 1000 + d[1]! * 100 + d[2]! * 10 + d[3]!, month = d[4]! * 10 + d[5]!, day = d[6]! * 10 + d[7]!;
  const hour = d[8]! * 10 + d[9]!, minute = d[10]! * 10 + d[11]!, second = d[12]! * 10 + d[13]!;
  if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 60) return INVALID;
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  const days = month === 2 ? (leap ? 29 : 28) : month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
  if (day > days) return INVALID;
  if (!exact) return 0;
  const ms = n === 24 ? d[14]! * 100 + d[15]! * 10 + d[16]! : 0;
  const at = Date.UTC(year, month - 1, day, hour, minute, second, ms);
  return year < 100 ? new Date(at).setUTCFullYear(year) : at; // Date.UTC reads 0–99 as 1900–1999
}

const DIGIT_AT = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18, 20, 21, 22];
const DIGITS = new Uint8Array(DIGIT_AT.length);
