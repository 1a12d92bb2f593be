/**
 * Writes checked updates to their keys in pipelined batches — one round trip
 * for many updates — keeping per-key order: one batch is in flight at a
 * time, and an update queued for a key replaces the one still waiting for
 * that key (the last message for a key wins, as if each had been written).
 *
 * @module
 */
import type { Redis } from "ioredis";
import type { KvUpdate } from "./message.ts";
import type { Logger } from "../core/log.ts";
import { delay, withTimeout } from "../core/timing.ts";

/** How a {@linkcode KvWriter} writes. */
export interface KvWriterOptions {
  /** The connection writes go to (opened with the offline queue on, so writes wait out an outage). */
  redis: Redis;
  /** Put before each type to make the key. */
  prefix: string;
  /** Read each write back in the same round trip and compare. */
  validate: boolean;
  /** Let each key expire at its update's `valid` time. */
  expireAtValid: boolean;
  /** Where each write (debug), mismatch (warn) and server error (error) is logged. */
  log: Logger;
  /** Most updates per pipeline (default 1000). */
  maxBatch?: number;
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

/** Errors after which the same write is tried again: the server is busy or restarting. */
const TRANSIENT = /^(LOADING|BUSY|TRYAGAIN|MASTERDOWN|CLUSTERDOWN)\b|Connection is closed|ECONNRESET|EPIPE/;

/**
 * Writer counters all at zero.
 *
 * @returns fresh counters
 * @example
 * ```ts
 * import { newWriterStats } from "./writer.ts";
 * console.assert(newWriterStats().stored === 0);
 * ```
 */
export function newWriterStats(): WriterStats {
  return { stored: 0, superseded: 0, verified: 0, mismatches: 0, expiredOnArrival: 0, serverErrors: 0, abandoned: 0 };
}

/**
 * Batches, writes and (optionally) verifies updates.
 *
 * @example
 * ```ts ignore
 * const writer = new KvWriter({ redis, prefix: "kv:", validate: true, expireAtValid: false, log });
 * writer.add(update);
 * await writer.drain(5000);
 * console.log(writer.stats.stored);
 * ```
 */
export class KvWriter {
  /** Counters, updated as replies come in. */
  readonly stats: WriterStats = newWriterStats();
  #queued = new Map<string, KvUpdate>();
  #inFlight = 0;
  #running = false;
  #stopped = false;
  #idle: (() => void)[] = [];
  readonly #maxBatch: number;

  /**
   * Creates a KvWriter.
   *
   * @param options where and how to write
   */
  constructor(private readonly options: KvWriterOptions) {
    this.#maxBatch = options.maxBatch ?? 1000;
  }

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
    const key = this.options.prefix + update.type;
    if (this.#queued.delete(key)) this.stats.superseded++;
    this.#queued.set(key, update);
    if (!this.#running) {
      this.#running = true;
      // After the current burst of messages has been queued: they go in one batch.
      queueMicrotask(() => void this.#run());
    }
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

  async #run(): Promise<void> {
    try {
      while (this.#queued.size > 0) {
        const batch: [string, KvUpdate][] = [];
        for (const entry of this.#queued) {
          batch.push(entry);
          this.#queued.delete(entry[0]);
          if (batch.length >= this.#maxBatch) break;
        }
        this.#inFlight = batch.length;
        const retry = await this.#write(batch);
        this.#inFlight = 0;
        if (retry) await delay(200);
      }
    } finally {
      this.#running = false;
      if (this.pending === 0) { for (const resolve of this.#idle.splice(0)) resolve(); }
    }
  }

  /** Writes one batch; returns true when some writes must be tried again. */
  async #write(batch: [string, KvUpdate][]): Promise<boolean> {
    const { redis, validate, expireAtValid, log } = this.options;
    const pipeline = redis.pipeline();
    const now = Date.now();
    for (const [key, u] of batch) {
      if (expireAtValid) pipeline.set(key, u.stored, "PXAT", u.validAt);
      else pipeline.set(key, u.stored);
      if (validate) pipeline.get(key);
    }
    let results: [Error | null, unknown][];
    try {
      results = (await pipeline.exec()) ?? [];
    } catch (err) {
      results = batch.flatMap(() => validate ? [[err as Error, null], [err as Error, null]] : [[err as Error, null]]);
    }
    let retry = false;
    const step = validate ? 2 : 1;
    batch.forEach(([key, u], n) => {
      const [setError] = results[n * step] ?? [new Error("no reply")];
      if (setError) {
        if (!this.#stopped && TRANSIENT.test(setError.message)) {
          retry = true;
          if (this.#queued.has(key)) this.stats.superseded++; // a newer update for the key is waiting
          else this.#queued.set(key, u);
          return;
        }
        if (this.#stopped) return; // counted as abandoned by drain()
        this.stats.serverErrors++;
        log.error(`Server error writing "${key}": ${setError.message} — this update is not stored`);
        return;
      }
      this.stats.stored++;
      if (this.#stopped) this.stats.abandoned--; // written after all, after drain() gave up on it
      const expired = expireAtValid && u.validAt <= now;
      if (expired) this.stats.expiredOnArrival++;
      const verified = validate ? this.#check(key, u, results[n * 2 + 1], expired) : false;
      if (log.enabled("debug")) {
        const notes = [expired ? "already expired" : "", verified ? "read back identical" : ""].filter(Boolean);
        log.debug(`persisted "${key}" (updated ${u.updated})${notes.length ? `, ${notes.join(", ")}` : ""}`);
      }
    });
    return retry;
  }

  /** Compares a read-back with what was written; counts and reports. Returns whether it matched. */
  #check(key: string, u: KvUpdate, reply: [Error | null, unknown] | undefined, expired: boolean): boolean {
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
