/**
 * The events of the labs: their topics and how each kind is built.
 *
 * | topic                | event types                                             |
 * |----------------------|---------------------------------------------------------|
 * | `key_submission`     | `key_submitted` (key_value, token_name)                 |
 * | `profile_events`     | `profile_created` / `_updated` / `_deleted` (profile_id, profile_data) |
 * | `processing_results` | `key_processed`, `profile_processed` (original_event, result) |
 * | `processor_stats`    | `processor_stats` (see {@link ./processor_stats.ts})     |
 *
 * @module
 */
import type { EventInput } from "./envelope.ts";

/** The lab's topics (channel names). */
export const TOPICS = {
  /** Keys submitted for processing. */
  keySubmission: "key_submission",
  /** Profiles created, updated and deleted. */
  profileEvents: "profile_events",
  /** What the processor made of them. */
  processingResults: "processing_results",
  /** Each event processor's statistics, every few seconds. */
  processorStats: "processor_stats",
} as const;

/** What can happen to a profile. */
export type ProfileAction = "created" | "updated" | "deleted";

/** A profile's id: a number or a string. */
export type ProfileId = string | number;

/**
 * A `key_submitted` event (without envelope fields: the publisher adds them).
 *
 * @param keyValue the key
 * @param tokenName the token it belongs to
 * @returns the event
 * @example
 * ```ts
 * import { keySubmittedEvent } from "./kinds.ts";
 * import assert from "node:assert/strict";
 * assert.equal(keySubmittedEvent("abc123", "Token1").event_type, "key_submitted");
 * ```
 */
export function keySubmittedEvent(keyValue: string, tokenName?: string): EventInput {
  return { event_type: "key_submitted", key_value: keyValue, token_name: tokenName ?? null };
}

/**
 * A `profile_created`, `profile_updated` or `profile_deleted` event.
 *
 * @param action what happened
 * @param profileId which profile
 * @param profileData its fields (for deletions, whatever is worth keeping)
 * @returns the event
 * @example
 * ```ts
 * import { profileEvent } from "./kinds.ts";
 * import assert from "node:assert/strict";
 * const event = profileEvent("created", 1, { token_name: "Profile Name", active: true });
 * assert.equal(event.event_type, "profile_created");
 * ```
 */
export function profileEvent(
  action: ProfileAction,
  profileId: ProfileId,
  profileData: Record<string, unknown> = {},
): EventInput {
  return { event_type: `profile_${action}`, profile_id: profileId, profile_data: profileData };
}
