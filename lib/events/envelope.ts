/**
 * The event envelope: what every event on a topic looks like, how one is
 * made, and how one is checked — when it is published and when it is
 * received.
 *
 * An event is one JSON object with `event_type`, an ISO-8601 `timestamp`, a
 * unique `id`, an optional `source`, and the event's own fields beside them:
 *
 * ```json
 * {"event_type":"key_submitted","timestamp":"2026-01-01T10:00:00.000Z","id":"…","key_value":"abc123"}
 * ```
 *
 * Other programs publish too. Events in the older Python shape — no `id`, a
 * timestamp without a zone such as `2024-01-01T10:00:00` — are accepted as
 * they are; nothing is invented for them.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { isIsoTime } from "../core/iso_time.ts";
import { jsonDepthProblem } from "../core/json_depth.ts";

/** The fields every event has, plus its own fields. */
export interface EventEnvelope {
  /** What happened, e.g. `key_submitted`. */
  event_type: string;
  /** When, as ISO-8601 (`2026-01-01T10:00:00.000Z`; a zone-less time is accepted). */
  timestamp: string;
  /** A unique id; absent only on events from programs that do not set one. */
  id?: string;
  /** Who published it, e.g. `event_processor`. */
  source?: string;
  /** The event's own fields. */
  [field: string]: unknown;
}

/** An event this library made: it always has an id. */
export type CreatedEvent = EventEnvelope & { id: string };

/** What {@linkcode createEvent} takes besides the type: the event's own fields. */
export type EventFields = Record<string, unknown>;

/** An event as a caller hands it to a publisher: only `event_type` is required. */
export type EventInput = { event_type: string; timestamp?: string; id?: string; source?: string } & EventFields;

/**
 * An event that failed validation; `problems` lists every reason.
 *
 * @example
 * ```ts
 * import { EventValidationError } from "./envelope.ts";
 * import assert from "node:assert/strict";
 * const err = new EventValidationError(["event_type is missing"]);
 * assert.equal(err.message, "Invalid event: event_type is missing");
 * ```
 */
export class EventValidationError extends Error {
  /**
   * Creates an EventValidationError.
   *
   * @param problems what is wrong, one entry per problem
   */
  constructor(readonly problems: string[]) {
    super(`Invalid event: ${problems.join("; ")}`);
    this.name = "EventValidationError";
  }
}

/** Fields whose meaning the envelope fixes; an event's own fields cannot use them for something else. */
export const ENVELOPE_FIELDS = ["event_type", "timestamp", "id", "source"] as const;

/**
 * Whether a text is an ISO-8601 date and time that names a real instant
 * (`2024-02-30T…` is not), by the one rule of {@link ./iso_time.ts}. The zone
 * may be missing, as Python's `datetime.now().isoformat()` writes it.
 *
 * @param text the timestamp
 * @returns true when it is one
 * @example
 * ```ts
 * import { isIsoTimestamp } from "./envelope.ts";
 * import assert from "node:assert/strict";
 * assert.ok(isIsoTimestamp("2024-01-01T10:00:00"));
 * assert.ok(isIsoTimestamp("2024-01-01T10:00:00.123456+02:00"));
 * assert.ok(!isIsoTimestamp("2024-02-30T10:00:00Z"));
 * ```
 */
export const isIsoTimestamp: (text: string) => boolean = isIsoTime;

/**
 * Checks that a value is a valid event envelope and lists every problem.
 *
 * @param value anything, e.g. the result of `JSON.parse`
 * @returns the problems; empty when the event is valid
 * @example
 * ```ts
 * import { eventProblems } from "./envelope.ts";
 * import assert from "node:assert/strict";
 * assert.equal(eventProblems({ event_type: "x", timestamp: "2024-01-01T10:00:00" }).length, 0);
 * assert.equal(eventProblems({ timestamp: 5 }).length, 2);
 * ```
 */
export function eventProblems(value: unknown): string[] {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return [`an event is a JSON object, got ${describe(value)}`];
  }
  const e = value as Record<string, unknown>;
  const problems: string[] = [];
  if (e.event_type === undefined) problems.push("event_type is missing");
  else if (typeof e.event_type !== "string" || e.event_type.trim() === "") {
    problems.push(`event_type must be a non-empty string, got ${describe(e.event_type)}`);
  }
  if (e.timestamp === undefined) problems.push("timestamp is missing");
  else if (typeof e.timestamp !== "string" || !isIsoTimestamp(e.timestamp)) {
    problems.push(`timestamp must be ISO-8601 such as 2024-01-01T10:00:00Z, got ${describe(e.timestamp)}`);
  }
  if (e.id !== undefined && (typeof e.id !== "string" || e.id === "")) {
    problems.push(`id must be a non-empty string, got ${describe(e.id)}`);
  }
  if (e.source !== undefined && typeof e.source !== "string") {
    problems.push(`source must be a string, got ${describe(e.source)}`);
  }
  return problems;
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "string") return JSON.stringify(value.length > 40 ? value.slice(0, 40) + "…" : value);
  if (typeof value === "object") return "an object";
  return `${typeof value} ${String(value)}`;
}

/**
 * Checks a value and returns it typed as an event.
 *
 * @param value anything
 * @returns the same value, as an {@linkcode EventEnvelope}
 * @throws {EventValidationError} listing every problem
 * @example
 * ```ts
 * import { validateEvent } from "./envelope.ts";
 * import assert from "node:assert/strict";
 * const event = validateEvent({ event_type: "ping", timestamp: "2024-01-01T10:00:00Z" });
 * assert.equal(event.event_type, "ping");
 * ```
 */
export function validateEvent(value: unknown): EventEnvelope {
  const problems = eventProblems(value);
  if (problems.length > 0) throw new EventValidationError(problems);
  return value as EventEnvelope;
}

/**
 * Makes a new event: the type, the current time (UTC, milliseconds), a
 * random UUID, the source when given, and the event's own fields.
 *
 * @param eventType what happened, e.g. `key_submitted`
 * @param fields the event's own fields; envelope fields in it are rejected
 * @param options `source` to stamp; `now` to fix the time (tests)
 * @returns the event
 * @throws {EventValidationError} when the type is empty or a field clashes with the envelope
 * @example
 * ```ts
 * import { createEvent } from "./envelope.ts";
 * import assert from "node:assert/strict";
 * const event = createEvent("key_submitted", { key_value: "abc123" }, { source: "docs" });
 * assert.equal(event.id.length, 36);
 * assert.ok(event.timestamp.endsWith("Z"));
 * ```
 */
export function createEvent(
  eventType: string,
  fields: EventFields = {},
  options: { source?: string; now?: Date } = {},
): CreatedEvent {
  const clashes = ENVELOPE_FIELDS.filter((name) => name in fields);
  if (clashes.length > 0) {
    throw new EventValidationError(clashes.map((name) => `${name} is an envelope field, not one of the event's own`));
  }
  return completeEvent({ event_type: eventType, ...fields }, options);
}

/**
 * Fills in what an event handed to a publisher lacks — `timestamp`, `id`,
 * and `source` when one is configured — keeping what it has, then
 * validates it.
 *
 * @param input the event; only `event_type` is required
 * @param options `source` to stamp when the event has none; `now` to fix the time
 * @returns the complete event (a new object)
 * @throws {EventValidationError} when the result is not a valid event
 * @example
 * ```ts
 * import { completeEvent } from "./envelope.ts";
 * import assert from "node:assert/strict";
 * const event = completeEvent({ event_type: "custom", data: { anything: "you want" } });
 * assert.equal(typeof event.id, "string");
 * assert.notEqual(event.data, undefined);
 * ```
 */
export function completeEvent(input: EventInput, options: { source?: string; now?: Date } = {}): CreatedEvent {
  const { event_type, timestamp, id, source, ...fields } = input;
  const event: EventEnvelope = {
    event_type,
    timestamp: timestamp ?? (options.now ?? new Date()).toISOString(),
    id: id ?? crypto.randomUUID(),
    ...(source ?? options.source) !== undefined ? { source: source ?? options.source } : {},
    ...fields,
  };
  return validateEvent(event) as CreatedEvent;
}

/**
 * The wire form of an event: validated, then JSON.
 *
 * @param event the event
 * @returns one line of JSON
 * @throws {EventValidationError} when it is not a valid event
 * @example
 * ```ts
 * import { createEvent, encodeEvent } from "./envelope.ts";
 * import assert from "node:assert/strict";
 * assert.ok(encodeEvent(createEvent("ping")).startsWith('{"event_type":"ping"'));
 * ```
 */
export function encodeEvent(event: EventEnvelope): string {
  return JSON.stringify(validateEvent(event));
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Reads an event off the wire: UTF-8, JSON nested at most 100 levels deep, then the envelope checks.
 *
 * @param payload the message as received (bytes or text)
 * @returns the event
 * @throws {EventValidationError} saying why it is not an event (not UTF-8, not JSON, nested too deeply, or what is
 *   wrong)
 * @example
 * ```ts
 * import { decodeEvent } from "./envelope.ts";
 * import assert from "node:assert/strict";
 * const seed = '{"event_type":"key_submitted","key_value":"abc123","token_name":"Token1","timestamp":"2024-01-01T10:00:00"}';
 * assert.equal(decodeEvent(seed).key_value, "abc123");
 * ```
 */
export function decodeEvent(payload: string | Uint8Array): EventEnvelope {
  let text: string;
  if (typeof payload === "string") text = payload;
  else {
    // Buffer's decoder is several times faster; it replaces invalid bytes with U+FFFD, so only then check strictly.
    const bytes = payload instanceof Buffer
      ? payload
      : Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
    text = bytes.toString("utf8");
    if (text.includes("\uFFFD")) {
      try {
        utf8.decode(payload);
      } catch {
        throw new EventValidationError(["the payload is not UTF-8 text"]);
      }
    }
  }
  // JSON.parse takes any depth, but what walks the event then (JSON.stringify of a result) overflows the stack.
  const deep = jsonDepthProblem(text);
  if (deep) throw new EventValidationError([`the payload is ${deep}`]);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new EventValidationError(["the payload is not JSON"]);
  }
  return validateEvent(value);
}
