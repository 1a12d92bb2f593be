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
import type { Redis } from "ioredis";
import { decodeEvent, type EventEnvelope, type EventValidationError } from "../events/envelope.ts";
import { type EventContext, logNote, MalformedEventError, shouldLog } from "../events/subscriber.ts";
import { escapeControl, Reporter } from "../core/output.ts";
import { positiveInt, TaskPool } from "../core/task_pool.ts";
import { ABORTED, delay, unlessAborted, whenAborted } from "../core/timing.ts";
import { backoffMs, commandLostConnection } from "../core/client.ts";
import { unreadableReply } from "../core/server_faults.ts";
import {
  deadLetterStream,
  groupStartId,
  PAYLOAD_FIELD,
  type StartPosition,
  type StreamEntry,
  toEntries,
} from "./entry.ts";
import { deleteConsumerIfIdle, deliveryCounts, ensureGroup, pendingCount, streamGroups } from "./groups.ts";
import { readAgain, type Reread } from "./reread.ts";
import type { TopicSchemas } from "./schema.ts";
import { StreamStats, type StreamStatsSnapshot } from "./stats.ts";
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

/**
 * A set of streams that one blocking `XREADGROUP` may read together, with
 * the connection that reads them. One server has one lane for all streams;
 * on a cluster each slot is a lane of its own (a read may not mix slots), on
 * a connection to the node serving it.
 */
export interface ReadLane {
  /** The streams of this lane. */
  readonly streams: readonly string[];
  /** The connection for this lane's blocking reads, used for nothing else (it may change after {@linkcode recover}). */
  readonly reader: Redis;
  /** Ends this lane's blocking read at once: `CLIENT UNBLOCK clientId` on the reader's node. */
  unblock(clientId: number): Promise<unknown>;
  /** After a read failed on a lost connection: waits, and reads from the node that serves the streams now. */
  recover?(err: unknown, stop: AbortSignal): Promise<void>;
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
 * How many times an entry that keeps looking unreadable is read again by id
 * before it is left pending instead: a copy read again may itself be damaged.
 */
const MAX_REREADS = 3;

type Via = "new" | "pending" | "claimed";

interface LaneState {
  lane: ReadLane;
  /** The reader's CLIENT ID, for CLIENT UNBLOCK at shutdown. */
  readerId?: number;
  failures: number;
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
 * import { StreamConsumer } from "./consumer.ts";
 * import { StreamPublisher } from "./stream_publisher.ts";
 * import { LocalServer } from "../core/local_server.ts";
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
 * console.assert(drained && seen[0]!.endsWith(" 42"), seen);
 * await commands.del(orders);
 * await reader.quit();
 * await commands.quit();
 * ```
 */
export class StreamConsumer {
  readonly #lanes: LaneState[];
  readonly #redis: Redis;
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
  readonly #retryAck: (<T>(command: () => Promise<T>) => Promise<T>) | undefined;
  readonly #pool: TaskPool<Delivery>;
  readonly #stop = new AbortController();
  readonly #abort = new AbortController();
  readonly #whenStopped = whenAborted(this.#stop.signal);
  #acks = new Map<string, string[]>();
  #ackTimer: ReturnType<typeof setTimeout> | undefined;
  #flushing: Promise<void> = Promise.resolve();
  #reading: Promise<void> | undefined;
  #claiming: Promise<void> | undefined;
  #trimmed = 0;
  #rereadFailures = 0;
  #state: "new" | "running" | "stopping" | "stopped" = "new";

  /**
   * Creates a StreamConsumer.
   *
   * @param reader a connection for the blocking reads only, or the lanes that read (on a cluster)
   * @param commands a connection for XACK, XAUTOCLAIM, XPENDING and dead letters (on a cluster: the `Cluster`)
   * @param options group, consumer name, handlers and bounds
   * @throws {RangeError} when there is no stream or a bound is not a positive whole number
   */
  constructor(reader: Redis | ReadLane[], commands: Redis, options: StreamConsumerOptions) {
    this.#redis = commands;
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
    this.#retryAck = options.retryAck;
    for (const [stream, handler] of Object.entries(options.streams ?? {})) {
      this.#routes.set(stream, { stream, handler, stats: new StreamStats(stream, options.metrics), taken: new Set() });
    }
    for (const [stream, raw] of Object.entries(options.rawStreams ?? {})) {
      this.#routes.set(stream, { stream, raw, stats: new StreamStats(stream, options.metrics), taken: new Set() });
    }
    this.#streams = [...this.#routes.keys()];
    if (this.#streams.length === 0) throw new RangeError("StreamConsumer needs at least one stream");
    const lanes = Array.isArray(reader)
      ? reader
      : [{ streams: this.#streams, reader, unblock: (id: number) => this.#redis.client("UNBLOCK", id) }];
    this.#lanes = lanes.map((lane) => ({ lane, failures: 0 }));
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
    for (const l of this.#lanes) l.lane.reader.on("close", this.#forgetReaderIds);
    this.#reading = this.#read();
    this.#claiming = this.#claim();
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
    if (this.#redis.status !== "ready") return this.stats();
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
      await Promise.race([this.#unblockReader(), deadline]);
      await Promise.race([this.#claiming, deadline]);
      const idle = () => this.#pool.inFlight + this.#pool.queued === 0;
      const drained = idle() || await Promise.race([this.#pool.whenIdle().then(() => true), deadline]) === true;
      let abandoned = 0;
      if (!drained) {
        abandoned = this.#pool.inFlight + this.#pool.clear();
        this.#abort.abort();
      }
      this.#flushAcks();
      await Promise.race([this.#flushing, deadline]);
      let removed: boolean | null = false;
      if (drained) {
        // Unanswered (the server gone, or the deadline passed): not known, and the consumer stays in its groups.
        const removal = this.#redis.status !== "ready" ? null : Promise.all(
          this.#streams.map((s) => deleteConsumerIfIdle(this.#redis, s, this.#group, this.#consumer)),
        ).then((all) => all.every(Boolean), () => null);
        removed = await Promise.race([removal, deadline]);
      }
      return { drained, abandoned, removed };
    } finally {
      clearTimeout(this.#ackTimer);
      for (const l of this.#lanes) l.lane.reader.off("close", this.#forgetReaderIds);
      timer.abort();
      this.#state = "stopped";
    }
  }

  readonly #forgetReaderIds = () => {
    for (const l of this.#lanes) if (l.lane.reader.status !== "ready") l.readerId = undefined;
  };

  get #stopped(): boolean {
    return this.#stop.signal.aborted;
  }

  async #unblockReader(): Promise<void> {
    // A blocking read would otherwise wait out its BLOCK time; repeat in case the next one had just been sent. An
    // unblock is not awaited: on a lost connection it would wait in the offline queue for the server.
    for (let i = 0; i < 100; i++) {
      for (const l of this.#lanes) if (l.readerId !== undefined) l.lane.unblock(l.readerId).catch(() => {});
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
    for (const l of this.#lanes) for (const stream of l.lane.streams) await this.#drainOwn(l, stream);
    await Promise.all(this.#lanes.map((l) => this.#readLane(l)));
  }

  async #readLane(l: LaneState): Promise<void> {
    const streams = l.lane.streams;
    const ids = streams.map(() => ">");
    while (!this.#stopped) {
      await this.#room();
      if (this.#stopped) break;
      let reply: [string, unknown][] | null;
      try {
        const reader = l.lane.reader;
        if (l.readerId === undefined) l.readerId = Number(await reader.client("ID"));
        reply = (await reader.xreadgroup(
          "GROUP",
          this.#group,
          this.#consumer,
          "COUNT",
          this.#batch,
          "BLOCK",
          this.#blockMs,
          "STREAMS",
          ...streams,
          ...ids,
        )) as [string, unknown][] | null;
        l.failures = 0;
      } catch (err) {
        if (this.#stopped) break;
        await this.#readFailed(l, err);
        continue;
      }
      for (const [stream, raw] of reply ?? []) {
        for (const entry of toEntries(raw)) this.#dispatch(String(stream), entry, 1, "new");
      }
    }
  }

  /** This consumer's own pending entries, left by an earlier run under the same name. */
  async #drainOwn(l: LaneState, stream: string): Promise<void> {
    let cursor = "0";
    while (!this.#stopped) {
      await this.#room();
      if (this.#stopped) return;
      let entries: StreamEntry[];
      let counts: Map<string, number> | typeof ABORTED;
      try {
        const reply = (await l.lane.reader.xreadgroup(
          "GROUP",
          this.#group,
          this.#consumer,
          "COUNT",
          this.#batch,
          "STREAMS",
          stream,
          cursor,
        )) as [string, unknown][] | null;
        entries = toEntries(reply?.[0]?.[1]);
        if (entries.length === 0) return;
        // On the commands connection: lost meanwhile, it waits for the server, and a stop does not wait for it.
        const ids = entries.map((e) => e.id);
        counts = await unlessAborted(deliveryCounts(this.#redis, stream, this.#group, ids), this.#stop.signal);
      } catch (err) {
        // What is left is claimed after the claim time instead.
        if (!this.#stopped) this.#reporter.warn(`Could not read the pending entries of ${stream}: ${message(err)}`);
        return;
      }
      if (counts === ABORTED) return;
      for (const entry of entries) this.#dispatch(stream, entry, counts.get(entry.id) ?? 2, "pending");
      cursor = entries.at(-1)!.id;
    }
  }

  async #readFailed(l: LaneState, err: unknown): Promise<void> {
    const text = message(err);
    if (/NOGROUP/.test(text)) {
      // The stream or the group was deleted under us: recreate it, reading whatever arrives from now on.
      this.#reporter.warn(`The group ${this.#group} is gone (${text}); creating it again.`);
      for (const stream of l.lane.streams) {
        await unlessAborted(ensureGroup(this.#redis, stream, this.#group, "0"), this.#stop.signal).catch(() => {});
      }
      return;
    }
    // A lost connection (Connection reports the outage, in words) or slots moving: wait and try again.
    l.failures++;
    const reported = commandLostConnection(err) || unreadableReply(err) !== undefined ||
      /closed|writeable|ECONNRE|reset|MOVED|CLUSTERDOWN/i.test(text);
    if (l.failures === 1 && !reported) {
      this.#reporter.warn(`Reading the streams failed: ${text}. Retrying…`);
    }
    if (l.lane.recover) {
      l.readerId = undefined;
      await l.lane.recover(err, this.#stop.signal);
      return;
    }
    await delay(backoffMs(Math.min(l.failures, 6)), this.#stop.signal);
  }

  async #claim(): Promise<void> {
    const every = Math.min(Math.max(Math.floor(this.#claimAfterMs / 2), 20), 5000);
    while (!this.#stopped) {
      await delay(every, this.#stop.signal);
      for (const stream of this.#streams) {
        if (this.#stopped) return;
        await this.#claimStream(stream);
      }
    }
  }

  async #claimStream(stream: string): Promise<void> {
    let cursor = "0-0";
    for (let round = 0; round < 100 && !this.#stopped; round++) {
      await this.#room();
      if (this.#stopped) return;
      // While the server is gone the claim waits in the offline queue: a stop does not wait for it. Entries it
      // claims after all stay pending under this name, and are claimed again after the claim time.
      const claimed = await unlessAborted(this.#claimBatch(stream, cursor), this.#stop.signal).catch(
        (err): typeof ABORTED => {
          if (!this.#stopped && !/NOGROUP|closed|writeable/i.test(message(err))) {
            this.#reporter.warn(`Claiming the stale entries of ${stream} failed: ${message(err)}`);
          }
          return ABORTED;
        },
      );
      if (claimed === ABORTED) return;
      const { entries, counts } = claimed;
      cursor = claimed.next;
      for (const entry of entries) this.#dispatch(stream, entry, counts.get(entry.id) ?? 2, "claimed");
      if (cursor === "0-0") return;
    }
  }

  /** One XAUTOCLAIM from `cursor`, with the delivery counts of the entries claimed that are not already taken. */
  async #claimBatch(stream: string, cursor: string) {
    const [next, raw] = (await this.#redis.xautoclaim(
      stream,
      this.#group,
      this.#consumer,
      this.#claimAfterMs,
      cursor,
      "COUNT",
      this.#batch,
    )) as [string, unknown, ...unknown[]];
    const entries = toEntries(raw);
    const taken = this.#routes.get(stream)!.taken;
    const live = entries.filter((e) => e.fields !== null && !taken.has(e.id));
    const counts = await deliveryCounts(this.#redis, stream, this.#group, live.map((e) => e.id));
    return { next: String(next), entries, counts };
  }

  #dispatch(stream: string, entry: StreamEntry, deliveries: number, via: Via): void {
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
  }

  /** Checks and handles one entry; synchronous when the handler is (no promise per entry then). */
  #handle(d: Delivery): void | Promise<void> {
    const { route, entry, deliveries } = d;
    const payload = entry.fields[PAYLOAD_FIELD];
    if (payload === undefined) return this.#unreadable(d, `the entry has no "${PAYLOAD_FIELD}" field`);
    const context: StreamContext = {
      topic: route.stream,
      channel: route.stream,
      entryId: entry.id,
      deliveries,
      signal: this.#abort.signal,
    };
    let event: EventEnvelope | undefined;
    if (!route.raw) {
      try {
        event = decodeEvent(payload);
      } catch (err) {
        return this.#unreadable(d, (err as EventValidationError).problems.join("; "));
      }
      const problems = this.#schemas?.problems(route.stream, event) ?? [];
      if (problems.length > 0) return this.#unreadable(d, `schema of ${route.stream}: ${problems.join("; ")}`);
    }
    const started = performance.now();
    let result: void | Promise<void>;
    try {
      result = route.raw ? route.raw(payload, context) : route.handler!(event!, context);
    } catch (err) {
      return this.#settle(d, event, started, err ?? new Error("handler threw nothing"));
    }
    if (result instanceof Promise) {
      return result.then(
        () => this.#settle(d, event, started, undefined),
        (err) => this.#settle(d, event, started, err ?? new Error("handler rejected with nothing")),
      );
    }
    return this.#settle(d, event, started, undefined);
  }

  /** After the handler: XACK on success, else left pending or dead-lettered. */
  #settle(d: Delivery, event: EventEnvelope | undefined, started: number, err: unknown): void | Promise<void> {
    const { route, entry } = d;
    if (err === undefined) {
      route.stats.recordDone(performance.now() - started, true);
      this.#ack(route.stream, entry.id);
      return;
    }
    if (err instanceof MalformedEventError) return this.#unreadable(d, err.message);
    route.stats.recordDone(performance.now() - started, false);
    return this.#failed(d, event, err);
  }

  /**
   * An entry that cannot be handled as delivered (no payload, not an event,
   * its schema, or a raw handler's MalformedEventError): read again by id
   * (XRANGE, twice when it agrees) before it is dead-lettered. When the
   * stream holds something else, the bytes were damaged in transit: the
   * stored copy is handled instead. When the read fails, or keeps differing,
   * it stays pending, to be retried after the claim time.
   */
  async #unreadable(d: Delivery, reason: string): Promise<void> {
    const { route, entry } = d;
    let again: Reread;
    try {
      again = await readAgain(this.#redis, route.stream, entry);
    } catch (err) {
      return this.#leavePending(d, `could not be read again to check it (${message(err)})`, reason);
    }
    if (again.verdict !== "differs") {
      route.stats.malformed++;
      return await this.#deadLetter(d, reason);
    }
    if (d.rereads >= MAX_REREADS) return this.#leavePending(d, `read ${d.rereads + 1} times differently`, reason);
    if (d.rereads === 0) this.#damaged(d, reason); // counted once per entry, however many reads it took
    return await this.#handle({ ...d, entry: { id: entry.id, fields: again.stored }, rereads: d.rereads + 1 });
  }

  /** Counts an entry that arrived damaged, and says so (the first ten, then every thousandth). */
  #damaged({ route, entry }: Delivery, reason: string): void {
    const count = ++route.stats.damagedInTransit;
    if (!shouldLog(count)) return;
    this.#reporter.warn(
      `Entry ${entry.id} of ${route.stream} arrived damaged in transit (${reason}) but is intact in the stream: ` +
        `the server or the network changed bytes of the reply; handling the stored copy instead.` + logNote(count),
    );
  }

  /** Leaves an entry that looked unreadable pending (not dead-lettered), to be retried after the claim time. */
  #leavePending(d: Delivery, what: string, reason: string): void {
    const { route, entry } = d;
    route.taken.delete(entry.id);
    if (!shouldLog(++this.#rereadFailures)) return;
    this.#reporter.warn(
      `Entry ${entry.id} of ${route.stream} looked unreadable (${reason}) but ${what}; it stays pending and is ` +
        `retried after ${this.#claimAfterMs / 1000} s.` + logNote(this.#rereadFailures),
    );
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

  /**
   * Copies the entry to `<stream>:dead` and acknowledges it: both or neither (MULTI) on one server; on a cluster,
   * where the two streams live on different slots, the copy first, so that a failure between the two leaves the
   * entry pending (a second copy at worst), never lost.
   */
  async #deadLetter(d: Delivery, reason: string): Promise<void> {
    const { route, entry, deliveries } = d;
    const dead = deadLetterStream(route.stream);
    try {
      const replies = await (this.#redis.isCluster ? sequence(this.#redis) : this.#redis.multi())
        .xadd(
          dead,
          "*",
          PAYLOAD_FIELD,
          entry.fields[PAYLOAD_FIELD] ?? "",
          "reason",
          reason,
          "attempts",
          String(deliveries),
          "original_id",
          entry.id,
          "stream",
          route.stream,
          "group",
          this.#group,
          "consumer",
          this.#consumer,
          "failed_at",
          new Date().toISOString(),
        )
        .xack(route.stream, this.#group, entry.id)
        .exec();
      const failure = replies?.find(([err]) => err)?.[0];
      if (failure) throw failure;
      route.stats.deadLettered++;
      const deadId = String(replies![0]![1]);
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

  /** Queues an XACK; all queued in one turn of the event loop go in one XACK per stream. */
  #ack(stream: string, id: string): void {
    // A handler abandoned at shutdown that finishes later: its entry stays pending and is delivered again.
    if (this.#state === "stopped") return;
    const ids = this.#acks.get(stream);
    if (ids) ids.push(id);
    else this.#acks.set(stream, [id]);
    this.#ackTimer ??= setTimeout(() => this.#flushAcks(), 0);
  }

  #flushAcks(): void {
    clearTimeout(this.#ackTimer);
    this.#ackTimer = undefined;
    if (this.#acks.size === 0) return;
    const batch = this.#acks;
    this.#acks = new Map();
    const sent = [...batch].map(async ([stream, ids]) => {
      try {
        if (this.#retryAck) await this.#retryAck(() => this.#redis.xack(stream, this.#group, ...ids));
        else await this.#redis.xack(stream, this.#group, ...ids);
      } catch (err) {
        // Still pending: redelivered after the claim time, so at least once still holds.
        this.#reporter.warn(`XACK of ${ids.length} entr(ies) of ${stream} failed (${message(err)}).`);
      } finally {
        const taken = this.#routes.get(stream)!.taken;
        for (const id of ids) taken.delete(id);
      }
    });
    const previous = this.#flushing;
    this.#flushing = Promise.all([previous, ...sent]).then(() => {});
  }
}

/** A MULTI look-alike for a cluster: each command on its own (routed by its key), the replies as `exec()` gives them. */
function sequence(redis: Redis) {
  const steps: (() => Promise<unknown>)[] = [];
  const chain = {
    xadd: (...args: Parameters<Redis["xadd"]>) => (steps.push(() => redis.xadd(...args)), chain),
    xack: (...args: Parameters<Redis["xack"]>) => (steps.push(() => redis.xack(...args)), chain),
    exec: async (): Promise<[Error | null, unknown][]> => {
      const replies: [Error | null, unknown][] = [];
      for (const step of steps) replies.push([null, await step()]);
      return replies;
    },
  };
  return chain;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
