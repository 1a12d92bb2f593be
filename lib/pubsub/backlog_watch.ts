/**
 * Watching a subscriber's backlog on the server: when the script is behind
 * (its event loop stalls, or received messages pile up locally), about once
 * a second its own `omem` is read with `CLIENT LIST ID` on a separate
 * connection, a warning comes once past half of the output-buffer limit,
 * and what was seen is kept to explain a drop afterwards.
 *
 * The reading runs in a worker ({@link ./backlog_probe.ts}): a script that
 * is behind turns its event loop slowly (a stalled stdout stops it), and a
 * reply on a connection of that loop comes many turns late — measured: 7 to
 * over 10 s with turns of 0.8 s. A worker with a client of its own holds 7
 * file descriptors and memory for as long as it runs (event_processor.ts
 * kept them after a flood: 26 → 33 fds, and a minute later ×1.18 of its
 * RSS before), so it is stopped once the script has kept up for
 * {@linkcode RELEASE_AFTER_MS} (then 28 fds — Deno keeps an eventfd and an
 * epoll once a process has run a worker — and ×1.03).
 *
 * @module
 */
import { formatBytes } from "../core/byte_size.ts";
import type { Reporter } from "../core/output.ts";
import { PROBE_SLOTS, ProbeSlot } from "./backlog_probe.ts";
import { describeOutputLimit, dropThreshold, type OutputLimit } from "./output_limit.ts";

/** How a {@linkcode BacklogWatch} behaves. */
export interface BacklogWatchOptions {
  /** The server (for the probe's connection). */
  url: string;
  /** Where the warning goes. */
  reporter: Reporter;
  /** The output-buffer limit for pub/sub clients. */
  limit: () => OutputLimit;
  /** Messages received and not handled yet: past {@linkcode PENDING_BEHIND} the script counts as behind. */
  pending?: () => number;
  /** What the user can do, ending the warning. */
  advice: string;
  /** How long the script must keep up before the worker is stopped (default {@linkcode RELEASE_AFTER_MS}). */
  releaseAfterMs?: number;
  /** Told when the worker's connection is ready (`connected`) and when the worker has let it go (`closed`). */
  onReader?: (state: "connected" | "closed") => void;
}

/** The server's backlog for the subscriber, as last read. */
export interface BacklogSample {
  /** Bytes the server holds for it (`omem`). */
  bytes: number;
  /** When it was read, epoch ms. */
  at: number;
}

/** A time the event loop did not turn. */
export interface Stall {
  /** When it began, epoch ms. */
  from: number;
  /** How long it lasted (so far), in ms. */
  ms: number;
}

/** Messages waiting locally past which a script counts as behind. */
export const PENDING_BEHIND = 1000;
const TICK_MS = 200;
/** A tick this much later than due is a stall. */
const STALL_MS = 500;
/** After a stall, how long it still counts as recent. */
const RECENT_MS = 3000;
/** How long a script keeps up (no stall, no pile-up) before the worker reading its backlog is stopped. */
export const RELEASE_AFTER_MS = 5000;

/**
 * Watches one subscribed connection's backlog on the server. Costs a 200 ms
 * timer while the script keeps up; the worker (with its connection) starts
 * when the script is behind, asks one `CLIENT LIST ID` a second while it is,
 * and is stopped once the script has kept up for {@linkcode RELEASE_AFTER_MS}
 * (what it read is forgotten then: a backlog long gone says nothing about a
 * later close, and the warning may come again). A server that refuses
 * `CLIENT LIST` is not asked again. A script stuck from the start (stopped
 * with Ctrl+Z) is not read: its stall is what is known then.
 *
 * @example
 * ```ts
 * import { LocalServer } from "../core/local_server.ts";
 * import { nullWriter, Reporter } from "../core/output.ts";
 * import { BacklogWatch } from "./backlog_watch.ts";
 * import { DEFAULT_OUTPUT_LIMIT } from "./output_limit.ts";
 * import assert from "node:assert/strict";
 *
 * // A throw-away server for the example, unless REDIS_URL names one to use:
 * await using local = Deno.env.get("REDIS_URL") ? undefined : await LocalServer.start();
 * const url = local?.url ?? Deno.env.get("REDIS_URL")!;
 * const watch = new BacklogWatch({
 *   url,
 *   reporter: new Reporter(nullWriter),
 *   limit: () => DEFAULT_OUTPUT_LIMIT,
 *   advice: "",
 * });
 * watch.setClient(42); // the subscribed connection's CLIENT ID
 * assert.equal(watch.lastSample, undefined); // nothing read while the script keeps up
 * await watch.close();
 * ```
 */
export class BacklogWatch implements AsyncDisposable {
  readonly #slots = new Float64Array(new SharedArrayBuffer(PROBE_SLOTS * 8));
  #worker: Worker | undefined;
  /** A worker being stopped: a new one waits for it. */
  #stopping: Promise<void> | undefined;
  readonly #timer: ReturnType<typeof setInterval>;
  #lastTick = Date.now();
  #lastStall: Stall | undefined;
  #warned = false;
  #closed: Promise<void> | undefined;

  /**
   * Starts watching (nothing is read until {@linkcode setClient} names the connection).
   *
   * @param options the server, the limit, and what to advise
   */
  constructor(private readonly options: BacklogWatchOptions) {
    this.#slots[ProbeSlot.tick] = this.#lastTick;
    this.#timer = setInterval(() => this.#tick(), TICK_MS);
  }

  /**
   * Names the subscribed connection to watch (after each reconnect), or
   * none while it is down. A new connection starts over: no sample, and the
   * warning may come again.
   *
   * @param id its `CLIENT ID`, or undefined
   */
  setClient(id: number | undefined): void {
    if (id !== this.#slots[ProbeSlot.clientId]) {
      this.#slots[ProbeSlot.bytes] = 0;
      this.#slots[ProbeSlot.bytesAt] = 0;
      this.#slots[ProbeSlot.goneAt] = 0;
      this.#warned = false;
    }
    this.#slots[ProbeSlot.clientId] = id ?? 0;
  }

  /** What the server held for the subscriber when last read while behind. */
  get lastSample(): BacklogSample | undefined {
    const at = this.#slots[ProbeSlot.bytesAt]!;
    return at ? { bytes: this.#slots[ProbeSlot.bytes]!, at } : undefined;
  }

  /** When a read first found the server no longer had the connection (it had closed it), epoch ms. */
  get goneAt(): number | undefined {
    return this.#slots[ProbeSlot.goneAt] || undefined;
  }

  /**
   * The stall going on now or that ended within the last few seconds.
   *
   * @param now the time, epoch ms
   * @returns the stall, or undefined
   */
  recentStall(now: number = Date.now()): Stall | undefined {
    if (now - this.#lastTick > TICK_MS + STALL_MS) return { from: this.#lastTick, ms: now - this.#lastTick };
    const s = this.#lastStall;
    return s && now - (s.from + s.ms) < RECENT_MS ? s : undefined;
  }

  #tick(): void {
    const now = Date.now();
    const stalled = now - this.#lastTick > TICK_MS + STALL_MS;
    if (stalled) this.#lastStall = { from: this.#lastTick, ms: now - this.#lastTick };
    this.#lastTick = now;
    this.#slots[ProbeSlot.tick] = now;
    if (stalled || (this.options.pending?.() ?? 0) > PENDING_BEHIND) {
      this.#slots[ProbeSlot.behindAt] = now;
      this.#startWorker();
    } else if (this.#worker && now - this.#slots[ProbeSlot.behindAt]! > this.#releaseAfterMs) {
      this.#release();
    }
    const sample = this.lastSample;
    if (sample) this.#warnPastHalf(sample.bytes);
  }

  /** Whether the worker reading the backlog runs now. */
  get reading(): boolean {
    return this.#worker !== undefined;
  }

  get #releaseAfterMs(): number {
    return this.options.releaseAfterMs ?? RELEASE_AFTER_MS;
  }

  #startWorker(): void {
    if (this.#worker || this.#stopping || this.#closed) return;
    this.#worker = new Worker(new URL("./backlog_probe.ts", import.meta.url).href, { type: "module" });
    // Unable to read the backlog is no reason to stop the script: the stall is what is known then.
    this.#worker.onerror = (e) => e.preventDefault();
    this.#worker.onmessage = (e: MessageEvent) => {
      if (e.data === "connected") this.options.onReader?.("connected");
    };
    this.#worker.postMessage({ url: this.options.url, shared: this.#slots.buffer });
  }

  /** The script has kept up: the worker goes, and with it what it read (a backlog since cleared). */
  #release(): void {
    this.#stopping = this.#stopWorker().finally(() => (this.#stopping = undefined));
    this.#slots[ProbeSlot.bytes] = 0;
    this.#slots[ProbeSlot.bytesAt] = 0;
    this.#slots[ProbeSlot.goneAt] = 0;
    this.#warned = false;
  }

  /** Stops the worker, which closes its connection first (one that does not answer within 2 s is stopped anyway). */
  async #stopWorker(): Promise<void> {
    const worker = this.#worker;
    this.#worker = undefined;
    if (!worker) return;
    const { promise, resolve } = Promise.withResolvers<void>();
    const timer = setTimeout(resolve, 2000);
    worker.onmessage = (e: MessageEvent) => e.data === "closed" && resolve();
    worker.postMessage("close");
    await promise;
    clearTimeout(timer);
    worker.terminate();
    this.options.onReader?.("closed");
  }

  #warnPastHalf(bytes: number): void {
    const limit = this.options.limit();
    const threshold = dropThreshold(limit);
    if (this.#warned || threshold === undefined || bytes < threshold / 2) return;
    this.#warned = true;
    this.options.reporter.warn(
      `Falling behind: the server holds ${formatBytes(bytes)} of messages for this subscriber, past half of its ` +
        `limit for pub/sub clients (${describeOutputLimit(limit)}); at the limit it drops the connection and ` +
        `everything it holds. ${this.options.advice}`,
    );
  }

  /** Stops the timer and the worker (which closes its connection first). */
  close(): Promise<void> {
    return this.#closed ??= (async () => {
      clearInterval(this.#timer);
      await Promise.all([this.#stopping, this.#stopWorker()]);
    })();
  }

  /** Same as {@linkcode close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
