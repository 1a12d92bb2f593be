/**
 * Writes checked updates to their keys in pipelined batches — one round trip
 * for many updates — keeping per-key order: one batch is in flight at a
 * time, and an update queued for a key replaces the one still waiting for
 * that key (the last message for a key wins, as if each had been written).
 * Where a batch goes is its {@linkcode KvSink}'s business: one server's
 * (lib/kv/server_sink.ts) or a cluster's (lib/kv/cluster_sink.ts).
 *
 * @module
 */
import type { Link } from "../endpoint/link.ts";
import type { KvUpdate } from "./message.ts";
import type { Logger } from "../core/log.ts";
import { delay, withTimeout } from "../core/timing.ts";
import { clusterSink } from "./cluster_sink.ts";
import type { KvSink, Reply } from "./sink.ts";
import { serverSink } from "./server_sink.ts";

/** How a {@linkcode KvWriter} writes. */
export interface KvWriterOptions {
  /** Where batches go (its connection opened with the offline queue on, so writes wait out an outage). */
  sink: KvSink;
  /** Put before each type to make the key. */
  prefix: string;
  /** Read each write back in the same round trip and compare. */
  validate: boolean;
  /** Let each key expire at its update's `valid` time. */
  expireAtValid: boolean;
  /** Where each write (debug), mismatch (warn) and server error (error) is logged. */
  log: Logger;
  /**
   * Called after each batch with the keys it stored and their stored texts (in the order written; those stored already
   * expired left out), to announce them.
   */
  onStored?: (stored: [key: string, text: string][]) => void;
}

/** What a {@linkcode KvWriter} has done so far. */
export interface WriterStats {
  /** Updates the server confirmed storing. */
  stored: number;
  /** Updates replaced by a newer one for the same key before they were sent. */
  superseded: number;
  /** Writes read back identical (with `validate`). */
  verified: number;
  /** Writes read back different (with `validate`). */
  mismatches: number;
  /** Updates whose `valid` time had passed (with `expireAtValid`: stored already expired). */
  expiredOnArrival: number;
  /** Updates the server refused (OOM, READONLY, NOPERM…): not stored. */
  serverErrors: number;
  /** Updates not stored by the drain deadline at shutdown (server unreachable). */
  abandoned: number;
}

/**
 * Writer counters all at zero.
 *
 * @returns fresh counters
 * @example
 * ```ts
 * import { newWriterStats } from "./writer.ts";
 * import assert from "node:assert/strict";
 * assert.equal(newWriterStats().stored, 0);
 * ```
 */
export function newWriterStats(): WriterStats {
  return {
    stored: 0,
    superseded: 0,
    verified: 0,
    mismatches: 0,
    expiredOnArrival: 0,
    serverErrors: 0,
    abandoned: 0,
  };
}

/**
 * The sink that fits a link: one server's (MSET batches), or a cluster's (a pipeline per master, each closed by a
 * WAIT for its replicas).
 *
 * @param link where the updates are written
 * @returns its sink
 */
export function sinkFor(link: Link): KvSink {
  return link.sides({ server: serverSink, cluster: clusterSink });
}

/**
 * Batches, writes and (optionally) verifies updates.
 *
 * @example
 * ```ts ignore
 * const writer = new KvWriter({ sink: sinkFor(link), prefix: "kv:", validate: true, expireAtValid: false, log });
 * writer.add(update);
 * await writer.drain(5000);
 * console.log(writer.stats.stored);
 * ```
 */
export class KvWriter {
  /** Counters, updated as replies come in. */
  readonly stats: WriterStats = newWriterStats();
  /** On a cluster: updates acknowledged by a master lost before its replica confirmed them, written again. */
  rewritten = 0;
  /** Updates waiting, by type (the key without the prefix, which is the same for all: a shorter string to hash). */
  #queued = new Map<string, KvUpdate>();
  /** The batch being written, by type. */
  #sending = new Map<string, KvUpdate>();
  #inFlight = 0;
  #running = false;
  #stopped = false;
  #idle: (() => void)[] = [];

  /**
   * Creates a KvWriter.
   *
   * @param options where and how to write
   */
  constructor(private readonly options: KvWriterOptions) {}

  /** Updates received and not yet confirmed: queued plus in flight. */
  get pending(): number {
    return this.#queued.size + this.#inFlight;
  }

  /**
   * Queues an update; it is sent with the next batch.
   *
   * @param update a checked update
   */
  add(update: KvUpdate): void {
    if (this.#stopped) {
      this.stats.abandoned++;
      return;
    }
    const queued = this.#queued;
    const size = queued.size;
    // One waiting for the key is replaced where it stands: the newer one goes in its place.
    queued.set(update.type, update);
    if (queued.size === size) this.stats.superseded++;
    this.#start();
  }

  /**
   * Waits until everything queued is written, at most `ms`; then stops
   * accepting updates and counts what is left as abandoned.
   *
   * @param ms the deadline
   * @returns how many updates were abandoned
   */
  async drain(ms: number): Promise<number> {
    if (this.pending > 0) {
      const idle = new Promise<void>((resolve) => this.#idle.push(resolve));
      await withTimeout(idle, ms, () => new Error("drain deadline")).catch(() => {});
    }
    this.#stopped = true;
    const left = this.pending;
    this.stats.abandoned += left;
    this.#queued.clear();
    return left;
  }

  /**
   * After each failover on `link` (a cluster master lost, its slots taken by another node), writes again what the
   * lost master acknowledged and no replica confirmed, and says how many (never on one server, which has no
   * failovers).
   *
   * @param link the link the sink writes through
   * @returns a function that stops following
   */
  followFailovers(link: Link): () => void {
    return link.onNodeReplaced((node, to) => {
      const n = this.nodeLost(node);
      this.options.log.warn(
        n > 0
          ? `writes: ${n} update(s) ${node} acknowledged before it was lost had not been confirmed by its replica ` +
            `(WAIT): written again, now to ${to || "the node serving their slots"}.`
          : `writes: every update ${node} acknowledged had been confirmed by its replica (WAIT): none to write again.`,
      );
    });
  }

  /**
   * A cluster master was lost and its slots moved to another node (a failover): the updates it acknowledged
   * whose WAIT did not confirm them on a replica may be gone with it, so they are written again — unless a
   * newer update for the key is waiting.
   *
   * @param node the lost master, `host:port`
   * @returns how many updates are written again
   */
  nodeLost(node: string): number {
    let n = 0;
    for (const [, u] of this.options.sink.unconfirmedOn?.(node) ?? []) {
      // A newer update for the key waiting or being written wins: the older one stays unwritten.
      if (this.#stopped || this.#queued.has(u.type) || this.#sending.has(u.type)) continue;
      this.#queued.set(u.type, u);
      n++;
    }
    this.rewritten += n;
    if (n > 0) this.#start();
    return n;
  }

  /** Closes what its sink opened of its own (after {@linkcode KvWriter.drain}, before the link is closed). */
  async close(): Promise<void> {
    await this.options.sink.close?.();
  }

  /** On a cluster: updates acknowledged by a master that no replica has confirmed yet. */
  get unconfirmed(): number {
    return this.options.sink.unconfirmed ?? 0;
  }

  #start(): void {
    if (this.#running) return;
    this.#running = true;
    // After the current burst of messages has been queued: they go in one batch.
    queueMicrotask(() => void this.#run());
  }

  async #run(): Promise<void> {
    try {
      while (this.#queued.size > 0) {
        // All that waits goes in one batch: under a flood the queue stays what came in during one round trip, where a
        // batch of at most 1,000 let it grow to tens of thousands, and adding to a map that large cost more per update
        // (kv_updater's CPU per update 4.6–4.9 µs → 3.8–4.2 µs, 300,000 updates with every message a new key).
        this.#sending = this.#queued;
        this.#queued = new Map();
        this.#inFlight = this.#sending.size;
        const prefix = this.options.prefix;
        const batch: [string, KvUpdate][] = [];
        for (const u of this.#sending.values()) batch.push([prefix + u.type, u]);
        const retry = await this.#write(batch);
        this.#sending = new Map();
        this.#inFlight = 0;
        if (retry) await delay(200);
      }
    } finally {
      this.#running = false;
      if (this.pending === 0) { for (const resolve of this.#idle.splice(0)) resolve(); }
    }
  }

  /** Writes one batch through the sink and settles each entry; returns true when some must be tried again. */
  async #write(batch: [string, KvUpdate][]): Promise<boolean> {
    const { sink, validate, expireAtValid, log } = this.options;
    const now = Date.now();
    const replies = await sink.write(batch, { validate, expireAtValid, log });
    let retry = false;
    const stored: [string, string][] = [];
    batch.forEach(([key, u], n) => {
      const outcome = this.#settle(key, u, replies.set[n], replies.read[n], now);
      if (outcome === "retry") retry = true;
      // Stored already expired (--expire-at-valid, its valid time past): gone at once, so not announced either.
      else if (outcome === "stored" && !(expireAtValid && u.validAt <= now)) stored.push([key, u.stored]);
    });
    sink.settled?.(batch, replies);
    if (stored.length > 0) this.options.onStored?.(stored);
    return retry;
  }

  /** Counts and logs one write's outcome: stored, tried again (a transient error), or not stored. */
  #settle(
    key: string,
    u: KvUpdate,
    setReply: Reply | undefined,
    readBack: Reply | undefined,
    now: number,
  ): "stored" | "retry" | "failed" {
    const { sink, validate, expireAtValid, log } = this.options;
    const [setError] = setReply ?? [new Error("no reply")];
    if (setError) {
      if (!this.#stopped && sink.transient(setError)) {
        if (this.#queued.has(u.type)) this.stats.superseded++; // a newer update for the key is waiting
        else this.#queued.set(u.type, u);
        return "retry";
      }
      if (this.#stopped) return "failed"; // counted as abandoned by drain()
      this.stats.serverErrors++;
      log.error(`Server error writing "${key}": ${setError.message} — this update is not stored`);
      return "failed";
    }
    this.stats.stored++;
    if (this.#stopped) this.stats.abandoned--; // written after all, after drain() gave up on it
    const expired = expireAtValid && u.validAt <= now;
    if (expired) this.stats.expiredOnArrival++;
    const verified = validate ? this.#check(key, u, readBack, expired) : false;
    if (log.enabled("debug")) {
      const notes = [expired ? "already expired" : "", verified ? "read back identical" : ""].filter(Boolean);
      log.debug(`persisted "${key}" (updated ${u.updated})${notes.length ? `, ${notes.join(", ")}` : ""}`);
    }
    return "stored";
  }

  /** Compares a read-back with what was written; counts and reports. Returns whether it matched. */
  #check(key: string, u: KvUpdate, reply: Reply | undefined, expired: boolean): boolean {
    const [err, value] = reply ?? [new Error("no reply"), null];
    if (!err && (value === u.stored || (expired && value === null))) {
      this.stats.verified++;
      return true;
    }
    this.stats.mismatches++;
    const found = err
      ? `an error (${err.message})`
      : value === null
      ? "no value"
      : `${String(value).length} other bytes`;
    this.options.log.warn(`Validation mismatch on "${key}": read back ${found} right after writing it`);
    return false;
  }
}
