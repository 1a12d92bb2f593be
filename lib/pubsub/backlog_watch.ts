/**
 * Watching a subscriber's backlog on the server: when the script is behind
 * (its event loop stalls, or received messages pile up locally), about once
 * a second it reads its own `omem` with `CLIENT LIST ID` on a separate
 * connection, warns once past half of the output-buffer limit, and keeps
 * what it saw to explain a drop afterwards.
 *
 * @module
 */
import { ReplyError } from "ioredis";
import { formatBytes } from "../core/byte_size.ts";
import { Connection } from "../core/client.ts";
import { nullWriter, Reporter } from "../core/output.ts";
import { describeOutputLimit, dropThreshold, type OutputLimit } from "./output_limit.ts";

/** How a {@linkcode BacklogWatch} behaves. */
export interface BacklogWatchOptions {
  /** The server (for the probe connection). */
  url: string;
  /** Where the warning goes. */
  reporter: Reporter;
  /** The server's id of the subscribed connection now (`CLIENT ID`), undefined while it is down. */
  clientId: () => number | undefined;
  /** The output-buffer limit for pub/sub clients. */
  limit: () => OutputLimit;
  /** Messages received and not handled yet: past {@linkcode PENDING_BEHIND} the script counts as behind. */
  pending?: () => number;
  /** What the user can do, ending the warning. */
  advice: string;
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
/** After a stall or a backlog, how long the script still counts as behind. */
const BEHIND_FOR_MS = 3000;
const PROBE_EVERY_MS = 1000;

/**
 * Watches one subscribed connection's backlog on the server. Costs a 200 ms
 * timer while the script keeps up; one `CLIENT LIST ID` a second (on a
 * connection opened the first time) only while it is behind. A server that
 * refuses `CLIENT LIST` is not asked again.
 *
 * @example
 * ```ts ignore
 * await using watch = new BacklogWatch({ url, reporter, clientId: () => id, limit: () => DEFAULT_OUTPUT_LIMIT, advice: "" });
 * watch.lastSample; // what the server held when last read
 * ```
 */
export class BacklogWatch implements AsyncDisposable {
  /** What the server held for the subscriber when last read while behind. */
  lastSample: BacklogSample | undefined;
  /** When a probe first found the server no longer had the connection (it closed it), epoch ms. */
  goneAt: number | undefined;
  #lastTick = Date.now();
  #lastStall: Stall | undefined;
  #lastPileUpAt: number | undefined;
  #lastProbeAt = 0;
  #probing: Promise<void> | undefined;
  #probe: Connection | undefined;
  #refused = false;
  #warned = false;
  #closed = false;
  readonly #timer: ReturnType<typeof setInterval>;

  /**
   * Starts watching.
   *
   * @param options the server, the connection's id, the limit, and what to advise
   */
  constructor(private readonly options: BacklogWatchOptions) {
    this.#timer = setInterval(() => this.#tick(), TICK_MS);
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
    return s && now - (s.from + s.ms) < BEHIND_FOR_MS ? s : undefined;
  }

  /** Starts over for a new connection (after a reconnect): no sample, and the warning may come again. */
  rearm(): void {
    this.lastSample = undefined;
    this.goneAt = undefined;
    this.#warned = false;
  }

  #tick(): void {
    const now = Date.now();
    if (now - this.#lastTick > TICK_MS + STALL_MS) this.#lastStall = { from: this.#lastTick, ms: now - this.#lastTick };
    this.#lastTick = now;
    if ((this.options.pending?.() ?? 0) > PENDING_BEHIND) this.#lastPileUpAt = now;
    const behind = this.recentStall(now) !== undefined ||
      (this.#lastPileUpAt !== undefined && now - this.#lastPileUpAt < BEHIND_FOR_MS);
    if (behind && !this.#refused && !this.#probing && now - this.#lastProbeAt >= PROBE_EVERY_MS) {
      this.#lastProbeAt = now;
      this.#probing = this.#read().finally(() => (this.#probing = undefined));
    }
  }

  async #read(): Promise<void> {
    const id = this.options.clientId();
    if (id === undefined || this.#closed) return;
    try {
      if (!this.#probe?.ready) {
        await this.#probe?.close();
        this.#probe = await Connection.open({
          url: this.options.url,
          reporter: new Reporter(nullWriter),
          reconnect: false,
          connectTimeoutMs: 2000,
          commandTimeoutMs: 2000,
        });
        if (this.#closed) return await this.#probe.close();
      }
      const line = String(await this.#probe.redis.client("LIST", "ID", String(id)));
      if (this.options.clientId() !== id) return; // reconnected meanwhile: the answer is about the old one
      const omem = line.match(/\bomem=(\d+)/);
      if (!omem) {
        this.goneAt ??= Date.now();
        return;
      }
      this.lastSample = { bytes: Number(omem[1]), at: Date.now() };
      this.#warnPastHalf(this.lastSample.bytes);
    } catch (err) {
      if (err instanceof ReplyError) this.#refused = true; // ACL or a renamed command: stop asking
    }
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

  /** Stops the timer and closes the probe connection. */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#timer);
    await this.#probing;
    await this.#probe?.close();
  }

  /** Same as {@linkcode close}. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
