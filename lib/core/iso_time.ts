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
 * console.assert(parseIsoTime("1970-01-01T00:00:01Z") === 1000);
 * console.assert(parseIsoTime("1970-01-01T02:00:01+02:00") === 1000);
 * console.assert(parseIsoTime("1970-01-01T00:00:01") === 1000); // no zone: UTC
 * console.assert(parseIsoTime("2023-02-30T00:00:00Z") === undefined);
 * ```
 */
export function parseIsoTime(text: string): number | undefined {
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
 * console.assert(isIsoTime("2024-01-01T10:00:00") && !isIsoTime("2024-01-01 10:00:00"));
 * ```
 */
export function isIsoTime(text: string): boolean {
  return parseIsoTime(text) !== undefined;
}
