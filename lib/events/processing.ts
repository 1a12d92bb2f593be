/**
 * What the event processor does with each kind of event: a submitted key is
 * checked, a profile change is acknowledged, and each result is published on
 * `processing_results` with the original event inside.
 *
 * @module
 */
import type { CreatedEvent, EventEnvelope, EventInput } from "./envelope.ts";
import { type ProfileAction, TOPICS } from "./kinds.ts";
import type { EventPublisher } from "./publisher.ts";
import { MalformedEventError } from "./handler_runner.ts";
import type { EventHandler } from "./subscriber.ts";

/** The `result` of a `key_processed` event. */
export interface KeyResult {
  /** Whether the key is usable: a non-empty string without leading or trailing spaces. */
  valid: boolean;
  /** Its length in characters. */
  length: number;
  /** The token it was submitted for (null when none was given). */
  token_name: string | null;
  /** When it was processed (ISO-8601, UTC). */
  processed_at: string;
  /** Why it is not valid. */
  reason?: string;
}

/** The `result` of a `profile_processed` event. */
export interface ProfileResult {
  /** What happened to the profile. */
  action: ProfileAction;
  /** Which profile. */
  profile_id: string | number;
  /** The names of the profile fields the event carried. */
  fields: string[];
  /** When it was processed (ISO-8601, UTC). */
  processed_at: string;
}

/**
 * Checks a submitted key and makes the `key_processed` result.
 *
 * @param event a `key_submitted` event
 * @param now the processing time
 * @returns the result event (envelope fields are added when it is published)
 * @throws {MalformedEventError} when `key_value` is not a string or `token_name` is not a string or null
 * @example
 * ```ts
 * import { processKeySubmitted } from "./processing.ts";
 * import assert from "node:assert/strict";
 * const result = processKeySubmitted({ event_type: "key_submitted", timestamp: "2024-01-01T10:00:00", key_value: "abc123" });
 * assert.equal((result.result as { length: number }).length, 6);
 * ```
 */
export function processKeySubmitted(event: EventEnvelope, now: Date = new Date()): EventInput {
  const key = event.key_value;
  if (typeof key !== "string") throw new MalformedEventError(`key_submitted needs key_value as a string`);
  const token = event.token_name ?? null;
  if (token !== null && typeof token !== "string") {
    throw new MalformedEventError(`token_name must be a string when given`);
  }
  const reason = key.length === 0
    ? "the key is empty"
    : key.trim() !== key
    ? "the key has leading or trailing whitespace"
    : undefined;
  const result: KeyResult = {
    valid: reason === undefined,
    length: [...key].length,
    token_name: token,
    processed_at: now.toISOString(),
    ...(reason ? { reason } : {}),
  };
  return { event_type: "key_processed", original_event: event, result };
}

/**
 * Acknowledges a profile change with a `profile_processed` result.
 *
 * @param event a `profile_created`, `profile_updated` or `profile_deleted` event
 * @param now the processing time
 * @returns the result event
 * @throws {MalformedEventError} when the type is not a profile event, `profile_id` is missing, or `profile_data` is not an object
 * @example
 * ```ts
 * import { processProfileEvent } from "./processing.ts";
 * import assert from "node:assert/strict";
 * const result = processProfileEvent({
 *   event_type: "profile_created", timestamp: "2024-01-01T10:00:00", profile_id: 1, profile_data: { active: true },
 * });
 * assert.equal(result.event_type, "profile_processed");
 * ```
 */
export function processProfileEvent(event: EventEnvelope, now: Date = new Date()): EventInput {
  const action = /^profile_(created|updated|deleted)$/.exec(event.event_type)?.[1] as ProfileAction | undefined;
  if (!action) {
    throw new MalformedEventError(
      `${TOPICS.profileEvents} carries profile_created, profile_updated and profile_deleted, got "${event.event_type}"`,
    );
  }
  const id = event.profile_id;
  if ((typeof id !== "string" || id === "") && (typeof id !== "number" || !Number.isFinite(id))) {
    throw new MalformedEventError(`${event.event_type} needs profile_id as a string or a number`);
  }
  const data = event.profile_data ?? {};
  if (typeof data !== "object" || data === null || Array.isArray(data)) {
    throw new MalformedEventError(`profile_data must be an object`);
  }
  const result: ProfileResult = { action, profile_id: id, fields: Object.keys(data), processed_at: now.toISOString() };
  return { event_type: "profile_processed", original_event: event, result };
}

/** One event the processor handled, for whoever shows progress. */
export interface ProcessedEvent {
  /** The topic it came from. */
  topic: string;
  /** The event received. */
  original: EventEnvelope;
  /** The result published. */
  result: CreatedEvent;
  /** How many subscribers received the result. */
  receivers: number;
  /** On a recoverable channel followed with recovery: the event's offset in the channel's history. */
  offset?: number;
  /** True for an event read back from the history after an outage rather than received live. */
  recovered?: true;
}

/**
 * The processor's handlers: `key_submission` and `profile_events`, each
 * publishing its result on `processing_results`.
 *
 * @param publisher publishes the results (on a connection that is not subscribed)
 * @param onProcessed called after each result is published
 * @returns handlers by topic, for an {@linkcode EventSubscriber}
 * @example
 * ```ts
 * import { Redis } from "ioredis";
 * import { processorHandlers } from "./processing.ts";
 * import { EventPublisher } from "./publisher.ts";
 * import { EventSubscriber } from "./subscriber.ts";
 * import { LocalServer } from "../core/local_server.ts";
 * import assert from "node:assert/strict";
 *
 * // A throw-away server for the example, unless REDIS_URL names one to use:
 * await using local = Deno.env.get("REDIS_URL") ? undefined : await LocalServer.start();
 * const url = local?.url ?? Deno.env.get("REDIS_URL")!;
 * const [sub, pub] = [new Redis(url), new Redis(url)];
 * const publisher = new EventPublisher(pub);
 * const results: string[] = [];
 * const subscriber = new EventSubscriber(sub, {
 *   topics: processorHandlers(publisher, (p) => void results.push(p.result.event_type)),
 * });
 * await subscriber.start();
 * await publisher.keySubmitted("abc123", "Token1");
 * await subscriber.shutdown(5000);
 * assert.equal(results[0], "key_processed", JSON.stringify(results));
 * await sub.quit();
 * await pub.quit();
 * ```
 */
export function processorHandlers(
  publisher: EventPublisher,
  onProcessed: (processed: ProcessedEvent) => void = () => {},
): Record<string, EventHandler> {
  const handle =
    (topic: string, process: (event: EventEnvelope) => EventInput): EventHandler =>
    async (event, { offset, recovered }) => {
      const result = publisher.prepare(process(event));
      const receivers = await publisher.send(TOPICS.processingResults, result);
      const kept = offset === undefined ? {} : { offset, ...(recovered ? { recovered } : {}) };
      onProcessed({ topic, original: event, result, receivers, ...kept });
    };
  return Object.fromEntries(Object.entries(PROCESSOR_STEPS).map(([topic, step]) => [topic, handle(topic, step)]));
}

/**
 * What the processor makes of an event of each topic it consumes: the
 * result event, or a {@linkcode MalformedEventError}. Pub/sub and streams
 * handlers both publish these results.
 *
 * @example
 * ```ts
 * import { PROCESSOR_STEPS } from "./processing.ts";
 * import assert from "node:assert/strict";
 * const step = PROCESSOR_STEPS["key_submission"]!;
 * assert.equal(
 *   step({ event_type: "key_submitted", timestamp: "2024-01-01T10:00:00", key_value: "k" }).event_type,
 *   "key_processed",
 * );
 * ```
 */
export const PROCESSOR_STEPS: Readonly<Record<string, (event: EventEnvelope) => EventInput>> = {
  [TOPICS.keySubmission]: (event) => {
    if (event.event_type !== "key_submitted") {
      throw new MalformedEventError(`${TOPICS.keySubmission} carries key_submitted, got "${event.event_type}"`);
    }
    return processKeySubmitted(event);
  },
  [TOPICS.profileEvents]: (event) => processProfileEvent(event),
};
