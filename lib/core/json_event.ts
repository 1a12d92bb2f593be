/**
 * The one NDJSON envelope of every script's `--json` output, and its rules:
 * `event` names the object and `time` says when it was written (ISO-8601,
 * UTC, milliseconds); durations are seconds rounded to the millisecond
 * ({@linkcode toSeconds}); latencies, often below a millisecond, are
 * milliseconds rounded to the microsecond (`roundMs` in latency.ts); a rate is
 * per second over the time messages were flowing ({@linkcode flowRate}), and
 * absent when too few came to mean anything. README's "`--json` output"
 * table lists each script's events and fields; tests/core/json_contract_test.ts
 * holds every script's output to it.
 *
 * @module
 */

/** The fields of an NDJSON object besides `event` and `time`, which only the envelope sets. */
export type EventFields = { readonly [field: string]: unknown } & { event?: never; time?: never };

/**
 * One NDJSON object: `event` and `time` first, then the fields.
 *
 * @param event what the object is, e.g. `message`, `summary`
 * @param fields the rest
 * @param at when it happened (default: now): a Date gives `time` to the millisecond, epoch milliseconds with a
 *   fraction (from {@linkcode preciseNow}) give it to the microsecond
 * @returns the object, ready for `JSON.stringify`
 * @example
 * ```ts
 * import { jsonEvent } from "./json_event.ts";
 * import assert from "node:assert/strict";
 * const e = jsonEvent("message", { channel: "news" }, new Date(0));
 * assert.equal(JSON.stringify(e), '{"event":"message","time":"1970-01-01T00:00:00.000Z","channel":"news"}');
 * assert.equal(jsonEvent("message", {}, 1.0025).time, "1970-01-01T00:00:00.001003Z");
 * ```
 */
export function jsonEvent(
  event: string,
  fields: EventFields = {},
  at: Date | number = new Date(),
): Record<string, unknown> {
  // Assigning event and time again keeps them first and lets no field replace them.
  const envelope = { event, time: typeof at === "number" ? isoMicros(at) : at.toISOString() };
  return Object.assign({ ...envelope }, fields, envelope);
}

/**
 * Now, in epoch milliseconds with a fraction (`performance.timeOrigin + performance.now()`): a clock to the
 * microsecond, for `{{ts}}` in published messages and the `time` of the messages a subscriber prints, so that their
 * difference is a one-way latency on the same machine.
 *
 * @returns epoch milliseconds, with microseconds as the fraction
 */
export function preciseNow(): number {
  return performance.timeOrigin + performance.now();
}

/**
 * An ISO-8601 UTC time to the microsecond, e.g. `2026-12-01T13:00:00.123456Z`.
 *
 * @param epochMs epoch milliseconds with a fraction
 * @returns the time with six decimals of seconds
 * @example
 * ```ts
 * import { isoMicros } from "./json_event.ts";
 * import assert from "node:assert/strict";
 * assert.equal(isoMicros(1000.0015), "1970-01-01T00:00:01.000002Z");
 * ```
 */
export function isoMicros(epochMs: number): string {
  const micros = Math.round(epochMs * 1000);
  const ms = Math.floor(micros / 1000);
  return `${new Date(ms).toISOString().slice(0, -1)}${String(micros - ms * 1000).padStart(3, "0")}Z`;
}

/**
 * A duration for JSON: seconds, rounded to the millisecond.
 *
 * @param ms the duration in milliseconds
 * @returns seconds with at most three decimals
 * @example
 * ```ts
 * import { toSeconds } from "./json_event.ts";
 * import assert from "node:assert/strict";
 * assert.equal(toSeconds(3.036066), 0.003);
 * assert.equal(toSeconds(12_704.4), 12.704);
 * ```
 */
export function toSeconds(ms: number): number {
  return Math.round(ms) / 1000;
}

/** Fewer messages than this give no rate: their pace says more than a number per second would. */
export const MIN_RATE_MESSAGES = 100;

/**
 * Messages per second while they were flowing, from the first to the last
 * (`count - 1` gaps over that time), rounded to 0.1; `undefined` for fewer
 * than {@linkcode MIN_RATE_MESSAGES} or when they all came at once.
 *
 * @param count how many messages
 * @param flowingMs milliseconds from the first to the last
 * @returns the rate, or undefined when it would mean nothing
 * @example
 * ```ts
 * import { flowRate } from "./json_event.ts";
 * import assert from "node:assert/strict";
 * assert.equal(flowRate(7, 12_700), undefined);
 * assert.equal(flowRate(101, 1000), 100);
 * ```
 */
export function flowRate(count: number, flowingMs: number): number | undefined {
  if (count < MIN_RATE_MESSAGES || !(flowingMs > 0)) return undefined;
  return Math.round(((count - 1) * 10_000) / flowingMs) / 10;
}
