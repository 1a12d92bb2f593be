/**
 * Writes checked updates to their keys in pipelined batches — one round trip
 * for many updates — keeping per-key order: one batch is in flight at a
 * time, and an update queued for a key replaces the one still waiting for
 * that key (the last message for a key wins, as if each had been written).
 *
 * @module
 */
import type { Cluster, Redis } from "ioredis";
import type { KvUpdate } from "./message.ts";
import type { Logger } from "../core/log.ts";
import { delay, withTimeout } from "../core/timing.ts";
import { slotOf } from "../cluster/topology.ts";

/** How a {@linkcode KvWriter} writes. */
export interface KvWriterOptions {
  /** The connection writes go to (opened with the offline queue on, so writes wait out an outage); or `cluster`. */
  redis?: Redis;
  /**
   * On a cluster, the cluster client writes go to instead of `redis`: one pipeline per master, sent
   * concurrently, each closed by a WAIT for the master's replicas (see {@linkcode KvWriter.nodeLost}).
   */
  cluster?: Cluster;
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

/** A cluster's redirections: the slot is served elsewhere (MOVED) or is being migrated (ASK). */
const REDIRECTED = /^(MOVED|ASK) /;

/** Most updates in one MSET: a long command is read whole by the server before it runs. */
const MULTI_SET_ENTRIES = 250;

/** About the most bytes of values in one MSET (one larger value goes alone). */
const MULTI_SET_BYTES = 256 * 1024;

/** What a server says when MSET is not allowed or not there: then each update is SET. */
const MULTI_SET_REFUSED = /^(NOPERM|ERR unknown command)/;

/** How long a cluster pipeline's WAIT waits for the master's replicas, in ms. */
const WAIT_MS = 100;

/** One reply of a pipeline: the error, or the value. */
type Reply = [Error | null, unknown];

/** On a cluster, what is tried again: redirections, the cluster's own errors, and every error not from a server. */
function clusterTransient(err: Error): boolean {
  return err.name !== "ReplyError" || TRANSIENT.test(err.message) || REDIRECTED.test(err.message);
}

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
  /** On a cluster: updates acknowledged by a master lost before its replica confirmed them, written again. */
  rewritten = 0;
  #queued = new Map<string, KvUpdate>();
  /** On a cluster: stored updates a replica has not confirmed yet, by key, with the master that took them. */
  #unconfirmed = new Map<string, { node: string; u: KvUpdate }>();
  /** On a cluster: the keys of the batch being written. */
  #sending = new Set<string>();
  #inFlight = 0;
  /** Whether batches go as MSET (until the server refuses it). */
  #multiSet = true;
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
        if (this.options.cluster) { for (const [key] of batch) this.#sending.add(key); }
        const retry = await this.#write(batch);
        this.#sending.clear();
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
    if (this.options.cluster) return await this.#writeCluster(this.options.cluster, batch);
    if (this.#multiSet && !this.options.expireAtValid) {
      const retry = await this.#writeMulti(batch);
      if (retry !== undefined) return retry;
    }
    const { redis, validate, expireAtValid } = this.options;
    const pipeline = redis!.pipeline();
    const now = Date.now();
    for (const [key, u] of batch) {
      if (expireAtValid) pipeline.set(key, u.stored, "PXAT", u.validAt);
      else pipeline.set(key, u.stored);
      if (validate) pipeline.get(key);
    }
    let results: Reply[];
    try {
      results = (await pipeline.exec()) ?? [];
    } catch (err) {
      results = batch.flatMap(() => validate ? [[err as Error, null], [err as Error, null]] : [[err as Error, null]]);
    }
    let retry = false;
    const step = validate ? 2 : 1;
    batch.forEach(([key, u], n) => {
      if (this.#settle(key, u, results[n * step], results[n * 2 + 1], now, TRANSIENT)) retry = true;
    });
    return retry;
  }

  /**
   * Writes one batch as a few MSET commands (each of at most {@linkcode MULTI_SET_ENTRIES} updates and about
   * {@linkcode MULTI_SET_BYTES}), with one MGET each to read them back for `validate`: a handful of commands in the
   * pipeline instead of one or two per update, which is most of what ioredis costs per command. The keys of a
   * batch are distinct, so this stores what a SET per update would. Returns true when some writes must be tried
   * again, or undefined when the server refuses MSET (an ACL, a renamed command): from then on each update is SET.
   */
  async #writeMulti(batch: [string, KvUpdate][]): Promise<boolean | undefined> {
    const { redis, validate } = this.options;
    // Chunks [start, end) of at most MULTI_SET_ENTRIES updates and about MULTI_SET_BYTES (one larger value alone).
    const chunks: [number, number][] = [];
    let start = 0;
    let bytes = 0;
    for (let n = 0; n < batch.length; n++) {
      if (n > start && (n - start === MULTI_SET_ENTRIES || bytes >= MULTI_SET_BYTES)) {
        chunks.push([start, n]);
        [start, bytes] = [n, 0];
      }
      bytes += batch[n]![1].stored.length;
    }
    if (batch.length > start) chunks.push([start, batch.length]);
    const pipeline = redis!.pipeline();
    for (const [from, to] of chunks) {
      const entries = batch.slice(from, to);
      pipeline.mset(entries.flatMap(([key, u]) => [key, u.stored]));
      if (validate) pipeline.mget(entries.map(([key]) => key));
    }
    const step = validate ? 2 : 1;
    let results: Reply[];
    try {
      results = (await pipeline.exec()) ?? [];
    } catch (err) {
      results = Array.from({ length: step * chunks.length }, () => [err as Error, null]);
    }
    const refused = results.find(([err]) => err && MULTI_SET_REFUSED.test(err.message));
    if (refused) {
      this.#multiSet = false;
      this.options.log.debug(`MSET refused (${refused[0]!.message}): each update is written with its own SET now`);
      return undefined;
    }
    const now = Date.now();
    let retry = false;
    chunks.forEach(([first, end], c) => {
      const setReply = results[c * step];
      const read = validate ? results[c * step + 1] : undefined;
      for (let n = first; n < end; n++) {
        const [key, u] = batch[n]!;
        const readBack: Reply | undefined = read && [read[0], read[0] ? null : (read[1] as unknown[])[n - first]];
        if (this.#settle(key, u, setReply, readBack, now, TRANSIENT)) retry = true;
      }
    });
    return retry;
  }

  /**
   * Counts and logs one write's outcome; returns true when it was queued again (a transient error).
   * `transient` says which errors are tried again.
   */
  #settle(
    key: string,
    u: KvUpdate,
    setReply: Reply | undefined,
    readBack: Reply | undefined,
    now: number,
    transient: RegExp | ((err: Error) => boolean),
  ): boolean {
    const { validate, expireAtValid, log } = this.options;
    const [setError] = setReply ?? [new Error("no reply")];
    if (setError) {
      const again = typeof transient === "function" ? transient(setError) : transient.test(setError.message);
      if (!this.#stopped && again) {
        if (this.#queued.has(key)) this.stats.superseded++; // a newer update for the key is waiting
        else this.#queued.set(key, u);
        return true;
      }
      if (this.#stopped) return false; // counted as abandoned by drain()
      this.stats.serverErrors++;
      log.error(`Server error writing "${key}": ${setError.message} — this update is not stored`);
      return false;
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
    return false;
  }

  /**
   * Writes one batch on a cluster: the entries grouped by the node serving their slot, one pipeline per node,
   * all sent at once; each pipeline ends with a WAIT for that master's replicas. An entry redirected (MOVED,
   * ASK: a resharding, a failover) is sent again alone, which the cluster client follows; an entry whose node
   * is unreachable is queued again. Returns true when some writes must be tried again.
   */
  async #writeCluster(cluster: Cluster, batch: [string, KvUpdate][]): Promise<boolean> {
    const { validate, expireAtValid } = this.options;
    const groups = new Map<string, number[]>();
    for (let n = 0; n < batch.length; n++) {
      // Grouped as ioredis groups slots: a pipeline may only hold slots of one master (and its replicas).
      const nodes = cluster.slots[slotOf(batch[n]![0])];
      const id = nodes ? nodes.join(";") : "";
      const group = groups.get(id);
      if (group) group.push(n);
      else groups.set(id, [n]);
    }
    const setReplies = new Array<Reply | undefined>(batch.length);
    const readBacks = new Array<Reply | undefined>(batch.length);
    // The master of each entry whose replicas did not confirm it (WAIT), "" when nothing is to be confirmed.
    const ackedBy = new Array<string>(batch.length).fill("");
    const now = Date.now();
    await Promise.all([...groups].map(async ([id, members]) => {
      const nodes = id === "" ? [] : id.split(";");
      const replicas = Math.max(0, nodes.length - 1);
      const pipeline = cluster.pipeline();
      for (const n of members) {
        const [key, u] = batch[n]!;
        if (expireAtValid) pipeline.set(key, u.stored, "PXAT", u.validAt);
        else pipeline.set(key, u.stored);
        if (validate) pipeline.get(key);
      }
      if (replicas > 0) pipeline.wait(replicas, WAIT_MS);
      let results: Reply[];
      try {
        results = (await pipeline.exec()) ?? [];
      } catch (err) {
        results = [];
        for (let i = 0; i < members.length * (validate ? 2 : 1) + (replicas > 0 ? 1 : 0); i++) {
          results.push([err as Error, null]);
        }
      }
      const step = validate ? 2 : 1;
      const waited = replicas > 0 ? results[members.length * step] : undefined;
      const confirmed = replicas > 0 && !waited?.[0] && Number(waited?.[1]) >= 1;
      members.forEach((n, i) => {
        setReplies[n] = results[i * step];
        if (validate) readBacks[n] = results[i * step + 1];
        if (replicas > 0 && !confirmed) ackedBy[n] = nodes[0]!;
      });
    }));
    // Redirected entries again, one command each: the cluster client follows MOVED and ASK itself.
    await Promise.all(batch.map(async ([key, u], n) => {
      const err = setReplies[n]?.[0];
      if (!err || !REDIRECTED.test(err.message)) return;
      const set = expireAtValid ? cluster.set(key, u.stored, "PXAT", u.validAt) : cluster.set(key, u.stored);
      const [reply, readBack] = await Promise.all([
        set.then((v): Reply => [null, v], (e): Reply => [e as Error, null]),
        validate ? cluster.get(key).then((v): Reply => [null, v], (e): Reply => [e as Error, null]) : undefined,
      ]);
      setReplies[n] = reply;
      readBacks[n] = readBack;
      ackedBy[n] = cluster.slots[slotOf(key)]?.[0] ?? "";
    }));
    let retry = false;
    batch.forEach(([key, u], n) => {
      if (this.#settle(key, u, setReplies[n], readBacks[n], now, clusterTransient)) retry = true;
      else if (!setReplies[n]?.[0]) {
        // Stored: remembered until a replica has it, to be written again if its master is lost first.
        if (ackedBy[n] !== "") this.#unconfirmed.set(key, { node: ackedBy[n]!, u });
        else this.#unconfirmed.delete(key);
      }
    });
    return retry;
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
    for (const [key, entry] of this.#unconfirmed) {
      if (entry.node !== node) continue;
      this.#unconfirmed.delete(key);
      // A newer update for the key waiting or being written wins: the older one stays unwritten.
      if (this.#stopped || this.#queued.has(key) || this.#sending.has(key)) continue;
      this.#queued.set(key, entry.u);
      n++;
    }
    this.rewritten += n;
    if (n > 0 && !this.#running) {
      this.#running = true;
      queueMicrotask(() => void this.#run());
    }
    return n;
  }

  /** On a cluster: updates acknowledged by a master that no replica has confirmed yet. */
  get unconfirmed(): number {
    return this.#unconfirmed.size;
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
