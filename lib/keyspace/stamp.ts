/**
 * Timestamps found in values: the seed's `Python01 timestamp 1725543675`
 * (epoch seconds), epoch milliseconds (or µs / ns), fractional seconds, and
 * ISO-8601 — with how precise each one is.
 *
 * @module
 */
import { parseIsoTime } from "../core/iso_time.ts";

/** A timestamp found in a value. */
export interface Stamp {
  /** The moment, in epoch milliseconds. */
  epochMs: number;
  /** Its precision in ms: 1 for milliseconds, 1000 for whole seconds, 60000 for whole minutes. */
  resolutionMs: number;
  /** The text it was read from. */
  text: string;
  /** Its form. */
  form: "epoch-seconds" | "epoch-ms" | "epoch-us" | "epoch-ns" | "iso-8601";
  /** An ISO-8601 time without a zone, read as UTC. */
  assumedUtc?: boolean;
}

const ISO = /\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:[.,](\d+))?)?(Z|[+-]\d{2}(?::?\d{2})?)?/gi;
const EPOCH = /(?<![\d.])(\d{10})(?:\.(\d+))?(?![\d.])|(?<![\d.])(\d{13}|\d{16}|\d{19})(?![\d.])/g;

/** How far from `near` an epoch number may be and still count as a stamp: a day. */
export const PLAUSIBLE_WINDOW_MS = 24 * 60 * 60 * 1000;

/**
 * Finds a timestamp in a value: an ISO-8601 time if there is one, else the
 * last number that reads as an epoch time (10 digits: seconds, optionally
 * with a fraction; 13: ms; 16: µs; 19: ns). With `near`, only epoch numbers
 * within a day of it count: an order number or a phone number with the
 * right count of digits is not a stamp.
 *
 * @param text the value
 * @param near the time the stamp should be close to, in epoch ms (e.g. when the event arrived)
 * @returns the stamp, or undefined when there is none
 * @example
 * ```ts
 * import { findStamp } from "./stamp.ts";
 * import assert from "node:assert/strict";
 * const s = findStamp("Python01 timestamp 1725543675");
 * assert.equal(s?.epochMs, 1725543675000);
 * assert.equal(s.resolutionMs, 1000);
 * assert.equal(findStamp("writer timestamp 1725543675123")?.resolutionMs, 1);
 * assert.equal(findStamp("order 4000000000", Date.now()), undefined);
 * ```
 */
export function findStamp(text: string, near?: number): Stamp | undefined {
  return findIso(text) ?? findEpoch(text, near);
}

function findIso(text: string): Stamp | undefined {
  for (const m of text.matchAll(ISO)) {
    const [whole, fraction, zone] = m;
    // A space may stand for the "T" in values; the rest is the project's one ISO-8601 rule.
    const epochMs = parseIsoTime(whole.replace(" ", "T"));
    if (epochMs === undefined) continue;
    const hasSeconds = /^\d{2}:\d{2}:\d{2}/.test(whole.slice(11));
    return {
      epochMs,
      resolutionMs: fraction ? fractionResolution(fraction) : hasSeconds ? 1000 : 60_000,
      text: whole,
      form: "iso-8601",
      ...(zone ? {} : { assumedUtc: true }),
    };
  }
  return undefined;
}

function findEpoch(text: string, near: number | undefined): Stamp | undefined {
  const stamps = [...text.matchAll(EPOCH)].map(readEpoch);
  const plausible = near === undefined
    ? stamps
    : stamps.filter((s) => Math.abs(s.epochMs - near) <= PLAUSIBLE_WINDOW_MS);
  return plausible.at(-1);
}

function readEpoch(match: RegExpExecArray): Stamp {
  const [whole, seconds, fraction, other] = match;
  if (seconds !== undefined) {
    const ms = Number(seconds) * 1000 + (fraction ? Math.floor(Number(`0.${fraction}`) * 1000) : 0);
    return {
      epochMs: ms,
      resolutionMs: fraction ? fractionResolution(fraction) : 1000,
      text: whole,
      form: "epoch-seconds",
    };
  }
  const digits = other!.length;
  const form = digits === 13 ? "epoch-ms" : digits === 16 ? "epoch-us" : "epoch-ns";
  const epochMs = digits === 13 ? Number(other) : Number(BigInt(other!) / BigInt(10 ** (digits - 13)));
  return { epochMs, resolutionMs: 1, text: whole, form };
}

function fractionResolution(fraction: string): number {
  return Math.max(1, 10 ** (3 - fraction.length));
}

/**
 * Says how precise a stamp is when it is coarser than a millisecond.
 *
 * @param stamp a stamp
 * @returns e.g. `stamp has whole seconds only`, or `""` for millisecond stamps
 * @example
 * ```ts
 * import { findStamp, precisionNote } from "./stamp.ts";
 * import assert from "node:assert/strict";
 * assert.equal(precisionNote(findStamp("t 1725543675")!), "stamp has whole seconds only");
 * ```
 */
export function precisionNote(stamp: Stamp): string {
  const notes: string[] = [];
  if (stamp.resolutionMs === 1000) notes.push("stamp has whole seconds only");
  else if (stamp.resolutionMs === 60_000) notes.push("stamp has whole minutes only");
  else if (stamp.resolutionMs > 1) notes.push(`stamp precise to ${stamp.resolutionMs} ms`);
  if (stamp.assumedUtc) notes.push("no time zone: read as UTC");
  return notes.join("; ");
}
