/**
 * ioredis clients that connect or explain why not, report outages and
 * reconnections on stderr, and close cleanly.
 *
 * @module
 */
import { Redis, type RedisOptions } from "ioredis";
import { redactUrl, scrubSecret } from "./config.ts";
import { CliError, ExitCode } from "./exit_codes.ts";
import type { Reporter } from "./output.ts";
import { delay, withTimeout } from "./timing.ts";

/** How a {@linkcode Connection} behaves. */
export interface ConnectionOptions {
  /** Server URL (`redis://` or `rediss://`, with user, password and db). */
  url: string;
  /** Where outages and reconnections are reported. */
  reporter: Reporter;
  /** After the first connect, reconnect with backoff when the server goes away (default true). */
  reconnect?: boolean;
  /** Queue commands while disconnected and send them on reconnect (default false: fail at once). */
  offlineQueue?: boolean;
  /** What the outage costs, added to the "connection lost" line. */
  lossNote?: string;
  /** How long the first connect may take, in ms (default 5000). */
  connectTimeoutMs?: number;
  /** Fail a command that gets no reply within this many ms (default: wait as long as it takes). */
  commandTimeoutMs?: number;
  /** Called once the connection is back (after subscriptions are restored). */
  onRestored?: (downMs: number) => void;
  /**
   * Restores what the connection had (e.g. its subscriptions) after a reconnect, before it is announced; with it,
   * ioredis's own resubscription (which cannot be caught) is off. Rejecting means lost again: wait for the next one.
   */
  restore?: (redis: Redis) => Promise<void>;
  /** When the connection is lost: since when it was really gone, in epoch ms, if known to be earlier than now. */
  lostSince?: () => number | undefined;
  /** Send the commands issued in one turn of the event loop in one write (ioredis `enableAutoPipelining`; default false). */
  autoPipelining?: boolean;
}

/** How long to wait before reconnect attempt `n` (1-based): 100 ms doubling to 5 s, with jitter. */
export function backoffMs(attempt: number): number {
  return Math.min(100 * 2 ** (attempt - 1), 5000) + Math.floor(Math.random() * 100);
}

/** What the user can do when the server cannot be reached. */
export const START_SERVER_HINT =
  'Start a server with "docker compose up -d --wait" or "deno task server", or point --url / REDIS_URL at one.';

const DISCONNECT_TIMEOUT_MS = 200;

/**
 * One ioredis client plus the bookkeeping every script needs: a redacted
 * address for messages, outage reporting, and closing that leaves nothing
 * behind.
 *
 * @example
 * ```ts ignore
 * import { Connection } from "./client.ts";
 * import { Reporter } from "./output.ts";
 * const conn = await Connection.open({ url: "redis://localhost:6379", reporter: new Reporter(Deno.stderr) });
 * console.log(await conn.redis.ping());
 * await conn.close();
 * ```
 */
export class Connection {
  /** The URL with its password hidden, for every message. */
  readonly address: string;
  /** How many times the connection was lost after it was first made. */
  outages = 0;
  /** Total time spent disconnected, in ms. */
  downMs = 0;
  #closing = false;
  #everReady = false;
  #lostAt: number | undefined;
  #lastError: string | undefined;

  /** The ioredis client. */
  readonly redis: Redis;

  private constructor(private readonly options: ConnectionOptions) {
    this.address = redactUrl(options.url);
    const offlineQueue = options.offlineQueue ?? false;
    const redisOptions: RedisOptions = {
      lazyConnect: true,
      enableReadyCheck: false,
      enableOfflineQueue: offlineQueue,
      maxRetriesPerRequest: offlineQueue ? null : 0,
      connectTimeout: options.connectTimeoutMs ?? 5000,
      disconnectTimeout: DISCONNECT_TIMEOUT_MS,
      autoResubscribe: options.restore === undefined,
      // RESP3, ioredis 6's default, said explicitly: pub/sub receives as fast as on RESP2 (tests/bench/pubsub.ts)
      // and a subscribed connection may still run commands; ioredis falls back to RESP2 on servers without HELLO.
      protocol: 3,
      replyMapping: "legacy", // replies shaped as on RESP2 (arrays, not maps), as the code expects
      keepAlive: 30_000, // TCP keep-alive after 30 s idle (5.x had it off): finds dead peers in services left running
      retryStrategy: (attempt) => this.#retry(attempt),
      ...(options.commandTimeoutMs ? { commandTimeout: options.commandTimeoutMs } : {}),
      ...(options.autoPipelining ? { enableAutoPipelining: true } : {}),
    };
    this.redis = new Redis(options.url, redisOptions);
    this.redis.on("error", (err: Error) => {
      this.#lastError = scrubSecret(err.message, options.url);
    });
  }

  /**
   * Connects, or throws a {@linkcode CliError} with exit code 3 that names
   * the address, the reason and what to do, within `connectTimeoutMs`.
   *
   * @param options the URL and behaviour
   * @returns the connected client
   * @throws {CliError} when the server cannot be reached or refuses the login
   */
  static async open(options: ConnectionOptions): Promise<Connection> {
    const conn = new Connection(options);
    await conn.#connect();
    conn.redis.on("close", () => conn.#onClose());
    conn.redis.on("ready", () => void conn.#onReady());
    return conn;
  }

  async #connect(): Promise<void> {
    const timeoutMs = this.options.connectTimeoutMs ?? 5000;
    try {
      await withTimeout(
        this.redis.connect().then(() => this.redis.ping()),
        timeoutMs,
        () => new Error(`no answer within ${timeoutMs / 1000} s`),
      );
      if (this.#lastError) throw new Error(this.#lastError);
      this.#everReady = true;
    } catch (err) {
      this.#closing = true;
      this.redis.disconnect();
      await delay(DISCONNECT_TIMEOUT_MS + 20);
      const reason = this.#lastError ?? scrubSecret((err as Error).message, this.options.url);
      throw new CliError(ExitCode.Connect, this.#explain(reason));
    }
  }

  #explain(reason: string): string {
    const what = `Cannot connect to ${this.address}`;
    if (/WRONGPASS|NOAUTH|invalid password|invalid username/i.test(reason)) {
      return `${what}: authentication failed (${reason}).\nCheck the user name and password in --url or REDIS_URL.`;
    }
    if (/DB index is out of range|invalid DB index/i.test(reason)) {
      return `${what}: ${reason}.\nUse a database number the server has (usually 0–15) in the URL path, e.g. redis://host:6379/0.`;
    }
    if (/ECONNREFUSED/.test(reason)) {
      return `${what}: connection refused (nothing is listening there).\n${START_SERVER_HINT}`;
    }
    if (/ENOTFOUND|EAI_AGAIN|getaddrinfo/.test(reason)) {
      return `${what}: the host name does not resolve (${reason}).\nCheck the host in --url or REDIS_URL.`;
    }
    return `${what}: ${reason}.\n${START_SERVER_HINT}`;
  }

  #retry(attempt: number): number | null {
    if (this.#closing || !this.#everReady || this.options.reconnect === false) return null;
    return backoffMs(attempt);
  }

  #onClose(): void {
    if (this.#closing || this.#lostAt !== undefined) return;
    const now = Date.now();
    this.#lostAt = Math.min(now, this.options.lostSince?.() ?? now);
    this.outages++;
    const reason = this.#lastError ? ` (${this.#lastError})` : "";
    const tail = this.options.reconnect === false ? "" : " Reconnecting…";
    const note = this.options.lossNote ? ` ${this.options.lossNote}` : "";
    this.options.reporter.warn(`Connection to ${this.address} lost${reason}.${tail}${note}`);
    this.#lastError = undefined;
  }

  async #onReady(): Promise<void> {
    if (this.#lostAt === undefined) return;
    try {
      await this.options.restore?.(this.redis);
      // Answered after ioredis's re-subscribe replies: proves subscriptions are back.
      await this.redis.ping();
    } catch {
      return; // lost again; the next "ready" will report
    }
    const downMs = Date.now() - this.#lostAt;
    this.#lostAt = undefined;
    this.downMs += downMs;
    this.options.reporter.ok(`Reconnected to ${this.address} after ${(downMs / 1000).toFixed(1)} s.`);
    this.options.onRestored?.(downMs);
  }

  /**
   * One line for a script's summary about the outages, e.g. `Connection lost
   * 2 time(s), 3.4 s in all: events in that time were not received.`
   *
   * @param cost what the outages cost, e.g. `messages published then were not received.`
   * @returns the line, or undefined when the connection was never lost
   * @example
   * ```ts ignore
   * const line = conn.outageSummary("messages published then were not received.");
   * if (line) out.line(line);
   * ```
   */
  outageSummary(cost: string): string | undefined {
    if (this.outages === 0) return undefined;
    return `Connection lost ${this.outages} time(s), ${(this.downMs / 1000).toFixed(1)} s in all: ${cost}`;
  }

  /** Whether the connection is currently usable. */
  get ready(): boolean {
    return this.redis.status === "ready";
  }

  /**
   * Closes the connection: QUIT when connected (waiting at most a second),
   * otherwise drops it; never reconnects afterwards.
   */
  async close(): Promise<void> {
    if (this.#closing && this.redis.status === "end") return;
    this.#closing = true;
    if (this.redis.status === "ready") {
      const quit = this.redis.quit().then(() => true, () => false);
      if (await withTimeout(quit, 1000, () => new Error("QUIT unanswered")).catch(() => false)) return;
    }
    if ((this.redis.status as string) !== "end") {
      this.redis.disconnect();
      // ioredis arms a timer of `disconnectTimeout` to destroy the socket: let it run out.
      await delay(DISCONNECT_TIMEOUT_MS + 20);
    }
  }
}
