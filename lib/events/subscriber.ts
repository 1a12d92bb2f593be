/**
 * Receiving events: topics and patterns mapped to handlers, run with a
 * bounded concurrency. A handler that throws is logged and counted and never
 * stops the others; statistics are kept per topic; shutdown stops receiving
 * and lets the handlers already started (and the events already received)
 * finish, up to a deadline.
 *
 * @module
 */
import type { Redis } from "ioredis";
import { decodeEvent, type EventEnvelope, EventValidationError } from "./envelope.ts";
import { TopicStats, type TopicStatsSnapshot } from "./stats.ts";
import { escapeControl, Reporter } from "../core/output.ts";
import { type Confirmation, onMessage, type PubSubMessage, subscribeAll, unsubscribeAll } from "../pubsub/subscribe.ts";
import { delay } from "../core/timing.ts";
import { formatNumber } from "../core/stats.ts";

/** What a handler is told besides the event. */
export interface EventContext {
  /** The topic or pattern the handler is registered for. */
  topic: string;
  /** The channel the event was published on (differs from `topic` for patterns). */
  channel: string;
  /** The pattern that matched, for pattern handlers. */
  pattern?: string;
  /** Aborted when shutdown's deadline passes: a long handler should give up then. */
  signal: AbortSignal;
}

/** Handles one event; may be async. Throwing counts the event as failed (or malformed, see {@linkcode MalformedEventError}). */
export type EventHandler = (event: EventEnvelope, context: EventContext) => void | Promise<void>;

/**
 * Thrown by a handler when the event is a valid envelope but not what the
 * topic carries (a missing field, an unknown type): counted as malformed,
 * not as a failure of the handler.
 *
 * @example
 * ```ts
 * import { MalformedEventError } from "./subscriber.ts";
 * const err = new MalformedEventError("key_value is missing");
 * console.assert(err.name === "MalformedEventError");
 * ```
 */
export class MalformedEventError extends Error {
  /**
   * Creates a MalformedEventError.
   *
   * @param message what is wrong with the event
   */
  constructor(message: string) {
    super(message);
    this.name = "MalformedEventError";
  }
}

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
}

interface Pending {
  route: Route;
  message: PubSubMessage;
}

/** The default number of handlers that may run at once. */
export const DEFAULT_CONCURRENCY = 16;
/** The default number of received events that may wait for a free slot. */
export const DEFAULT_MAX_QUEUED = 100_000;
const LOG_FIRST = 10;
const LOG_EVERY = 1000;

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
 * console.assert(drained && seen.length === 2, seen);
 * console.assert(subscriber.stats()[0]!.processed === 1);
 * await sub.quit();
 * await pub.quit();
 * ```
 */
export class EventSubscriber {
  readonly #redis: Redis;
  readonly #routes: Route[];
  readonly #channels = new Map<string, Route>();
  readonly #patterns = new Map<string, Route>();
  readonly #concurrency: number;
  readonly #maxQueued: number;
  readonly #reporter: Reporter;
  readonly #abort = new AbortController();
  #queue: Pending[] = [];
  #queueHead = 0;
  #active = 0;
  #pumping = false;
  #stopListening: (() => void) | undefined;
  #state: "new" | "running" | "stopping" | "stopped" = "new";
  #idleWaiters: (() => void)[] = [];

  /**
   * Creates an EventSubscriber.
   *
   * @param redis a connection used only for this subscriber
   * @param options topics, patterns, concurrency, queue bound, reporter
   * @throws {RangeError} when there is nothing to subscribe to or a bound is not a positive whole number
   */
  constructor(redis: Redis, options: EventSubscriberOptions) {
    this.#redis = redis;
    this.#concurrency = positiveInt(options.concurrency ?? DEFAULT_CONCURRENCY, "concurrency");
    this.#maxQueued = positiveInt(options.maxQueued ?? DEFAULT_MAX_QUEUED, "maxQueued");
    this.#reporter = options.reporter ?? new Reporter(Deno.stderr);
    const route = (kind: Route["kind"], [name, handler]: [string, EventHandler]): Route => ({
      kind,
      name,
      handler,
      stats: new TopicStats(name),
    });
    this.#routes = [
      ...Object.entries(options.topics ?? {}).map((e) => route("channel", e)),
      ...Object.entries(options.patterns ?? {}).map((e) => route("pattern", e)),
    ];
    if (this.#routes.length === 0) throw new RangeError("EventSubscriber needs at least one topic or pattern");
    for (const r of this.#routes) (r.kind === "channel" ? this.#channels : this.#patterns).set(r.name, r);
  }

  /**
   * Subscribes to every topic and pattern; resolves once the server has
   * confirmed them all, so events published afterwards are received.
   *
   * @param onConfirm called for each confirmation
   * @throws {Error} when called twice, or when the server refuses
   */
  async start(onConfirm: (confirmation: Confirmation) => void = () => {}): Promise<void> {
    if (this.#state !== "new") throw new Error("EventSubscriber.start() was already called");
    this.#state = "running";
    this.#stopListening = onMessage(this.#redis, (m) => this.#accept(m));
    await subscribeAll(this.#redis, this.#routes, onConfirm);
  }

  /** Handlers running now. */
  get inFlight(): number {
    return this.#active;
  }

  /** Events received and waiting for a free slot. */
  get queued(): number {
    return this.#queue.length - this.#queueHead;
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
      await Promise.race([unsubscribeAll(this.#redis, this.#routes), deadline]);
      this.#stopListening?.();
      const drained = await Promise.race([this.#whenIdle().then(() => true), deadline]);
      if (drained) return { drained, abandoned: 0 };
      const abandoned = this.#active + this.queued;
      this.#queue = [];
      this.#queueHead = 0;
      this.#abort.abort();
      return { drained, abandoned };
    } finally {
      this.#stopListening?.();
      timer.abort();
      this.#state = "stopped";
    }
  }

  #whenIdle(): Promise<void> {
    if (this.#active === 0 && this.queued === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  #accept(message: PubSubMessage): void {
    const route = message.pattern === undefined
      ? this.#channels.get(message.channel)
      : this.#patterns.get(message.pattern);
    if (!route || this.#state === "stopped") return;
    route.stats.received++;
    if (this.#active < this.#concurrency && this.queued === 0) {
      this.#run({ route, message });
      this.#pump();
    } else if (this.queued < this.#maxQueued) {
      this.#queue.push({ route, message });
    } else {
      route.stats.dropped++;
      if (shouldLog(route.stats.dropped)) {
        this.#reporter.warn(
          `Dropped an event on ${message.channel}: ${formatNumber(this.#maxQueued)} events are already waiting ` +
            `for a handler (${route.stats.dropped} dropped so far). Raise the concurrency or make the handler faster.`,
        );
      }
    }
  }

  #pump(): void {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      while (this.#active < this.#concurrency && this.queued > 0) {
        const next = this.#queue[this.#queueHead]!;
        this.#queue[this.#queueHead++] = undefined as unknown as Pending;
        if (this.#queueHead > 1024 && this.#queueHead * 2 > this.#queue.length) {
          this.#queue = this.#queue.slice(this.#queueHead);
          this.#queueHead = 0;
        }
        this.#run(next);
      }
    } finally {
      this.#pumping = false;
    }
    if (this.#active === 0 && this.queued === 0 && this.#idleWaiters.length > 0) {
      for (const wake of this.#idleWaiters.splice(0)) wake();
    }
  }

  #run({ route, message }: Pending): void {
    let event: EventEnvelope;
    try {
      event = decodeEvent(message.payload);
    } catch (err) {
      this.#malformed(route, message, (err as EventValidationError).problems.join("; "));
      return;
    }
    this.#active++;
    const context: EventContext = {
      topic: route.name,
      channel: message.channel,
      ...(message.pattern !== undefined ? { pattern: message.pattern } : {}),
      signal: this.#abort.signal,
    };
    const started = performance.now();
    let result: void | Promise<void>;
    try {
      result = route.handler(event, context);
    } catch (err) {
      this.#done(route, message, event, started, err ?? new Error("handler threw nothing"));
      return;
    }
    if (result instanceof Promise) {
      result.then(
        () => this.#done(route, message, event, started, undefined),
        (err) => this.#done(route, message, event, started, err ?? new Error("handler rejected with nothing")),
      );
    } else this.#done(route, message, event, started, undefined);
  }

  #done(route: Route, message: PubSubMessage, event: EventEnvelope, started: number, err: unknown): void {
    this.#active--;
    if (err instanceof MalformedEventError) this.#malformed(route, message, err.message);
    else {
      route.stats.recordDone(performance.now() - started, err === undefined);
      if (err !== undefined) this.#failed(route, event, err);
    }
    this.#pump();
  }

  #malformed(route: Route, message: PubSubMessage, problem: string): void {
    route.stats.malformed++;
    if (!shouldLog(route.stats.malformed)) return;
    const text = new TextDecoder().decode(message.payload.subarray(0, 120));
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

function positiveInt(n: number, what: string): number {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`${what} must be a whole number of at least 1, got ${n}`);
  return n;
}

function shouldLog(count: number): boolean {
  return count <= LOG_FIRST || count % LOG_EVERY === 0;
}

function logNote(count: number): string {
  if (count === LOG_FIRST) {
    return ` (${LOG_FIRST} so far; from now on only every ${formatNumber(LOG_EVERY)}th is logged)`;
  }
  return count > LOG_FIRST ? ` (${formatNumber(count)} so far)` : "";
}
