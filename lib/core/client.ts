/**
 * ioredis clients that connect or explain why not, report outages and
 * reconnections on stderr, and close cleanly.
 *
 * @module
 */
import { Redis, type RedisCommander, type RedisOptions } from "ioredis";
import { redactUrl, scrubSecret } from "./config.ts";
import { CliError, ExitCode } from "./exit_codes.ts";
import type { Reporter } from "./output.ts";
import { announceClosed, announceOpened, connectionView, type WatchedConnection } from "./connection_watch.ts";
import { routeIoredisWarnings } from "./ioredis_warnings.ts";
import {
  guardIoredis,
  type IncomingWatch,
  ioredisLostConnection,
  socketConnected,
  watchIncoming,
} from "./ioredis_guard.ts";
import { diagnose, type FailureFacts, spokeFirst, TLS_PORT } from "./server_faults.ts";
import { ABORTED, delay, unlessAborted, withTimeout } from "./timing.ts";
import { currentTls } from "./tls.ts";
import { greeting, speaksTls } from "./tls_probe.ts";

/**
 * The commands a script sends: those of one ioredis connection, which a
 * cluster client routes by slot. Both `Redis` and `Cluster` are this type;
 * lib/endpoint's links hand it out.
 */
export type Commands = RedisCommander<{ type: "default"; mapping: "resp2" }> & Pick<Redis, "pipeline" | "multi">;

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
  /** Stops the first connect at once (Ctrl+C): {@linkcode Connection.open} then throws a {@linkcode CliError} with code 0. */
  signal?: AbortSignal;
  /**
   * The server is known to be a cluster node (a connection of a cluster's own): skip the check that otherwise
   * refuses one, which needs `--cluster` for its keys to be routed.
   */
  clusterNode?: boolean;
  /** What it is for, as its watchers label it (lib/core/connection_watch.ts; default `commands`). */
  role?: string;
  /** What a subscriber adds for its watchers: drops for falling behind, the backlog last seen. */
  figures?: () => Pick<WatchedConnection, "fellBehind" | "backlogBytes">;
}

/**
 * A command (or a batch of them) of a connection of our own — not an ioredis
 * client's — failed because that connection was lost or could not be made.
 *
 * @example
 * ```ts
 * import { commandLostConnection, ConnectionLostError } from "./client.ts";
 * import assert from "node:assert/strict";
 * const err = new ConnectionLostError("reconnecting");
 * assert.equal(err.message, "Connection lost (reconnecting).");
 * assert.ok(commandLostConnection(err));
 * ```
 */
export class ConnectionLostError extends Error {
  /**
   * Creates a ConnectionLostError.
   *
   * @param detail what happened, e.g. `cannot connect: …` (said in brackets)
   */
  constructor(detail?: string) {
    super(`Connection lost${detail ? ` (${detail})` : ""}.`);
    this.name = "ConnectionLostError";
  }
}

/**
 * Whether a failed command failed because the connection was lost (as
 * opposed to a server that answered with an error): the socket may be gone
 * before ioredis has noticed the close, so its status can still say ready.
 *
 * @param err what the command rejected with
 * @returns true for a lost connection
 * @example
 * ```ts
 * import { commandLostConnection } from "./client.ts";
 * import assert from "node:assert/strict";
 * assert.ok(commandLostConnection(new Error("Stream isn't writeable and enableOfflineQueue options is false")));
 * assert.ok(!commandLostConnection(new Error("NOPERM no permissions")));
 * ```
 */
export function commandLostConnection(err: unknown): boolean {
  return err instanceof ConnectionLostError || ioredisLostConnection(err);
}

/** How long to wait before reconnect attempt `n` (1-based): 100 ms doubling to 5 s, with jitter. */
export function backoffMs(attempt: number): number {
  return Math.min(100 * 2 ** (attempt - 1), 5000) + Math.floor(Math.random() * 100);
}

const DISCONNECT_TIMEOUT_MS = 200;

/** How long a server that closed a connection without a word is given to speak first (a greeting) on a new one. */
const GREETING_WAIT_MS = 500;

/** The last error ioredis reported, free of secrets. */
interface SeenError {
  message: string;
  code?: string;
  command?: string;
  /** The server sent something that does not parse: this error stands until the next connection. */
  unreadable?: boolean;
}

/** What came back on the current socket: how many bytes, how they began, how the latest piece began. */
interface Wire {
  bytesIn: number;
  firstBytes: string;
  lastChunk: string;
  socket?: IncomingWatch;
}

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
  /** Time spent disconnected in outages that are over, in ms. */
  #pastDownMs = 0;
  #closing = false;
  #everReady = false;
  #lostAt: number | undefined;
  #lastError: SeenError | undefined;
  #wire: Wire = { bytesIn: 0, firstBytes: "", lastChunk: "" };
  /** The socket whose data is being parsed right now. */
  #reading: Wire | undefined;
  #unrouteWarnings: () => void;
  /** What its watchers see, from the first connect until the close. */
  #watched: WatchedConnection | undefined;

  /** The ioredis client. */
  readonly redis: Redis;

  private constructor(private readonly options: ConnectionOptions) {
    guardIoredis(); // a reply ioredis fails on drops the connection instead of ending the process
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
      ...tlsOptions(options.url),
    };
    // Our own deadline (in #connect) comes first, so a failure can say what the socket saw.
    redisOptions.connectTimeout = (options.connectTimeoutMs ?? 5000) + 1000;
    this.redis = new Redis(options.url, redisOptions);
    this.redis.on("error", (err: Error & { code?: string; command?: { name?: string } }) => {
      // ioredis marks a reply it cannot parse "Please report this" and drops the connection; the rest of what
      // arrived would fail again (one error and one more close listener per piece), so stop reading at once
      // and keep the first error: it is what the server did wrong.
      const unreadable = err.message.endsWith(". Please report this.");
      if (unreadable) this.#reading?.socket?.stopReading();
      if (unreadable && this.#reading !== this.#wire) return; // from a socket already given up
      if (this.#lastError?.unreadable) return;
      this.#lastError = {
        message: scrubSecret(err.message, options.url).replace(/\. Please report this\.$/, ""),
        ...(typeof err.code === "string" ? { code: err.code } : {}),
        ...(err.command?.name ? { command: err.command.name } : {}),
        ...(unreadable ? { unreadable } : {}),
      };
    });
    this.redis.on("connect", () => this.#watchWire());
    this.#unrouteWarnings = routeIoredisWarnings(options.reporter);
  }

  /** Starts afresh on the socket just connected: counts what the server sends, forgets earlier errors. */
  #watchWire(): void {
    this.#lastError = undefined;
    const wire: Wire = { bytesIn: 0, firstBytes: "", lastChunk: "" };
    this.#wire = wire;
    // Before ioredis reads it: an error its parser raises on this piece then knows where it came from.
    const socket = watchIncoming(this.redis, (chunk) => {
      this.#reading = wire;
      wire.lastChunk = String.fromCharCode(...chunk.subarray(0, 40));
      if (wire.firstBytes.length < 40) wire.firstBytes += wire.lastChunk.slice(0, 40 - wire.firstBytes.length);
      wire.bytesIn += chunk.length;
    });
    if (socket) wire.socket = socket;
  }

  /** What the current (or last) socket saw, with the last error. */
  #facts(timedOut: boolean): FailureFacts {
    const e = this.#lastError;
    return {
      ...(e ? { reason: e.message } : {}),
      ...(e?.code ? { code: e.code } : {}),
      ...(e?.command ? { command: e.command } : {}),
      timedOut,
      timeoutMs: this.options.connectTimeoutMs ?? 5000,
      accepted: this.#wire.bytesIn > 0 || this.redis.status === "connect" || socketConnected(this.redis),
      bytesIn: this.#wire.bytesIn,
      firstBytes: this.#wire.firstBytes,
      lastChunk: this.#wire.lastChunk,
      tls: /^rediss:/i.test(this.options.url),
    };
  }

  /**
   * Connects, or throws a {@linkcode CliError} that names the address, what
   * the server did and what to do, within `connectTimeoutMs`: exit code 3
   * when it cannot be reached or refuses the login, 7 when it breaks the
   * protocol, 0 when `signal` stops the attempt.
   *
   * @param options the URL and behaviour
   * @returns the connected client
   * @throws {CliError} when the server cannot be reached, refuses the login or breaks the protocol
   */
  static async open(options: ConnectionOptions): Promise<Connection> {
    const conn = new Connection(options);
    await conn.#connect();
    conn.redis.on("close", () => conn.#onClose());
    conn.redis.on("ready", () => void conn.#onReady());
    announceOpened(
      conn.#watched = connectionView(options.role ?? "commands", {
        trouble: () => conn.#trouble(),
        outages: () => conn.outages,
        downMs: () => conn.downMs,
        ...(options.figures ? { figures: options.figures } : {}),
      }),
    );
    return conn;
  }

  /** Why it cannot do its job now: the server away, or back and the subscriptions not yet restored. */
  #trouble(): string | undefined {
    if (this.#lostAt === undefined) return undefined;
    const back = this.redis.status === "ready";
    if (back) return `${this.options.restore ? "resubscribing" : "reconnecting"} to ${this.address}`;
    const away = ((Date.now() - this.#lostAt) / 1000).toFixed(1);
    return `the ${this.options.role ?? "commands"} connection to ${this.address} is lost (${away} s ago)`;
  }

  async #connect(): Promise<void> {
    const timeoutMs = this.options.connectTimeoutMs ?? 5000;
    const stop = this.options.signal;
    let timedOut = false;
    try {
      if (stop?.aborted) throw STOPPED;
      const connected = withTimeout(
        this.redis.connect().then(() => this.redis.ping()),
        timeoutMs,
        () => {
          timedOut = true;
          return new Error(`no answer within ${timeoutMs / 1000} s`);
        },
      );
      if (await unlessAborted(connected, stop) === ABORTED) throw STOPPED;
      if (this.#lastError) throw new Error(this.#lastError.message);
      if (!this.options.clusterNode) await this.#refuseClusterNode();
      this.#everReady = true;
    } catch (err) {
      const facts = this.#facts(timedOut);
      this.#closing = true;
      this.redis.disconnect();
      this.#unrouteWarnings();
      await delay(DISCONNECT_TIMEOUT_MS + 20);
      if (err instanceof CliError) throw err;
      if (err === STOPPED) throw new CliError(ExitCode.Ok, `Stopped while connecting to ${this.address}.`);
      facts.reason ??= scrubSecret((err as Error).message, this.options.url);
      facts.command ??= (err as { command?: { name?: string } }).command?.name; // our PING, refused
      let d = diagnose(facts);
      const greeted = d.closedAtOnce && !facts.tls ? await greeting(this.options.url, GREETING_WAIT_MS) : undefined;
      if (greeted) d = spokeFirst(greeted);
      else if (d.closedAtOnce && !facts.tls && await speaksTls(this.options.url, 1000)) d = TLS_PORT;
      throw new CliError(d.exitCode, `Cannot connect to ${this.address}: ${d.what}.\n${d.fix}`);
    }
  }

  /**
   * Refuses a node of a cluster: its keys and sharded channels live on several nodes, which only a cluster client
   * routes. A server that does not answer INFO (or answers it oddly) is taken for a single one.
   */
  async #refuseClusterNode(): Promise<void> {
    const info = await withTimeout(this.redis.info("cluster"), 1000, () => new Error("INFO unanswered"))
      .catch(() => "");
    if (!/^cluster_enabled:1\b/m.test(String(info))) return;
    throw new CliError(
      ExitCode.Usage,
      `${this.address} is a node of a cluster (cluster_enabled:1): run with --cluster (or REDIS_CLUSTER=1) so ` +
        `that keys and sharded channels reach the node that serves them.`,
    );
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
    const reason = this.#lossReason();
    const tail = this.options.reconnect === false ? "" : " Reconnecting…";
    const note = this.options.lossNote ? ` ${this.options.lossNote}` : "";
    this.options.reporter.warn(`Connection to ${this.address} lost${reason}.${tail}${note}`);
    this.#lastError = undefined;
  }

  /** Why this connection just closed: what the server sent, in words, when it could not be read; else the error. */
  #lossReason(): string {
    const e = this.#lastError;
    if (!e) return " (closed by the server)";
    return e.unreadable ? `: ${diagnose(this.#facts(false)).what}` : ` (${e.message})`;
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
    if (this.#lostAt === undefined) return; // closed meanwhile: the close counted the outage
    const downMs = Date.now() - this.#lostAt;
    this.#lostAt = undefined;
    this.#pastDownMs += downMs;
    this.options.reporter.ok(`Reconnected to ${this.address} after ${(downMs / 1000).toFixed(1)} s.`);
    this.options.onRestored?.(downMs);
  }

  /**
   * Total time spent disconnected, in ms: an outage still going on counts up
   * to now (or to the close, once closed).
   */
  get downMs(): number {
    return this.#pastDownMs + (this.#lostAt === undefined ? 0 : Date.now() - this.#lostAt);
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
    this.#unrouteWarnings();
    if (this.#watched) announceClosed(this.#watched);
    this.#watched = undefined;
    if (this.#closing && this.redis.status === "end") return;
    this.#closing = true;
    if (this.#lostAt !== undefined) {
      // An outage going on at the close counts up to it.
      this.#pastDownMs += Date.now() - this.#lostAt;
      this.#lostAt = undefined;
    }
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

/** Thrown inside {@linkcode Connection} when the stop signal ends the first connect. */
const STOPPED = new Error("stopped");

/**
 * ioredis's options for `rediss://` URLs, from the run's {@linkcode currentTls} settings.
 *
 * @param url the server URL
 * @returns `{ tls }` for a `rediss://` URL, else nothing
 */
export function tlsOptions(url: string): Pick<RedisOptions, "tls"> {
  if (!/^rediss:/i.test(url)) return {};
  const { ca, insecure } = currentTls();
  return { tls: { ...(ca ? { ca } : {}), ...(insecure ? { rejectUnauthorized: false } : {}) } };
}
