/**
 * Receiving events: topics and patterns mapped to handlers, run with a
 * bounded concurrency. A handler that throws is logged and counted and never
 * stops the others; statistics are kept per topic; shutdown stops receiving
 * and lets the handlers already started (and the events already received)
 * finish, up to a deadline.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import type { Redis } from "ioredis";
import { decodeEvent, type EventEnvelope, EventValidationError } from "./envelope.ts";
import { TopicStats, type TopicStatsSnapshot } from "./stats.ts";
import { escapeControl, Reporter } from "../core/output.ts";
import {
  type Confirmation,
  onMessage,
  type PubSubMessage,
  subscribeAll,
  type Subscription,
  unsubscribeAll,
} from "../pubsub/subscribe.ts";
import type { Subscriber } from "../endpoint/subscriber.ts";
import { delay } from "../core/timing.ts";
import { pauseReading } from "../core/ioredis_guard.ts";
import { formatNumber } from "../core/stats.ts";
import { ReadingTurns } from "../core/reading_turns.ts";
import { TaskPool } from "../core/task_pool.ts";
import type { ServiceMetrics } from "../ops/service_metrics.ts";
import { HandlerRunner, logNote, MalformedEventError, shouldLog } from "./handler_runner.ts";

export { logNote, MalformedEventError, shouldLog };

/**
 * What an {@linkcode EventSubscriber} subscribes with: an Endpoint's subscriber, which keeps its subscriptions, or one
 * that recovers what it missed around it (lib/recover's RecoveringSubscriber: events with their offset, and
 * `recovered`).
 */
export type KeptSubscriptions = Pick<Subscriber, "subscribe" | "unsubscribe" | "listen" | "pauseReading">;

/** What a handler is told besides the event (a topic's handlers share one, frozen: read it, never change it). */
export interface EventContext {
  /** The topic or pattern the handler is registered for. */
  topic: string;
  /** The channel the event was published on (differs from `topic` for patterns). */
  channel: string;
  /** The pattern that matched, for pattern handlers. */
  pattern?: string;
  /** Aborted when shutdown's deadline passes: a long handler should give up then. */
  signal: AbortSignal;
  /** On a recoverable channel followed with recovery (lib/recover): the event's offset in the channel's history. */
  offset?: number;
  /** True for an event read back from the history after an outage rather than received live. */
  recovered?: true;
}

/** Handles one event; may be async. Throwing counts the event as failed (or malformed, see {@linkcode MalformedEventError}). */
export type EventHandler = (event: EventEnvelope, context: EventContext) => void | Promise<void>;

/** How an {@linkcode EventSubscriber} behaves. */
export interface EventSubscriberOptions {
  /** Handlers by topic (channel name). */
  topics?: Record<string, EventHandler>;
  /** Handlers by glob pattern, e.g. `profile:*`. */
  patterns?: Record<string, EventHandler>;
  /** How many handlers may run at once (default 16). With 1, events are handled in arrival order. */
  concurrency?: number;
  /** How many received events may wait for a free slot before new ones are dropped (default 100,000). */
  maxQueued?: number;
  /** Where failures and malformed events are logged (default: stderr). */
  reporter?: Reporter;
  /** Where each topic's counts and handler times are reported (lib/ops). */
  metrics?: ServiceMetrics;
  /** The topics are sharded channels (SSUBSCRIBE: Redis ≥ 7, Valkey), given an Endpoint's subscriber. */
  sharded?: boolean;
}

/** What {@linkcode EventSubscriber.shutdown} achieved. */
export interface ShutdownResult {
  /** Whether every received event was handled before the deadline. */
  drained: boolean;
  /** Events still running or waiting when the deadline passed. */
  abandoned: number;
}

interface Route {
  kind: "channel" | "pattern";
  name: string;
  handler: EventHandler;
  stats: TopicStats;
  /** A topic's context, the same for each of its events (a pattern's names its channel: one per event). */
  context?: EventContext;
  /** When drops were last said, and the counts then. */
  dropLog?: { at: number; dropped: number; handled: number };
}

/** A message as it waits for a handler: its payload as text, so that it holds no view of the socket's data. */
interface Received {
  channel: string;
  pattern?: string | undefined;
  /** The payload's text, or (when it is not UTF-8) a copy of its bytes. */
  payload: string | Uint8Array;
  /** Its offset on a recoverable channel. */
  offset?: number | undefined;
  /** Read back from the history. */
  recovered?: true | undefined;
}

interface Pending {
  route: Route;
  message: Received;
}

/** The default number of handlers that may run at once. */
export const DEFAULT_CONCURRENCY = 64;
/** The default number of received events that may wait for a free slot. */
export const DEFAULT_MAX_QUEUED = 100_000;
/** Drops after the first are said at most this often. */
const DROP_NOTE_EVERY_MS = 1000;

/**
 * Subscribes to topics and patterns and runs one handler per topic for each
 * event, at most `concurrency` at a time. The Redis connection must be one
 * used for nothing else (a subscribed RESP2 connection cannot run other
 * commands); it stays open after {@linkcode shutdown}.
 *
 * @example
 * ```ts
 * import { Redis } from "ioredis";
 * import { EventPublisher } from "./publisher.ts";
 * import { EventSubscriber } from "./subscriber.ts";
 * import { LocalServer } from "../core/local_server.ts";
 * import assert from "node:assert/strict";
 *
 * // A throw-away server for the example, unless REDIS_URL names one to use:
 * await using local = Deno.env.get("REDIS_URL") ? undefined : await LocalServer.start();
 * const url = local?.url ?? Deno.env.get("REDIS_URL")!;
 * const sub = new Redis(url); // used for nothing but this subscriber
 * const pub = new Redis(url);
 * const seen: string[] = [];
 * const subscriber = new EventSubscriber(sub, {
 *   topics: { key_submission: (event) => void seen.push(`${event.event_type} ${event.key_value}`) },
 *   patterns: { "audit:*": async (event, { channel }) => void seen.push(`${channel} ${event.event_type}`) },
 *   concurrency: 8,
 * });
 * await subscriber.start();
 * const publisher = new EventPublisher(pub);
 * await publisher.keySubmitted("abc123", "Token1");
 * await publisher.publish("audit:login", { event_type: "login" });
 * const { drained } = await subscriber.shutdown(5000); // on Ctrl+C, say
 * assert.ok(drained);
 * assert.equal(seen.length, 2);
 * assert.equal(subscriber.stats()[0]!.processed, 1);
 * await sub.quit();
 * await pub.quit();
 * ```
 */
export class EventSubscriber {
  readonly #redis: Redis | undefined;
  readonly #kept: KeptSubscriptions | undefined;
  readonly #sharded: boolean;
  readonly #routes: Route[];
  readonly #channels = new Map<string, Route>();
  readonly #patterns = new Map<string, Route>();
  readonly #maxQueued: number;
  readonly #reporter: Reporter;
  readonly #abort = new AbortController();
  readonly #pool: TaskPool<Pending>;
  #stopListening: (() => void) | undefined;
  #state: "new" | "running" | "stopping" | "stopped" = "new";
  readonly #turns = new ReadingTurns(() => this.#kept ? this.#kept.pauseReading?.() : pauseReading(this.#redis!));
  readonly #concurrency: number;
  readonly #runner = new HandlerRunner<Pending, EventEnvelope>({
    succeeded: () => {},
    malformed: (p, problem) => this.#malformed(p.route, p.message, problem),
    failed: (p, event, err) => this.#failed(p.route, event, err),
  });

  /**
   * Creates an EventSubscriber.
   *
   * @param redis a connection used only for this subscriber, or an Endpoint's subscriber (lib/endpoint), which also
   *   restores the subscriptions after each reconnect and reports a topic the server refuses
   * @param options topics, patterns, concurrency, queue bound, reporter
   * @throws {RangeError} when there is nothing to subscribe to or a bound is not a positive whole number
   */
  constructor(redis: Redis | KeptSubscriptions, options: EventSubscriberOptions) {
    const kept = "listen" in redis ? redis : undefined;
    this.#kept = kept;
    this.#redis = kept ? undefined : redis as Redis;
    this.#sharded = options.sharded ?? false;
    this.#maxQueued = options.maxQueued ?? DEFAULT_MAX_QUEUED;
    this.#concurrency = options.concurrency ?? DEFAULT_CONCURRENCY;
    this.#pool = new TaskPool((p) => this.#run(p), {
      concurrency: this.#concurrency,
      maxQueued: this.#maxQueued,
    });
    this.#reporter = options.reporter ?? new Reporter(Deno.stderr);
    const route = (kind: Route["kind"], [name, handler]: [string, EventHandler]): Route => ({
      kind,
      name,
      handler,
      stats: new TopicStats(name, options.metrics),
    });
    this.#routes = [
      ...Object.entries(options.topics ?? {}).map((e) => route("channel", e)),
      ...Object.entries(options.patterns ?? {}).map((e) => route("pattern", e)),
    ];
    if (this.#routes.length === 0) throw new RangeError("EventSubscriber needs at least one topic or pattern");
    for (const r of this.#routes) {
      if (r.kind === "channel") {
        r.context = Object.freeze({ topic: r.name, channel: r.name, signal: this.#abort.signal });
        this.#channels.set(r.name, r);
      } else this.#patterns.set(r.name, r);
    }
  }

  /**
   * Subscribes to every topic and pattern; resolves once the server has
   * confirmed them all, so events published afterwards are received.
   *
   * @param onConfirm called for each confirmation
   * @throws {Error} when called twice, or when the server refuses (on a {@linkcode SubscriberConnection}: refuses all)
   */
  async start(onConfirm: (confirmation: Confirmation) => void = () => {}): Promise<void> {
    if (this.#state !== "new") throw new Error("EventSubscriber.start() was already called");
    this.#state = "running";
    const accept = (m: PubSubMessage) => this.#accept(m);
    this.#stopListening = this.#kept ? this.#kept.listen(accept) : onMessage(this.#redis!, accept);
    const subscriptions: Subscription[] = this.#routes.map(({ kind, name }) => ({
      kind: kind === "channel" && this.#sharded ? "shard" : kind,
      name,
    }));
    if (this.#kept) await this.#kept.subscribe(subscriptions, onConfirm);
    else await subscribeAll(this.#redis!, subscriptions, onConfirm);
  }

  /** Handlers running now. */
  get inFlight(): number {
    return this.#pool.inFlight;
  }

  /** Events received and waiting for a free slot. */
  get queued(): number {
    return this.#pool.queued;
  }

  /** Figures per topic and pattern, in the order they were given. */
  stats(): TopicStatsSnapshot[] {
    return this.#routes.map((r) => r.stats.snapshot());
  }

  /**
   * Stops receiving (unsubscribes), then waits until every event already
   * received is handled or `deadlineMs` has passed since the call. At the
   * deadline the handlers' `signal` is aborted and whatever is left is
   * abandoned.
   *
   * @param deadlineMs how long to wait in all (default 5 s)
   * @returns whether everything was handled, and how many events were abandoned
   */
  async shutdown(deadlineMs = 5000): Promise<ShutdownResult> {
    if (this.#state === "new" || this.#state === "stopped") {
      this.#state = "stopped";
      return { drained: true, abandoned: 0 };
    }
    this.#state = "stopping";
    const timer = new AbortController();
    const deadline = delay(deadlineMs, timer.signal).then(() => false);
    try {
      const leaving = this.#kept ? this.#kept.unsubscribe() : unsubscribeAll(this.#redis!, this.#routes);
      await Promise.race([leaving, deadline]);
      this.#stopListening?.();
      const drained = await Promise.race([this.#pool.whenIdle().then(() => true), deadline]);
      if (drained) return { drained, abandoned: 0 };
      const abandoned = this.inFlight + this.#pool.clear();
      this.#abort.abort();
      return { drained, abandoned };
    } finally {
      this.#stopListening?.();
      timer.abort();
      this.#state = "stopped";
    }
  }

  #accept(message: PubSubMessage): void {
    const route = message.pattern === undefined
      ? this.#channels.get(message.channel)
      : this.#patterns.get(message.pattern);
    if (!route || this.#state === "stopped") return;
    route.stats.received++;
    // Full: the handlers' own replies get their turn (lib/core/reading_turns.ts). Not sooner: while there is room,
    // reading first and handling after is the faster order.
    if (this.#pool.queued >= this.#maxQueued) this.#turns.yieldTurn();
    // The payload's Buffer is a view of the chunk the socket read: an event kept waiting would keep the whole chunk
    // (tens of kB) alive, and under a flood memory grew with the queue by kilobytes per event. One that waits keeps
    // its text instead, which is its own; one handled at once is decoded from the Buffer as it is.
    const waits = this.#pool.queued > 0 || this.#pool.inFlight >= this.#concurrency;
    const received: Received = waits ? { ...message, payload: ownPayload(message.payload) } : message;
    if (!this.#pool.submit({ route, message: received })) {
      route.stats.dropped++;
      this.#droppedNote(route, message.channel);
    }
  }

  /** Says the first drop at once, then at most once a second: how many more, and how far behind the handlers are. */
  #droppedNote(route: Route, channel: string): void {
    const now = performance.now();
    const { dropped, processed, failed } = route.stats;
    const last = route.dropLog;
    const advice = "Raise the concurrency or make the handler faster.";
    if (!last) {
      route.dropLog = { at: now, dropped, handled: processed + failed };
      this.#reporter.warn(
        `Dropped an event on ${channel}: ${formatNumber(this.#maxQueued)} events are already waiting ` +
          `for a handler (${dropped} dropped so far). ${advice}`,
      );
      return;
    }
    if (now - last.at < DROP_NOTE_EVERY_MS) return;
    const seconds = (now - last.at) / 1000;
    const rate = (processed + failed - last.handled) / seconds;
    const behind = rate > 0
      ? `about ${formatNumber(this.#pool.queued / rate, 1)} s of work at the `
      : "none handled at ";
    route.dropLog = { at: now, dropped, handled: processed + failed };
    this.#reporter.warn(
      `Dropped ${formatNumber(dropped - last.dropped)} more event(s) on ${channel} in the last ` +
        `${seconds.toFixed(1)} s (${formatNumber(dropped)} so far): ${formatNumber(this.#pool.queued)} are waiting ` +
        `for a handler, ${behind}${formatNumber(rate)}/s they are handled now. ${advice}`,
    );
  }

  #run(pending: Pending): void | Promise<void> {
    const { route, message } = pending;
    let event: EventEnvelope;
    try {
      event = decodeEvent(message.payload);
    } catch (err) {
      this.#malformed(route, message, (err as EventValidationError).problems.join("; "));
      return;
    }
    const kept = message.offset === undefined ? undefined : {
      offset: message.offset,
      ...(message.recovered ? { recovered: true as const } : {}),
    };
    const context: EventContext = route.context && !kept ? route.context : {
      topic: route.name,
      channel: message.channel,
      ...(message.pattern !== undefined ? { pattern: message.pattern } : {}),
      signal: this.#abort.signal,
      ...kept,
    };
    const started = route.stats.timeNext() ? performance.now() : undefined;
    return this.#runner.run(route.handler, event, context, pending, route.stats, started);
  }

  #malformed(route: Route, message: Received, problem: string): void {
    route.stats.malformed++;
    if (!shouldLog(route.stats.malformed)) return;
    const payload = message.payload;
    const text = typeof payload === "string"
      ? payload.slice(0, 120)
      : new TextDecoder().decode(payload.subarray(0, 120));
    const more = message.payload.length > 120 ? "…" : "";
    this.#reporter.warn(
      `Malformed event on ${message.channel}: ${problem}. Payload: ${escapeControl(text)}${more}` +
        logNote(route.stats.malformed),
    );
  }

  #failed(route: Route, event: EventEnvelope, err: unknown): void {
    if (!shouldLog(route.stats.failed)) return;
    const reason = err instanceof Error ? err.message : String(err);
    const which = `${event.event_type}${event.id ? ` ${event.id}` : ""}`;
    this.#reporter.error(`Handler for ${route.name} failed on ${which}: ${reason}` + logNote(route.stats.failed));
  }
}

/** A payload's text (its own string); bytes that are not UTF-8 are copied, for decodeEvent to refuse. */
function ownPayload(payload: Uint8Array): string | Uint8Array {
  const text = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength).toString("utf8");
  return text.includes("\uFFFD") ? payload.slice() : text;
}
