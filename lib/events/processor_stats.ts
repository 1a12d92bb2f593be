/**
 * The event processor's heartbeat: every few seconds (5 s by default) it
 * publishes one `processor_stats` event on the `processor_stats` channel —
 * who it is (host and pid), what it has handled, failed and dropped, how fast,
 * how much waits, and for how long it has run — so that a dashboard (lab 8)
 * can show every processor without asking any of them. The event is checked
 * against {@linkcode PROCESSOR_STATS_SCHEMA} when it is published and when it
 * is read; publishing runs on a timer, never on an event's path.
 *
 * ```json
 * {"event_type":"processor_stats","timestamp":"…","id":"…","source":"event_processor","processor":"lab/4242",
 *  "host":"lab","pid":4242,"mode":"pubsub","state":"running","received":12,"processed":11,"failed":0,
 *  "malformed":1,"dropped":0,"handled_per_second":2.4,"in_flight":0,"queued":0,"uptime_seconds":5.003,
 *  "interval_seconds":5}
 * ```
 *
 * @module
 */
import type { Redis } from "ioredis";
import type { Link } from "../endpoint/link.ts";
import { toSeconds } from "../core/json_event.ts";
import { commandLostConnection } from "../core/client.ts";
import { escapeControl, type Reporter } from "../core/output.ts";
import { unreadableReply } from "../core/server_faults.ts";
import { TopicSchemas } from "../streams/schema.ts";
import { decodeEvent, type EventEnvelope, eventProblems, EventValidationError } from "./envelope.ts";
import { TOPICS } from "./kinds.ts";
import { EventPublisher } from "./publisher.ts";
import type { TopicStatsSnapshot } from "./stats.ts";

/** The event type of a processor's statistics. */
export const PROCESSOR_STATS_EVENT = "processor_stats";
/** The channel the statistics go to unless `--stats-channel` says otherwise. */
export const DEFAULT_STATS_CHANNEL: string = TOPICS.processorStats;
/** How often they are published unless `--publish-stats` says otherwise. */
export const DEFAULT_PUBLISH_STATS_MS = 5000;

/** The fields of a `processor_stats` event besides the envelope's. */
export interface ProcessorStatsFields {
  /** Who: `host/pid`. */
  processor: string;
  /** The host name (`host` when it cannot be read). */
  host: string;
  /** The process id. */
  pid: number;
  /** `pubsub`, or `durable` for `--durable` (lab 6). */
  mode: "pubsub" | "durable";
  /** `running`, or `stopped` in the last event, sent as it stops. */
  state: "running" | "stopped";
  /** Events received since it started, over all topics. */
  received: number;
  /** Events handled without a failure. */
  processed: number;
  /** Events whose handler threw. */
  failed: number;
  /** Messages that were not valid events for their topic. */
  malformed: number;
  /** Events dropped because its queue was full. */
  dropped: number;
  /** Events finished (processed, failed or malformed) per second since the previous statistics, to 0.1. */
  handled_per_second: number;
  /** Handlers running now. */
  in_flight: number;
  /** Events received and waiting for a handler. */
  queued: number;
  /** How long it has run, in seconds (to the millisecond). */
  uptime_seconds: number;
  /** How often it publishes statistics, in seconds: a reader takes it as gone after a few missed ones. */
  interval_seconds: number;
  /** With `--durable`: its consumer group. */
  group?: string;
  /** With `--durable`: its consumer name. */
  consumer?: string;
}

/** A `processor_stats` event as read off the wire. */
export type ProcessorStatsEvent = EventEnvelope & ProcessorStatsFields;

/** The event's figures (counts, rate, times), in the schema's order. */
export const PROCESSOR_STATS_FIGURES = [
  "received",
  "processed",
  "failed",
  "malformed",
  "dropped",
  "handled_per_second",
  "in_flight",
  "queued",
  "uptime_seconds",
  "interval_seconds",
] as const satisfies readonly (keyof ProcessorStatsFields)[];

const count = { type: "integer", minimum: 0 };
const name = { type: "string", minLength: 1, maxLength: 256 };

/**
 * The JSON Schema every `processor_stats` event meets (its envelope is
 * checked as every event's is). Other fields are allowed, for later versions.
 */
export const PROCESSOR_STATS_SCHEMA: Readonly<Record<string, unknown>> = {
  type: "object",
  required: ["event_type", "processor", "host", "pid", "mode", "state", ...PROCESSOR_STATS_FIGURES],
  properties: {
    event_type: { const: PROCESSOR_STATS_EVENT },
    processor: name,
    host: name,
    pid: count,
    mode: { enum: ["pubsub", "durable"] },
    state: { enum: ["running", "stopped"] },
    received: count,
    processed: count,
    failed: count,
    malformed: count,
    dropped: count,
    handled_per_second: { type: "number", minimum: 0 },
    in_flight: count,
    queued: count,
    uptime_seconds: { type: "number", minimum: 0 },
    interval_seconds: { type: "number", exclusiveMinimum: 0 },
    group: name,
    consumer: name,
  },
};

const SCHEMAS = new TopicSchemas({ [PROCESSOR_STATS_EVENT]: PROCESSOR_STATS_SCHEMA });

/**
 * What is wrong with a value as a `processor_stats` event (its envelope included).
 *
 * @param value anything, e.g. a decoded message
 * @returns one line per problem; empty when it is one
 * @example
 * ```ts
 * import { processorStatsProblems } from "./processor_stats.ts";
 * import assert from "node:assert/strict";
 * assert.ok(processorStatsProblems({ event_type: "processor_stats", timestamp: "2026-01-01T10:00:00Z" }).length > 0);
 * ```
 */
export function processorStatsProblems(value: unknown): string[] {
  const envelope = eventProblems(value);
  return envelope.length > 0 ? envelope : SCHEMAS.problems(PROCESSOR_STATS_EVENT, value);
}

/**
 * Reads a `processor_stats` event off the wire: an event (UTF-8 JSON with a
 * valid envelope) that meets {@linkcode PROCESSOR_STATS_SCHEMA}.
 *
 * @param payload the message
 * @returns the event
 * @throws {EventValidationError} saying what is wrong
 * @example
 * ```ts
 * import { parseProcessorStats } from "./processor_stats.ts";
 * import assert from "node:assert/strict";
 * assert.throws(
 *   () => parseProcessorStats('{"event_type":"processor_stats","timestamp":"2026-01-01T10:00:00Z","pid":-1}'),
 *   /\/pid must be >= 0/,
 * );
 * ```
 */
export function parseProcessorStats(payload: string | Uint8Array): ProcessorStatsEvent {
  const event = decodeEvent(payload);
  const problems = SCHEMAS.problems(PROCESSOR_STATS_EVENT, event);
  if (problems.length > 0) throw new EventValidationError(problems);
  return event as ProcessorStatsEvent;
}

/**
 * This machine's name, or `host` when it cannot be read (no `--allow-sys`).
 *
 * @returns the host name
 * @example
 * ```ts
 * import { hostName } from "./processor_stats.ts";
 * import assert from "node:assert/strict";
 * assert.ok(hostName().length > 0);
 * ```
 */
export function hostName(): string {
  try {
    return Deno.hostname() || "host";
  } catch {
    return "host";
  }
}

/** What a processor is doing at one moment, for its statistics. */
export interface ProcessorLoad {
  /** Its figures per topic (or stream). */
  topics: readonly TopicStatsSnapshot[];
  /** Handlers running now. */
  inFlight: number;
  /** Events waiting for a handler. */
  queued: number;
}

/** How a {@linkcode ProcessorStatsPublisher} publishes. */
export interface ProcessorStatsOptions {
  /** The channel (default {@linkcode DEFAULT_STATS_CHANNEL}). */
  channel?: string;
  /** How often, in ms (default {@linkcode DEFAULT_PUBLISH_STATS_MS}). */
  everyMs?: number;
  /** The processor's mode. */
  mode: "pubsub" | "durable";
  /** With `--durable`: its group and consumer name. */
  group?: string;
  /** With `--durable`: its consumer name. */
  consumer?: string;
  /** When the processor started (ms since the epoch; default: now). */
  startedAt?: number;
  /** Where a failure to publish is reported (once, until publishing works again). */
  reporter?: Reporter;
}

/**
 * Publishes a processor's `processor_stats` event on a timer: a PUBLISH
 * every `everyMs` on a connection that is not subscribed, skipped while that
 * connection is down (statistics from an outage would only arrive stale).
 * {@linkcode stop} sends a last one with `state: "stopped"`.
 *
 * @example
 * ```ts
 * import { Redis } from "ioredis";
 * import { LocalServer } from "../core/local_server.ts";
 * import { parseProcessorStats, ProcessorStatsPublisher } from "./processor_stats.ts";
 * import assert from "node:assert/strict";
 *
 * // A throw-away server for the example, unless REDIS_URL names one to use:
 * await using local = Deno.env.get("REDIS_URL") ? undefined : await LocalServer.start();
 * const url = local?.url ?? Deno.env.get("REDIS_URL")!;
 * const [sub, pub] = [new Redis(url), new Redis(url)];
 * await sub.subscribe("processor_stats");
 * const heard = new Promise<string>((resolve) => sub.once("message", (_channel, payload) => resolve(payload)));
 * const load = () => ({ topics: [], inFlight: 0, queued: 0 });
 * const stats = new ProcessorStatsPublisher(pub, load, { mode: "pubsub", everyMs: 100 });
 * stats.start();
 * assert.equal(parseProcessorStats(await heard).state, "running");
 * await stats.stop();
 * await sub.quit();
 * await pub.quit();
 * ```
 */
export class ProcessorStatsPublisher {
  /** The channel it publishes on. */
  readonly channel: string;
  /** How often, in ms. */
  readonly everyMs: number;
  readonly #link: Pick<Link, "redis" | "ready">;
  readonly #read: () => ProcessorLoad;
  readonly #options: ProcessorStatsOptions;
  readonly #publisher: EventPublisher;
  readonly #startedAt: number;
  readonly #host = hostName();
  #timer: ReturnType<typeof setInterval> | undefined;
  #last: { at: number; handled: number };
  #sending: Promise<unknown> | undefined;
  #failing = false;

  /**
   * Creates a ProcessorStatsPublisher; nothing is sent before {@linkcode start}.
   *
   * @param redis a connection that can PUBLISH (not a subscribed one), or a link (lib/endpoint)
   * @param read what the processor is doing now (called once per publish)
   * @param options channel, interval, mode
   * @throws {RangeError} when the interval is not positive
   */
  constructor(redis: Redis | Pick<Link, "redis" | "ready">, read: () => ProcessorLoad, options: ProcessorStatsOptions) {
    this.#link = "redis" in redis ? redis : {
      redis,
      get ready() {
        return redis.status === "ready";
      },
    };
    this.#read = read;
    this.#options = options;
    this.channel = options.channel ?? DEFAULT_STATS_CHANNEL;
    this.everyMs = options.everyMs ?? DEFAULT_PUBLISH_STATS_MS;
    if (!(this.everyMs > 0)) throw new RangeError(`the statistics interval must be positive, got ${this.everyMs}`);
    this.#publisher = new EventPublisher(this.#link.redis, { source: "event_processor" });
    this.#startedAt = options.startedAt ?? Date.now();
    this.#last = { at: this.#startedAt, handled: 0 };
  }

  /** This processor's id in its events: `host/pid`. */
  get processor(): string {
    return `${this.#host}/${Deno.pid}`;
  }

  /** What a start line says about it, e.g. `statistics go to processor_stats every 5 s as lab/4242`. */
  get description(): string {
    return `statistics go to ${this.channel} every ${this.everyMs / 1000} s as ${this.processor}`;
  }

  /** Publishes now, then every `everyMs`. */
  start(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setInterval(() => void this.#send("running"), this.everyMs);
    void this.#send("running");
  }

  /**
   * The event for the figures now (not yet published; the rate's baseline moves on).
   *
   * @param state running, or stopped for the last one
   * @returns the event's fields
   */
  fields(state: ProcessorStatsFields["state"] = "running"): ProcessorStatsFields {
    const { topics, inFlight, queued } = this.#read();
    const total = (key: "received" | "processed" | "failed" | "malformed" | "dropped") =>
      topics.reduce((n, t) => n + t[key], 0);
    const processed = total("processed"), failed = total("failed"), malformed = total("malformed");
    const now = Date.now();
    const handled = processed + failed + malformed;
    const seconds = (now - this.#last.at) / 1000;
    const rate = seconds > 0 ? Math.round(10 * (handled - this.#last.handled) / seconds) / 10 : 0;
    this.#last = { at: now, handled };
    const { group, consumer } = this.#options;
    return {
      processor: this.processor,
      host: this.#host,
      pid: Deno.pid,
      mode: this.#options.mode,
      state,
      received: total("received"),
      processed,
      failed,
      malformed,
      dropped: total("dropped"),
      handled_per_second: Math.max(0, rate),
      in_flight: inFlight,
      queued,
      uptime_seconds: toSeconds(now - this.#startedAt),
      interval_seconds: this.everyMs / 1000,
      ...(group !== undefined ? { group } : {}),
      ...(consumer !== undefined ? { consumer } : {}),
    };
  }

  /**
   * Stops the timer and, when connected, publishes a last event (`state:
   * "stopped"`) after the one on its way, if any, waiting at most `ms` in all.
   * Disconnected, it returns at once: a PUBLISH lost with the connection waits
   * in the offline queue for the server, which may never come back.
   *
   * @param ms how long it may take
   */
  async stop(ms = 1000): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    if (!this.#link.ready) return;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<void>((resolve) => timer = setTimeout(resolve, ms));
    try {
      await Promise.race([Promise.resolve(this.#sending).then(() => this.#send("stopped")), late]);
    } finally {
      clearTimeout(timer);
    }
  }

  #send(state: ProcessorStatsFields["state"]): Promise<unknown> {
    if (this.#sending || !this.#link.ready) return Promise.resolve();
    const event = this.#publisher.prepare({ event_type: PROCESSOR_STATS_EVENT, ...this.fields(state) });
    const problems = processorStatsProblems(event);
    if (problems.length > 0) throw new EventValidationError(problems); // a bug here, never the server's
    const sending = this.#publisher.publish(this.channel, event).then(
      () => void (this.#failing = false),
      (err) => {
        // A lost or unreadable connection is reported by the connection itself, once.
        if (this.#failing || commandLostConnection(err) || unreadableReply(err)) return;
        this.#failing = true;
        this.#options.reporter?.warn(
          `Could not publish statistics on ${escapeControl(this.channel)}: ${escapeControl((err as Error).message)}. ` +
            `Processing goes on; --publish-stats 0 turns them off.`,
        );
      },
    ).finally(() => this.#sending = undefined);
    this.#sending = sending;
    return sending;
  }
}
