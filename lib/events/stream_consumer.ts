/**
 * Consuming streams with a consumer group, at least once: entries are read
 * in batches (`XREADGROUP … BLOCK`), handled with the pub/sub subscriber's
 * bounded concurrency, and acknowledged (`XACK`) only after the handler
 * succeeded. A consumer restarted under the same name first finishes its own
 * pending entries; entries left pending by a consumer that died — or by a
 * handler that failed — are claimed after `claimAfterMs` (`XAUTOCLAIM`) and
 * retried; after `maxDeliveries` deliveries, or at once when the entry is not
 * an event or fails its schema, an entry moves to `<stream>:dead` with the
 * reason, the attempts and its original id. An entry found unreadable is read
 * again by id first: when the stream holds something else, the delivered copy
 * was damaged in transit, and the stored one is handled instead (counted as
 * `damaged_in_transit`, never dead-lettered for it).
 *
 * @module
 */
import { Redis } from "ioredis";
import { escapeControl, Reporter } from "../core/output.ts";
import { positiveInt, TaskPool } from "../core/task_pool.ts";
import { ABORTED, delay, unlessAborted, whenAborted } from "../core/timing.ts";
import type { Commands } from "../endpoint/link.ts";
import { AckBatcher } from "../streams/ack_batcher.ts";
import { Claimer } from "../streams/claimer.ts";
import { moveToDeadLetters } from "../streams/dead_letter_move.ts";
import {
  deadLetterStream,
  groupStartId,
  PAYLOAD_FIELD,
  type StartPosition,
  type StreamEntry,
} from "../streams/entry.ts";
import { deleteConsumerIfIdle, ensureGroup, pendingCount, streamGroups } from "../streams/groups.ts";
import { LaneReader, message, type ReadLane, type Via } from "../streams/lane_reader.ts";
import type { TopicSchemas } from "../streams/schema.ts";
import { serverCommands, type StreamCommands } from "../streams/stream_commands.ts";
import { decodeEvent, type EventEnvelope, type EventValidationError } from "./envelope.ts";
import { HandlerRunner, logNote, shouldLog } from "./handler_runner.ts";
import type { EventContext } from "./subscriber.ts";
import { StreamStats, type StreamStatsSnapshot } from "./stream_stats.ts";
import { UnreadableEntries } from "./unreadable_entries.ts";

export type { ReadLane };
import type { ServiceMetrics } from "../ops/service_metrics.ts";

/** What a stream handler is told besides the event. */
export interface StreamContext extends EventContext {
  /** The entry's id in its stream: results carry it, so their readers can drop duplicates. */
  entryId: string;
  /** How many times the entry has been delivered, this time included (1 the first time). */
  deliveries: number;
}

/** Handles one event of a stream; may be async. Throwing leaves the entry pending, to be retried. */
export type StreamHandler = (event: EventEnvelope, context: StreamContext) => void | Promise<void>;

/**
 * Handles one entry's payload as it is, for streams that carry something
 * other than events (kv_updater's updates). Throwing leaves the entry
 * pending; throwing a {@linkcode MalformedEventError} dead-letters it at once.
 */
export type RawStreamHandler = (payload: string, context: StreamContext) => void | Promise<void>;

/** An entry moved to the dead-letter stream. */
export interface DeadLetter {
  /** The stream it came from. */
  stream: string;
  /** Its id there. */
  originalId: string;
  /** The id of its copy in `<stream>:dead`. */
  deadId: string;
  /** Why. */
  reason: string;
  /** How many times it was delivered. */
  attempts: number;
}

/** How a {@linkcode StreamConsumer} behaves. */
export interface StreamConsumerOptions {
  /** The consumer group (created when missing). */
  group: string;
  /** Where each stream's counts and handler times are reported (lib/ops). */
  metrics?: ServiceMetrics;
  /** This consumer's name in the group; a restart under the same name finishes its pending entries first. */
  consumer: string;
  /** Handlers by stream name. */
  streams?: Record<string, StreamHandler>;
  /** Handlers of raw payloads by stream name: no envelope or schema check. */
  rawStreams?: Record<string, RawStreamHandler>;
  /** Where a group that does not exist yet starts (default: new entries only). */
  from?: StartPosition;
  /** How many handlers may run at once (default 100, a whole read). With 1, entries are handled in order. */
  concurrency?: number;
  /** How many entries one read takes (default 100). */
  batchSize?: number;
  /** How long one blocking read waits for new entries (default 1 s). */
  blockMs?: number;
  /** How long an entry sits unacknowledged before another consumer — or a retry — takes it (default 30 s). */
  claimAfterMs?: number;
  /** Deliveries after which an entry that still fails goes to the dead-letter stream (default 5). */
  maxDeliveries?: number;
  /** JSON Schemas by stream, checked on receive. */
  schemas?: TopicSchemas;
  /** Where failures and dead letters are logged (default: stderr). */
  reporter?: Reporter;
  /** Called for each entry moved to a dead-letter stream. */
  onDeadLetter?: (dead: DeadLetter) => void;
  /** On a cluster: sends an XACK again while its slot fails over (else it stays pending and is claimed again). */
  retryAck?: <T>(command: () => Promise<T>) => Promise<T>;
}

/** What {@linkcode StreamConsumer.shutdown} achieved. */
export interface StreamShutdownResult {
  /** Whether every entry taken was handled before the deadline. */
  drained: boolean;
  /** Entries still running or waiting at the deadline: they stay pending, to be redelivered. */
  abandoned: number;
  /**
   * Whether this consumer was removed from its groups (only when it had nothing pending); null when that could not
   * be checked before the deadline (the server gone or not answering): it then stays in its groups.
   */
  removed: boolean | null;
}

/** The default claim time: how long an entry may sit unacknowledged before it is taken over. */
export const DEFAULT_CLAIM_AFTER_MS = 30_000;
/** The default number of deliveries before a failing entry goes to the dead-letter stream. */
export const DEFAULT_MAX_DELIVERIES = 5;
/** The default number of entries one read takes. */
export const DEFAULT_BATCH_SIZE = 100;
/**
 * The default number of handlers that may run at once: a whole read, so
 * that the handlers' own commands (a result appended per entry) go out
 * together, pipelined, instead of a few per round trip.
 */
export const DEFAULT_STREAM_CONCURRENCY = DEFAULT_BATCH_SIZE;

interface Route {
  stream: string;
  handler?: StreamHandler;
  raw?: RawStreamHandler;
  stats: StreamStats;
  /** Ids of the entries taken: queued, running, or waiting for their XACK (a claim skips them). */
  taken: Set<string>;
}

interface Delivery {
  route: Route;
  entry: StreamEntry & { fields: Record<string, string> };
  deliveries: number;
  /** How many times this entry was read again by id after it looked unreadable (0: as delivered). */
  rereads: number;
}

/**
 * Consumes streams in a consumer group and runs one handler per stream for
 * each entry, at most `concurrency` at a time. It needs two connections:
 * `reader` for the blocking reads (used for nothing else) and `commands` for
 * acknowledgements, claims and dead letters (with its offline queue on, an
 * XACK during an outage is sent when the server is back).
 *
 * @example
 * ```ts
 * import { Redis } from "ioredis";
 * import { StreamConsumer } from "./stream_consumer.ts";
 * import { StreamPublisher } from "./stream_publisher.ts";
 * import { LocalServer } from "../core/local_server.ts";
 * import assert from "node:assert/strict";
 *
 * // A throw-away server for the example, unless REDIS_URL names one to use:
 * await using local = Deno.env.get("REDIS_URL") ? undefined : await LocalServer.start();
 * const url = local?.url ?? Deno.env.get("REDIS_URL")!;
 * const [reader, commands] = [new Redis(url), new Redis(url)];
 * const orders = `orders-${crypto.randomUUID()}`; // a stream of the example's own
 * const publisher = new StreamPublisher(commands);
 * await publisher.append(orders, { event_type: "order_placed", total: 42 }); // before the consumer exists
 * const seen: string[] = [];
 * const consumer = new StreamConsumer(reader, commands, {
 *   group: "billing",
 *   consumer: "billing-1",
 *   from: { kind: "start" }, // a new group reads what is already there
 *   streams: { [orders]: (event, { entryId }) => void seen.push(`${entryId} ${event.total}`) },
 * });
 * await consumer.start();
 * while (seen.length === 0) await new Promise((r) => setTimeout(r, 10));
 * const { drained } = await consumer.shutdown(5000);
 * assert.ok(drained);
 * assert.ok(seen[0]!.endsWith(" 42"));
 * await commands.del(orders);
 * await reader.quit();
 * await commands.quit();
 * ```
 */
export class StreamConsumer {
  readonly #link: StreamCommands;
  readonly #redis: Commands;
  readonly #lanes: ReadLane[];
  readonly #group: string;
  readonly #consumer: string;
  readonly #routes = new Map<string, Route>();
  readonly #streams: string[];
  readonly #from: StartPosition;
  readonly #batch: number;
  readonly #blockMs: number;
  readonly #claimAfterMs: number;
  readonly #maxDeliveries: number;
  readonly #schemas: TopicSchemas | undefined;
  readonly #reporter: Reporter;
  readonly #onDeadLetter: (dead: DeadLetter) => void;
  readonly #pool: TaskPool<Delivery>;
  readonly #acks: AckBatcher;
  readonly #stop = new AbortController();
  readonly #abort = new AbortController();
  readonly #whenStopped = whenAborted(this.#stop.signal);
  readonly #runner = new HandlerRunner<Delivery, EventEnvelope | string>({
    succeeded: (d) => this.#ack(d.route.stream, d.entry.id),
    malformed: (d, problem) => this.#unreadable.check(d, problem),
    failed: (d, event, err) => this.#failed(d, typeof event === "string" ? undefined : event, err),
  });
  #readers: LaneReader[] = [];
  #reading: Promise<void> | undefined;
  #claiming: Promise<void> | undefined;
  #trimmed = 0;
  readonly #unreadable: UnreadableEntries<Delivery>;
  #state: "new" | "running" | "stopping" | "stopped" = "new";

  /**
   * Creates a StreamConsumer.
   *
   * @param reader a connection for the blocking reads only, or the lanes that read (on a cluster)
   * @param commands a connection for XACK, XAUTOCLAIM, XPENDING and dead letters, or a link (lib/endpoint: on a
   *   cluster each command goes to its stream's master, an XACK is sent again while its slot fails over)
   * @param options group, consumer name, handlers and bounds
   * @throws {RangeError} when there is no stream or a bound is not a positive whole number
   */
  constructor(reader: Redis | ReadLane[], commands: Redis | StreamCommands, options: StreamConsumerOptions) {
    this.#link = commands instanceof Redis ? serverCommands(commands) : commands;
    this.#redis = this.#link.redis;
    this.#group = options.group;
    this.#consumer = options.consumer;
    this.#from = options.from ?? { kind: "new" };
    this.#batch = positiveInt(options.batchSize ?? DEFAULT_BATCH_SIZE, "batchSize");
    this.#blockMs = positiveInt(options.blockMs ?? 1000, "blockMs");
    this.#claimAfterMs = positiveInt(options.claimAfterMs ?? DEFAULT_CLAIM_AFTER_MS, "claimAfterMs");
    this.#maxDeliveries = positiveInt(options.maxDeliveries ?? DEFAULT_MAX_DELIVERIES, "maxDeliveries");
    this.#schemas = options.schemas;
    this.#reporter = options.reporter ?? new Reporter(Deno.stderr);
    this.#onDeadLetter = options.onDeadLetter ?? (() => {});
    for (const [stream, handler] of Object.entries(options.streams ?? {})) {
      this.#routes.set(stream, { stream, handler, stats: new StreamStats(stream, options.metrics), taken: new Set() });
    }
    for (const [stream, raw] of Object.entries(options.rawStreams ?? {})) {
      this.#routes.set(stream, { stream, raw, stats: new StreamStats(stream, options.metrics), taken: new Set() });
    }
    this.#streams = [...this.#routes.keys()];
    if (this.#streams.length === 0) throw new RangeError("StreamConsumer needs at least one stream");
    this.#lanes = Array.isArray(reader)
      ? reader
      : [{ streams: this.#streams, reader, unblock: (id: number) => this.#redis.client("UNBLOCK", id) }];
    this.#acks = new AckBatcher({
      group: this.#group,
      commands: this.#redis,
      retry: options.retryAck ?? this.#link.throughFailover,
      reporter: this.#reporter,
      settled: (stream, ids) => {
        const taken = this.#routes.get(stream)!.taken;
        for (const id of ids) taken.delete(id);
      },
    });
    this.#unreadable = new UnreadableEntries<Delivery>(this.#redis, this.#reporter, this.#claimAfterMs, {
      deadLetter: (d, reason) => this.#deadLetter(d, reason),
      handleStored: (d, fields) => this.#handle({ ...d, entry: { id: d.entry.id, fields }, rereads: d.rereads + 1 }),
      leavePending: (d) => void d.route.taken.delete(d.entry.id),
    });
    // Reads stop while anything waits for a slot, so the queue never holds more than a batch per source.
    this.#pool = new TaskPool((d) => this.#handle(d), {
      concurrency: options.concurrency ?? DEFAULT_STREAM_CONCURRENCY,
      maxQueued: this.#batch * (this.#streams.length + 2),
    });
  }

  /**
   * Creates the groups that are missing, then starts reading in the
   * background: first this consumer's own pending entries, then new ones;
   * and claiming what others left behind.
   *
   * @returns the streams whose group was created now (the others existed and keep their position)
   * @throws {Error} when called twice, or when a key is not a stream
   */
  async start(): Promise<string[]> {
    if (this.#state !== "new") throw new Error("StreamConsumer.start() was already called");
    this.#state = "running";
    const created: string[] = [];
    for (const stream of this.#streams) {
      if (await ensureGroup(this.#redis, stream, this.#group, groupStartId(this.#from))) created.push(stream);
    }
    const sink = { take: this.#dispatch, room: () => this.#room() };
    const reading = {
      group: this.#group,
      consumer: this.#consumer,
      batch: this.#batch,
      blockMs: this.#blockMs,
      commands: this.#redis,
      reporter: this.#reporter,
      stop: this.#stop.signal,
    };
    this.#readers = this.#lanes.map((lane) => new LaneReader(lane, reading, sink));
    this.#reading = this.#read();
    const taken = (stream: string, id: string) => this.#routes.get(stream)!.taken.has(id);
    const claimer = new Claimer({ ...reading, streams: this.#streams, claimAfterMs: this.#claimAfterMs, taken }, sink);
    this.#claiming = claimer.run();
    return created;
  }

  /** The consumer group. */
  get group(): string {
    return this.#group;
  }

  /** This consumer's name. */
  get name(): string {
    return this.#consumer;
  }

  /** Handlers running now. */
  get inFlight(): number {
    return this.#pool.inFlight;
  }

  /** Entries taken and waiting for a free slot. */
  get queued(): number {
    return this.#pool.queued;
  }

  /** Figures per stream kept by this consumer (pending and lag: see {@linkcode serverStats}). */
  stats(): StreamStatsSnapshot[] {
    return this.#streams.map((s) => this.#routes.get(s)!.stats.snapshot());
  }

  /**
   * Figures per stream with the group's pending count and lag as the server
   * reports them now (lag is null where the server does not say). While the
   * connection is down, or when `stop` aborts before the answers, they are
   * this consumer's own figures ({@linkcode stats}): the commands would wait
   * in the offline queue until the server is back.
   *
   * @param stop stops waiting for the server (the figures are then this consumer's own)
   * @returns the snapshots
   */
  async serverStats(stop?: AbortSignal): Promise<StreamStatsSnapshot[]> {
    if (!this.#link.ready) return this.stats();
    const asked = Promise.all(this.#streams.map(async (stream) => {
      const stats = this.#routes.get(stream)!.stats;
      try {
        const [pending, groups] = await Promise.all([
          pendingCount(this.#redis, stream, this.#group),
          streamGroups(this.#redis, stream),
        ]);
        return stats.snapshot({ pending, lag: groups.find((g) => g.name === this.#group)?.lag ?? null });
      } catch {
        return stats.snapshot();
      }
    }));
    const answer = await unlessAborted(asked, stop);
    return answer === ABORTED ? this.stats() : answer;
  }

  /**
   * Stops reading and claiming, then waits until every entry already taken
   * is handled and acknowledged, or `deadlineMs` has passed. At the deadline
   * the handlers' `signal` is aborted; what is left stays pending and is
   * redelivered (to this name on restart, or to another consumer after the
   * claim time). When this consumer has nothing pending it is removed from
   * its groups — never otherwise. Nothing here waits on the server past the
   * deadline: with the server gone, the stop takes as long as the handlers.
   *
   * @param deadlineMs how long to wait in all (default 5 s)
   * @returns whether everything was handled, how much was abandoned, whether the consumer was removed
   */
  async shutdown(deadlineMs = 5000): Promise<StreamShutdownResult> {
    if (this.#state === "new" || this.#state === "stopped") {
      this.#state = "stopped";
      return { drained: true, abandoned: 0, removed: false };
    }
    this.#state = "stopping";
    this.#stop.abort();
    const timer = new AbortController();
    const deadline = delay(deadlineMs, timer.signal).then(() => null);
    try {
      await Promise.race([this.#unblockReaders(), deadline]);
      await Promise.race([this.#claiming, deadline]);
      const idle = () => this.#pool.inFlight + this.#pool.queued === 0;
      const drained = idle() || await Promise.race([this.#pool.whenIdle().then(() => true), deadline]) === true;
      let abandoned = 0;
      if (!drained) {
        abandoned = this.#pool.inFlight + this.#pool.clear();
        this.#abort.abort();
      }
      this.#acks.flush();
      await Promise.race([this.#acks.sent(), deadline]);
      let removed: boolean | null = false;
      if (drained) {
        // Unanswered (the server gone, or the deadline passed): not known, and the consumer stays in its groups.
        const removal = !this.#link.ready ? null : Promise.all(
          this.#streams.map((s) => deleteConsumerIfIdle(this.#redis, s, this.#group, this.#consumer)),
        ).then((all) => all.every(Boolean), () => null);
        removed = await Promise.race([removal, deadline]);
      }
      return { drained, abandoned, removed };
    } finally {
      this.#acks.close();
      for (const r of this.#readers) r.detach();
      timer.abort();
      this.#state = "stopped";
    }
  }

  async #unblockReaders(): Promise<void> {
    // A blocking read would otherwise wait out its BLOCK time; repeat in case the next one had just been sent.
    for (let i = 0; i < 100; i++) {
      for (const r of this.#readers) r.unblock();
      const pause = new AbortController();
      const done = await Promise.race([this.#reading!.then(() => true), delay(50, pause.signal).then(() => false)]);
      pause.abort();
      if (done) return;
    }
  }

  /** Waits until every taken entry has started (or a stop). */
  async #room(): Promise<void> {
    await Promise.race([this.#pool.whenStarted(), this.#whenStopped]);
  }

  async #read(): Promise<void> {
    for (const r of this.#readers) await r.drainOwn();
    await Promise.all(this.#readers.map((r) => r.readNew()));
  }

  readonly #dispatch = (stream: string, entry: StreamEntry, deliveries: number, via: Via): void => {
    const route = this.#routes.get(stream);
    if (!route || route.taken.has(entry.id)) return;
    if (via === "claimed") route.stats.claimed++;
    if (entry.fields === null) {
      // Trimmed by retention (or deleted) before it was acknowledged: nothing left to handle.
      this.#trimmed++;
      if (shouldLog(this.#trimmed)) {
        this.#reporter.warn(
          `Entry ${entry.id} of ${stream} was deleted (trimmed?) before it was handled; acknowledging it.` +
            logNote(this.#trimmed),
        );
      }
      route.taken.add(entry.id);
      this.#ack(stream, entry.id);
      return;
    }
    route.stats.received++;
    if (deliveries > 1) route.stats.retried++;
    route.taken.add(entry.id);
    const delivery: Delivery = { route, entry: entry as Delivery["entry"], deliveries, rereads: 0 };
    if (deliveries > this.#maxDeliveries) {
      void this.#deadLetter(
        delivery,
        `delivered ${deliveries} times without being acknowledged (the consumer may have crashed on it)`,
      );
      return;
    }
    // Refused only when full, which the reads prevent; it then stays pending and is claimed later.
    if (!this.#pool.submit(delivery)) route.taken.delete(entry.id);
  };

  /** Checks and handles one entry; synchronous when the handler is (no promise per entry then). */
  #handle(d: Delivery): void | Promise<void> {
    const { route, entry, deliveries } = d;
    const payload = entry.fields[PAYLOAD_FIELD];
    if (payload === undefined) return this.#unreadable.check(d, `the entry has no "${PAYLOAD_FIELD}" field`);
    const context: StreamContext = {
      topic: route.stream,
      channel: route.stream,
      entryId: entry.id,
      deliveries,
      signal: this.#abort.signal,
    };
    if (route.raw) return this.#runner.run(route.raw, payload, context, d, route.stats, performance.now());
    let event: EventEnvelope;
    try {
      event = decodeEvent(payload);
    } catch (err) {
      return this.#unreadable.check(d, (err as EventValidationError).problems.join("; "));
    }
    const problems = this.#schemas?.problems(route.stream, event) ?? [];
    if (problems.length > 0) return this.#unreadable.check(d, `schema of ${route.stream}: ${problems.join("; ")}`);
    return this.#runner.run(route.handler!, event, context, d, route.stats, performance.now());
  }

  async #failed(d: Delivery, event: EventEnvelope | undefined, err: unknown): Promise<void> {
    const { route, entry, deliveries } = d;
    const reason = err instanceof Error ? err.message : String(err);
    if (deliveries >= this.#maxDeliveries) return await this.#deadLetter(d, `handler failed: ${reason}`);
    route.taken.delete(entry.id);
    if (!shouldLog(route.stats.failed)) return;
    const which = event ? `${escapeControl(event.event_type)} ${entry.id}` : `entry ${entry.id}`;
    this.#reporter.error(
      `Handler for ${route.stream} failed on ${which} (attempt ${deliveries} of ${this.#maxDeliveries}): ` +
        `${reason}; it stays pending and is retried after ${this.#claimAfterMs / 1000} s.` +
        logNote(route.stats.failed),
    );
  }

  /** Moves the entry to `<stream>:dead` (lib/streams/dead_letter_move.ts), counts it and says so. */
  async #deadLetter(d: Delivery, reason: string): Promise<void> {
    const { route, entry, deliveries } = d;
    const dead = deadLetterStream(route.stream);
    try {
      const deadId = await moveToDeadLetters(this.#link, {
        stream: route.stream,
        id: entry.id,
        payload: entry.fields[PAYLOAD_FIELD] ?? "",
        reason,
        attempts: deliveries,
        group: this.#group,
        consumer: this.#consumer,
      });
      route.stats.deadLettered++;
      this.#onDeadLetter({ stream: route.stream, originalId: entry.id, deadId, reason, attempts: deliveries });
      if (shouldLog(route.stats.deadLettered)) {
        this.#reporter.warn(
          `Moved entry ${entry.id} of ${route.stream} to ${dead} after ${deliveries} attempt(s): ${reason}` +
            logNote(route.stats.deadLettered),
        );
      }
    } catch (err) {
      this.#reporter.error(
        `Could not move entry ${entry.id} of ${route.stream} to ${dead} (${message(err)}); it stays pending.`,
      );
    } finally {
      route.taken.delete(entry.id);
    }
  }

  /** Queues an XACK (lib/streams/ack_batcher.ts). */
  #ack(stream: string, id: string): void {
    // A handler abandoned at shutdown that finishes later: its entry stays pending and is delivered again.
    if (this.#state === "stopped") return;
    this.#acks.ack(stream, id);
  }
}
