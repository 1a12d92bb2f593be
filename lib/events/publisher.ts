/**
 * Publishing events: any event on any topic, plus helpers for the lab's
 * key and profile events. Every publish returns how many subscribers
 * received the event (0: nobody was listening, and pub/sub keeps nothing).
 *
 * @module
 */
import type { Commands } from "../endpoint/link.ts";
import { completeEvent, type CreatedEvent, type EventInput } from "./envelope.ts";
import type { BatchSender } from "../pubsub/publish.ts";
import type { HistoryLimit } from "../recover/history.ts";
import { historySender } from "../recover/history_publisher.ts";
import { keySubmittedEvent, profileEvent, type ProfileId, TOPICS } from "./kinds.ts";

/** How an {@linkcode EventPublisher} stamps its events. */
export interface EventPublisherOptions {
  /** Put in `source` of every event that has none, e.g. the program's name. */
  source?: string;
  /** Publish with SPUBLISH (sharded channels: Redis ≥ 7, Valkey) instead of PUBLISH. */
  sharded?: boolean;
  /**
   * Publish to recoverable channels (lib/recover): each event numbered and kept in its topic's capped history as it is
   * published, so that a subscriber with recovery gets back what it missed during an outage. A plain subscriber sees
   * the `#OFFSET/EPOCH ` prefix before the JSON.
   */
  history?: HistoryLimit;
}

/**
 * Publishes events as JSON on topics, filling in `timestamp`, `id` and
 * `source` and validating each event before it is sent.
 *
 * @example
 * ```ts
 * import { Redis } from "ioredis";
 * import { EventPublisher } from "./publisher.ts";
 * import { LocalServer } from "../core/local_server.ts";
 * import assert from "node:assert/strict";
 *
 * // A throw-away server for the example, unless REDIS_URL names one to use:
 * await using local = Deno.env.get("REDIS_URL") ? undefined : await LocalServer.start();
 * const url = local?.url ?? Deno.env.get("REDIS_URL")!;
 * const redis = new Redis(url);
 * const publisher = new EventPublisher(redis, { source: "my_app" });
 * const receivers = await publisher.keySubmitted("abc123", "My Token");
 * assert.equal(receivers, 0); // nobody subscribed: the event is gone
 * await publisher.publish("my_topic", { event_type: "custom", data: { anything: "you want" } });
 * const event = publisher.prepare({ event_type: "custom" }); // what publish() would send
 * assert.equal(event.source, "my_app");
 * assert.equal(event.id.length, 36);
 * await redis.quit();
 * ```
 */
export class EventPublisher {
  /**
   * Creates an EventPublisher.
   *
   * @param redis a connection that can run PUBLISH (not one that is subscribed)
   * @param options what to stamp on events
   */
  readonly #kept: BatchSender | undefined;

  constructor(private readonly redis: Commands, private readonly options: EventPublisherOptions = {}) {
    if (options.history) this.#kept = historySender(options.history, options.sharded ?? false);
  }

  /**
   * Completes and validates the event, without publishing it: what
   * {@linkcode publish} would send.
   *
   * @param event the event; only `event_type` is required
   * @returns the complete event
   * @throws {EventValidationError} when it is not a valid event
   */
  prepare(event: EventInput): CreatedEvent {
    return completeEvent(event, { source: this.options.source });
  }

  /**
   * Publishes an event on a topic. Fields it lacks (`timestamp`, `id`,
   * `source`) are filled in; an event that is already complete — from
   * {@linkcode prepare} or {@linkcode createEvent} — is sent as it is.
   *
   * @param topic the channel
   * @param event the event; only `event_type` is required
   * @returns how many subscribers received it (on a cluster: subscribers of the node that took it)
   * @throws {EventValidationError} when it is not a valid event (nothing is sent)
   */
  async publish(topic: string, event: EventInput): Promise<number> {
    return await this.send(topic, this.prepare(event));
  }

  /**
   * Publishes an event {@linkcode prepare} has just completed and checked,
   * without checking it again (a processor's results: once per event).
   *
   * @param topic the channel
   * @param event the event, from {@linkcode prepare}
   * @returns how many subscribers received it (on a cluster: subscribers of the node that took it)
   */
  async send(topic: string, event: CreatedEvent): Promise<number> {
    const payload = JSON.stringify(event);
    if (this.#kept) return (await this.#kept(this.redis, [{ channel: topic, payload }]))[0]!.receivers;
    if (this.options.sharded) return Number(await this.redis.spublish(topic, payload));
    return await this.redis.publish(topic, payload);
  }

  /**
   * Publishes `key_submitted` on `key_submission`.
   *
   * @param keyValue the key
   * @param tokenName the token it belongs to
   * @returns how many subscribers received it
   */
  keySubmitted(keyValue: string, tokenName?: string): Promise<number> {
    return this.publish(TOPICS.keySubmission, keySubmittedEvent(keyValue, tokenName));
  }

  /**
   * Publishes `profile_created` on `profile_events`.
   *
   * @param profileId the profile
   * @param profileData its fields
   * @returns how many subscribers received it
   */
  profileCreated(profileId: ProfileId, profileData: Record<string, unknown>): Promise<number> {
    return this.publish(TOPICS.profileEvents, profileEvent("created", profileId, profileData));
  }

  /**
   * Publishes `profile_updated` on `profile_events`.
   *
   * @param profileId the profile
   * @param profileData the fields that changed (or all of them)
   * @returns how many subscribers received it
   */
  profileUpdated(profileId: ProfileId, profileData: Record<string, unknown>): Promise<number> {
    return this.publish(TOPICS.profileEvents, profileEvent("updated", profileId, profileData));
  }

  /**
   * Publishes `profile_deleted` on `profile_events`.
   *
   * @param profileId the profile
   * @param profileData what is worth keeping about it (default none)
   * @returns how many subscribers received it
   */
  profileDeleted(profileId: ProfileId, profileData: Record<string, unknown> = {}): Promise<number> {
    return this.publish(TOPICS.profileEvents, profileEvent("deleted", profileId, profileData));
  }
}
