/**
 * Appending events to streams, one stream per topic (`XADD`): the same
 * envelope as pub/sub, kept until retention trims it (lib/streams/append.ts).
 *
 * @module
 */
import type { Commands } from "../endpoint/link.ts";
import { type CreatedEvent, type EventInput, EventValidationError } from "./envelope.ts";
import { EventPublisher, type EventPublisherOptions } from "./publisher.ts";
import { appendSender, type Retention, retentionArgs } from "../streams/append.ts";
import { PAYLOAD_FIELD } from "../streams/entry.ts";
import type { TopicSchemas } from "../streams/schema.ts";

/** How a {@linkcode StreamPublisher} stamps, checks and trims. */
export interface StreamPublisherOptions extends EventPublisherOptions {
  /** Sends each append (e.g. a link's `throughFailover`: on a cluster, again while its slot fails over). */
  retry?: <T>(command: () => Promise<T>) => Promise<T>;
  /** Trim each stream as it is appended to (default: keep everything). */
  retention?: Retention;
  /** JSON Schemas by topic; an event that fails its topic's schema is not appended. */
  schemas?: TopicSchemas;
}

/**
 * Appends events to the stream named after their topic and returns each
 * entry id. Fields an event lacks (`timestamp`, `id`, `source`) are filled
 * in; an invalid event — by the envelope or by its topic's schema — is never
 * appended.
 *
 * @example
 * ```ts
 * import { Redis } from "ioredis";
 * import { StreamPublisher } from "./stream_publisher.ts";
 * import { LocalServer } from "../core/local_server.ts";
 * import assert from "node:assert/strict";
 *
 * // A throw-away server for the example, unless REDIS_URL names one to use:
 * await using local = Deno.env.get("REDIS_URL") ? undefined : await LocalServer.start();
 * const url = local?.url ?? Deno.env.get("REDIS_URL")!;
 * const redis = new Redis(url);
 * const orders = `orders-${crypto.randomUUID()}`; // a stream of the example's own
 * const publisher = new StreamPublisher(redis, { source: "shop", retention: { maxLen: 10_000 } });
 * const entryId = await publisher.append(orders, { event_type: "order_placed", total: 42 });
 * assert.ok(/^\d+-\d+$/.test(entryId));
 * assert.equal(await redis.xlen(orders), 1); // kept until retention trims it
 * await redis.del(orders);
 * await redis.quit();
 * ```
 */
export class StreamPublisher {
  readonly #redis: Commands;
  readonly #events: EventPublisher;
  readonly #options: StreamPublisherOptions;

  /**
   * Creates a StreamPublisher.
   *
   * @param redis a connection for XADD
   * @param options what to stamp, how to trim, which schemas to check
   */
  constructor(redis: Commands, options: StreamPublisherOptions = {}) {
    this.#redis = redis;
    this.#events = new EventPublisher(redis, { source: options.source });
    this.#options = options;
  }

  /**
   * Completes and checks the event without appending it: what
   * {@linkcode append} would store.
   *
   * @param topic the topic (its schema is checked)
   * @param event the event; only `event_type` is required
   * @returns the complete event
   * @throws {EventValidationError} when the envelope or the topic's schema refuses it
   */
  prepare(topic: string, event: EventInput): CreatedEvent {
    const complete = this.#events.prepare(event);
    const problems = this.#options.schemas?.problems(topic, complete) ?? [];
    if (problems.length > 0) throw new EventValidationError(problems.map((p) => `schema of ${topic}: ${p}`));
    return complete;
  }

  /**
   * Appends one event to the stream `topic`.
   *
   * @param topic the stream
   * @param event the event; only `event_type` is required
   * @returns the entry id
   * @throws {EventValidationError} when it is not a valid event (nothing is appended)
   */
  async append(topic: string, event: EventInput): Promise<string> {
    return await this.appendPrepared(topic, this.prepare(topic, event));
  }

  /**
   * Appends an event that {@linkcode prepare} returned, without checking it
   * again.
   *
   * @param topic the stream (the one it was prepared for)
   * @param event the prepared event
   * @returns the entry id
   */
  async appendPrepared(topic: string, event: CreatedEvent): Promise<string> {
    const payload = JSON.stringify(event);
    const append = () =>
      this.#redis.xadd(topic, ...retentionArgs(this.#options.retention), "*", PAYLOAD_FIELD, payload);
    return (await (this.#options.retry ? this.#options.retry(append) : append()))!;
  }

  /**
   * Appends many events in one pipeline (all are checked before any is sent).
   *
   * @param items the topic and event of each
   * @returns the entry ids, in order
   * @throws {EventValidationError} when any is invalid (nothing is appended)
   * @throws {Error} when an XADD fails
   */
  async appendMany(items: { topic: string; event: EventInput }[]): Promise<string[]> {
    const messages = items.map(({ topic, event }) => ({
      channel: topic,
      payload: JSON.stringify(this.prepare(topic, event)),
    }));
    const deliveries = await appendSender(this.#options.retention)(this.#redis, messages);
    return deliveries.map((d) => d.entryId!);
  }
}
