/**
 * The one door to ioredis's internals: every use pubsub-lab makes of what
 * ioredis does not document (its socket, its subscriber state, its reply
 * handler, a cluster's subscriber and slot-map timer, the words of its errors
 * and its `console.warn` advice) is a named function here, and nowhere else.
 * tests/core/ioredis_guard_test.ts, the canary, proves each assumption
 * against the real pinned ioredis and a real server (and cluster).
 *
 * At start-up ({@linkcode guardIoredis}, before the first connection) what
 * can be checked on clients never connected is checked, and a missing piece
 * stops the script with one line naming the ioredis version and what changed
 * (exit code 9): the reply handler's parts, and a cluster's subscriber and
 * slot-map refresh. What lives on a connected socket is checked on each
 * socket, and when it is not there ioredis's own public path is taken: no
 * message is read ahead of its decoder ({@linkcode readPushesAhead}), nothing
 * is paused or counted ({@linkcode pauseReading}, {@linkcode watchIncoming}).
 *
 * The patch: ioredis 6.0.0's reply handler (`DataHandler` in
 * `built/DataHandler.js`) reads a reply as the confirmation of the command it
 * takes it to answer without checking it — `fillUnsubCommand(item.command,
 * reply[2])`, `reply[1].toString()` — so a null where an UNSUBSCRIBE's or a
 * SUBSCRIBE's confirmation belongs throws a TypeError inside the socket's data
 * handler, and `DataHandler.dispatch` throws it again on `process.nextTick`:
 * uncaught, the process dies. Guarded, an exception while a reply is handled
 * gives that socket up instead, as ioredis does with a reply it cannot parse:
 * the command it was handling and those waiting fail with a
 * {@linkcode ReplyHandlingError}, the connection is dropped and ioredis
 * reconnects as usual (a connection of ours reports it as lost, in words);
 * nothing more from that socket reaches the client. An exception from a
 * `message` listener goes the same way, whether ioredis called it or the
 * read-ahead did: said in the "lost" line, never uncaught.
 *
 * @module
 */
import type { Buffer } from "node:buffer";
import { Cluster, Redis } from "ioredis";
import * as dataHandlerModule from "ioredis/built/DataHandler.js";
import ioredisPackage from "ioredis/package.json" with { type: "json" };
import { type MessageSink, PushCutter } from "../wire/push_cutter.ts";
import { CliError, ExitCode } from "./exit_codes.ts";
import { ReadingTurns } from "./reading_turns.ts";
import { delay } from "./timing.ts";

/** The version of ioredis installed (read from its package.json). */
export const IOREDIS_VERSION: string = ioredisPackage.version;

// ---------------------------------------------------------------------------------------------------------------
// What is checked at start-up

/** A command waiting for its reply, as ioredis queues it. */
interface QueuedCommand {
  command: { name: string; reject(err: Error): void };
}

/** What a cluster client has inside (private in its types). */
interface ClusterInsides {
  /** The subscriber of plain channels and patterns: the connection it subscribes on now. */
  subscriber?: { getInstance(): Redis | null | undefined };
  /** Whether a read of the slot map is in flight. */
  isRefreshing?: boolean;
  /** Clears the timer of the next periodic read of the slot map. */
  clearNodesRefreshInterval?: () => void;
}

/** What the guard needs of ioredis, to check before patching (and to stand in for in a test). */
export interface IoredisParts {
  /** The `DataHandler` class of `ioredis/built/DataHandler.js` (the module's default export). */
  dataHandler: unknown;
  /** A client, never connected: to look at what every client has. */
  client: unknown;
  /** A cluster client, never connected: to look at what every cluster client has. */
  cluster: unknown;
}

/**
 * Which of the internals checked at start-up are missing from `parts`.
 *
 * @param parts ioredis's parts (by default the installed ioredis's)
 * @returns one phrase per missing internal; empty when all are there
 * @example
 * ```ts
 * import { missingInternals } from "./ioredis_guard.ts";
 * import assert from "node:assert/strict";
 * assert.equal(missingInternals().length, 0);
 * assert.equal(missingInternals({ dataHandler: class {}, client: {}, cluster: {} }).length, 6);
 * ```
 */
export function missingInternals(parts: IoredisParts = installedParts()): string[] {
  const proto = (parts.dataHandler as { prototype?: Record<string, unknown> } | undefined)?.prototype;
  const client = parts.client as { commandQueue?: { peekFront?: unknown }; recoverFromFatalError?: unknown };
  const cluster = (parts.cluster ?? {}) as Record<keyof ClusterInsides, unknown> & ClusterInsides;
  const needs: [boolean, string][] = [
    [
      typeof proto?.dispatch === "function" && proto.dispatch.length === 1,
      "DataHandler.prototype.dispatch(fn) (built/DataHandler.js), through which every reply is handled",
    ],
    [
      typeof client?.commandQueue?.peekFront === "function",
      "a client's commandQueue.peekFront() (the command the next reply answers)",
    ],
    [
      typeof client?.recoverFromFatalError === "function",
      "a client's recoverFromFatalError(err, err, options) (which gives a socket up and reconnects)",
    ],
    [
      typeof cluster.subscriber?.getInstance === "function",
      "a cluster's subscriber.getInstance() (the connection plain channels are subscribed on)",
    ],
    [typeof cluster.isRefreshing === "boolean", "a cluster's isRefreshing (a read of the slot map in flight)"],
    [
      typeof cluster.clearNodesRefreshInterval === "function",
      "a cluster's clearNodesRefreshInterval() (which stops the periodic read of the slot map)",
    ],
  ];
  return needs.filter(([there]) => !there).map(([, what]) => what);
}

/** The installed ioredis's parts; the clients made for it are never connected and ended at once. */
function installedParts(): IoredisParts {
  const client = new Redis({ lazyConnect: true });
  client.disconnect();
  const cluster = new Cluster([], { lazyConnect: true });
  cluster.disconnect();
  return { dataHandler: dataHandlerClass(), client, cluster };
}

/** The `DataHandler` class: the module's default export (Deno hands CommonJS's `exports` over as its default). */
function dataHandlerClass(): unknown {
  const exports = (dataHandlerModule as { default?: unknown }).default as { default?: unknown } | undefined;
  return typeof exports === "function" ? exports : exports?.default;
}

let guarded = false;

/**
 * Checks that ioredis still has what is checked at start-up and patches its
 * reply handler, once per process; later calls do nothing. Call it before the
 * first client connects ({@linkcode Connection} and `ClusterConnection` do).
 *
 * @param parts ioredis's parts (by default the installed ioredis's: a test passes stand-ins)
 * @throws {CliError} with exit code 9 and one line naming the ioredis version and what changed, when something is missing
 * @example
 * ```ts
 * import { guardIoredis } from "./ioredis_guard.ts";
 * guardIoredis();
 * guardIoredis(); // once is enough: nothing more happens
 * ```
 */
export function guardIoredis(parts?: IoredisParts): void {
  if (guarded && !parts) return;
  const given = parts ?? installedParts();
  const missing = missingInternals(given);
  if (missing.length > 0) {
    throw new CliError(
      ExitCode.ClientLibrary,
      `ioredis ${IOREDIS_VERSION} lacks what pubsub-lab relies on (it was built on ioredis 6.0.0): ` +
        `${missing.join("; ")}. Use the version pinned in deno.json, or adapt lib/core/ioredis_guard.ts to this one.`,
    );
  }
  if (parts) return; // stand-ins are checked, never patched
  const proto = (given.dataHandler as { prototype: { dispatch: (fn: () => void) => void } }).prototype;
  proto.dispatch = guardedDispatch;
  guarded = true;
}

// ---------------------------------------------------------------------------------------------------------------
// The reply handler, guarded

/**
 * A command failed, and its connection was given up, because handling a
 * reply threw inside ioredis: a reply that does not fit the command it was
 * taken to answer (from a server that breaks the protocol, or a client
 * library that lost track of its commands), or a listener that threw. Its
 * message ends with "Please report this." as ioredis's own for a reply it
 * cannot parse.
 */
export class ReplyHandlingError extends Error {
  /**
   * Creates a ReplyHandlingError.
   *
   * @param command the command whose reply it was (upper case), when ioredis had taken it off its queue
   * @param cause what ioredis threw
   */
  constructor(readonly command: string | undefined, override readonly cause: unknown) {
    super(
      `ioredis ${IOREDIS_VERSION} failed on ${command ? `the reply to ${command}` : "a reply"}: ` +
        `${cause instanceof Error ? cause.message : String(cause)}. Please report this.`,
    );
    this.name = "ReplyHandlingError";
  }
}

/** The parts of a {@linkcode ReplyHandlingError}'s message. */
export interface ReplyHandlingFault {
  /** The ioredis version that failed. */
  version: string;
  /** The command whose reply it was, if known. */
  command?: string;
  /** What ioredis threw, e.g. `Cannot read properties of null (reading '2')`. */
  detail: string;
}

const FAULT = /^ioredis (\S+) failed on (?:the reply to (\S+)|a reply): (.*?)(?:\. Please report this\.)?$/s;

/**
 * Reads a {@linkcode ReplyHandlingError}'s message (as it reaches an error
 * listener, or a script as a failed command's reason; "Please report this."
 * may have been cut off).
 *
 * @param message an error message
 * @returns its parts, or undefined for any other message
 * @example
 * ```ts
 * import { ReplyHandlingError, replyHandlingFault } from "./ioredis_guard.ts";
 * import assert from "node:assert/strict";
 * const fault = replyHandlingFault(new ReplyHandlingError("UNSUBSCRIBE", new TypeError("bad")).message);
 * assert.equal(fault?.command, "UNSUBSCRIBE");
 * assert.equal(fault.detail, "bad");
 * assert.equal(replyHandlingFault("Connection is closed."), undefined);
 * ```
 */
export function replyHandlingFault(message: string): ReplyHandlingFault | undefined {
  const m = FAULT.exec(message);
  if (!m) return undefined;
  return { version: m[1]!, ...(m[2] ? { command: m[2] } : {}), detail: m[3]! };
}

/** Marks a reply handler whose socket was given up. */
const GIVEN_UP = Symbol("pubsub-lab: socket given up");

/** ioredis's reply handler (`DataHandler`), as the guard sees it. */
interface ReplyHandler {
  redis: Redis;
  [GIVEN_UP]?: true;
}

/**
 * `DataHandler.prototype.dispatch` guarded: `fn` handles one reply. When it throws, the socket is given up (see the
 * module's description); the command it took off the queue, if any, fails with the error, as do those waiting.
 */
function guardedDispatch(this: ReplyHandler, fn: () => void): void {
  if (this[GIVEN_UP]) return; // the rest of what a given-up socket sent
  const queue = this.redis.commandQueue as { peekFront(): QueuedCommand | undefined };
  const head = queue.peekFront();
  try {
    fn();
  } catch (err) {
    this[GIVEN_UP] = true;
    const taken = head !== undefined && queue.peekFront() !== head;
    const fault = new ReplyHandlingError(taken ? head.command.name.toUpperCase() : undefined, err);
    if (taken) head.command.reject(fault);
    this.redis.recoverFromFatalError(fault, fault, { offlineQueue: false });
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The words of its errors, and its advice on the console

/** What ioredis (and Node's sockets under it) say when a command could not be sent or answered: the connection went. */
const LOST = /Stream isn't writeable|Connection is closed|MaxRetriesPerRequest|ECONNRESET|EPIPE/;

/**
 * Whether ioredis failed a command because its connection was lost or not
 * there (as opposed to a server that answered with an error).
 *
 * @param err what the command rejected with
 * @returns true for a lost connection
 * @example
 * ```ts
 * import { ioredisLostConnection } from "./ioredis_guard.ts";
 * import assert from "node:assert/strict";
 * assert.ok(ioredisLostConnection(new Error("Connection is closed.")));
 * assert.ok(!ioredisLostConnection(new Error("NOPERM no permissions")));
 * ```
 */
export function ioredisLostConnection(err: unknown): boolean {
  return err instanceof Error && (err.name === "MaxRetriesPerRequestError" || LOST.test(err.message));
}

/** How ioredis's advice begins: it writes it with `console.warn`. */
const ADVICE = /^\[(WARN|ERROR)\] /;
/** Who hears ioredis's advice (the newest does). */
const adviceListeners: ((line: string) => void)[] = [];
let consoleWarn: typeof console.warn | undefined;

function routeAdvice(...args: unknown[]): void {
  const text = args.map(String).join(" ");
  const listener = adviceListeners.at(-1);
  if (!listener || !ADVICE.test(text)) return consoleWarn?.(...args);
  listener(text);
}

/**
 * Hands ioredis's advice (the `[WARN] …` and `[ERROR] …` lines it writes
 * with `console.warn`, e.g. on every reconnect) to `listener` instead of the
 * terminal, until the returned function is called; other `console.warn` calls
 * pass through. The newest listener hears it; `console.warn` is restored
 * when none is left.
 *
 * @param listener gets each line
 * @returns stops it; calling it again does nothing
 * @example
 * ```ts
 * import { onIoredisWarning } from "./ioredis_guard.ts";
 * import assert from "node:assert/strict";
 * const heard: string[] = [];
 * const stop = onIoredisWarning((line) => heard.push(line));
 * console.warn("[WARN] Redis server does not require a password, but a password was supplied.");
 * stop();
 * assert.equal(heard.length, 1);
 * ```
 */
export function onIoredisWarning(listener: (line: string) => void): () => void {
  adviceListeners.push(listener);
  if (!consoleWarn) [consoleWarn, console.warn] = [console.warn, routeAdvice];
  let done = false;
  return () => {
    if (done) return;
    done = true;
    adviceListeners.splice(adviceListeners.lastIndexOf(listener), 1);
    if (adviceListeners.length === 0 && consoleWarn) [console.warn, consoleWarn] = [consoleWarn, undefined];
  };
}

// ---------------------------------------------------------------------------------------------------------------
// The socket

/** ioredis's socket for the current connection (`stream`, undocumented), when it is there and one we can use. */
function socketOf(redis: Redis): Redis["stream"] | undefined {
  const stream = redis.stream as Partial<Redis["stream"]> | undefined;
  return typeof stream?.prependListener === "function" && typeof stream.pause === "function" &&
      typeof stream.resume === "function" && typeof stream.destroy === "function" && typeof stream.emit === "function"
    ? redis.stream
    : undefined;
}

/** One socket watched by {@linkcode watchIncoming}. */
export interface IncomingWatch {
  /** Stops this socket: no more of what it received reaches ioredis (nor is read ahead), and it closes. */
  stopReading(): void;
}

/**
 * Calls `onChunk` with each piece the client's current socket receives,
 * before ioredis reads it (so that an error ioredis raises on that piece
 * knows where it came from). Call it on each `connect`.
 *
 * @param redis a client, just connected
 * @param onChunk gets each piece (a view: copy what is kept)
 * @returns the socket watched, to stop reading it; undefined when the socket cannot be watched (nothing is counted)
 */
export function watchIncoming(redis: Redis, onChunk: (chunk: Uint8Array) => void): IncomingWatch | undefined {
  const socket = socketOf(redis);
  socket?.prependListener("data", onChunk);
  return socket && {
    stopReading: () => {
      (socket as unknown as HookedSocket)[READ_AHEAD]?.halt();
      socket.removeAllListeners("data");
      socket.pause();
      socket.destroy();
    },
  };
}

/**
 * Whether the client's socket got as far as a connection (its TCP connect
 * finished), though nothing may have been said on it yet.
 *
 * @param redis a client
 * @returns true once connected; false while connecting, or when not known
 */
export function socketConnected(redis: Redis): boolean {
  return (redis.stream as { connecting?: boolean } | undefined)?.connecting === false;
}

/**
 * Stops reading the client's socket until the returned function is called:
 * what the server sends waits in its output buffer (and the kernel's).
 *
 * @param redis a connected client
 * @returns resumes reading; undefined when the socket cannot be paused (then nothing was)
 * @example
 * ```ts ignore
 * const resume = pauseReading(conn.redis);
 * setTimeout(() => resume?.(), 0); // let the handlers run before reading on
 * ```
 */
export function pauseReading(redis: Redis): (() => void) | undefined {
  const socket = socketOf(redis);
  if (!socket) return undefined;
  socket.pause();
  return () => void socket.resume();
}

// ---------------------------------------------------------------------------------------------------------------
// Subscribed, and messages read ahead of ioredis's decoder

/**
 * Whether ioredis takes the client's connection as subscribed now (to a
 * channel, pattern or sharded channel): only then does it deliver messages.
 *
 * @param redis a client
 * @returns true while subscribed
 */
export function subscribedNow(redis: Redis): boolean {
  return Boolean(redis.condition?.subscriber);
}

/** Reading ahead on one client, as {@linkcode readPushesAhead} set it up. */
export interface ReadAhead {
  /** Stops reading ahead on later sockets. */
  stop(): void;
  /**
   * Bytes of a reply the current (or last) socket began and has not finished — after its close, a reply the server
   * cut short: it closed the connection while it still had more to send. Undefined when not known (nothing is read
   * ahead on that socket, or ioredis reads it all since something the cutter does not know came).
   */
  unfinished(): number | undefined;
  /** How many messages were read ahead in all (not through ioredis's decoder). */
  taken(): number;
  /** Whether the current socket is read ahead (false: ioredis's decoder reads it all, as without a read-ahead). */
  active(): boolean;
}

/** Whether a client's current socket has what reading ahead relies on: a socket with `emit`, `condition.subscriber`. */
function canReadAhead(redis: Redis): boolean {
  const condition = redis.condition as Record<string, unknown> | null | undefined;
  return socketOf(redis) !== undefined && condition !== null && condition !== undefined && "subscriber" in condition;
}

/**
 * How long a flooded subscription is read without a break before the event loop is given back for a turn
 * (lib/core/reading_turns.ts): other connections' replies wait no longer than about this. Measured with kv_updater
 * under a flood: its writes' replies came 84–172 ms late without it. Not less: the turn lasts until a timer fires,
 * about 2 ms here, time in which a script that cannot keep up with the flood has nothing to do: with a turn every 2 ms
 * it could read at most about half the time, and kv_updater stored at ×0.75–0.78 of its publisher's rate against
 * ×0.82–0.86 with a turn every 8 ms (4 interleaved runs each).
 */
export const READING_TURN_MS = 8;

/** A socket whose data is read ahead, with its cutter. */
const READ_AHEAD = Symbol("pubsub-lab: read ahead");

/** ioredis's socket as the read-ahead hooks it. */
interface HookedSocket {
  emit: (event: string | symbol, ...args: unknown[]) => boolean;
  [READ_AHEAD]?: PushCutter;
}

/**
 * Reads message pushes ahead of ioredis's decoder on the client's current
 * socket and on every later one: each is cut out of the socket's bytes
 * (lib/wire/push_cutter.ts) and emitted on the client exactly as ioredis
 * emits it (`messageBuffer`, and `message` when someone listens; the same for
 * `pmessage` and `smessage`), only while ioredis takes the connection as
 * subscribed; every other reply is handed on to ioredis whole and in order.
 * Only RESP3 pushes are taken: on RESP2 a reply is told from a message by the
 * command queue, which only ioredis has. On a socket that lacks what this
 * relies on, nothing is read ahead: ioredis decodes every message itself.
 *
 * @param redis a client that will subscribe (connected or not)
 * @param direct where the messages go instead of being emitted on the client (no `messageBuffer` events: what a
 *   counter that needs the bytes only saves, e.g. bench.ts's subscribers); still only while subscribed, and a sink
 *   that throws gives the socket up as a listener would
 * @returns how to stop it on later sockets, and what it saw
 * @example
 * ```ts ignore
 * const readAhead = readPushesAhead(conn.redis);
 * conn.redis.on("messageBuffer", (channel, payload) => {});
 * conn.redis.on("close", () => console.log(readAhead.unfinished())); // > 0: a reply cut short
 * ```
 */
export function readPushesAhead(redis: Redis, direct?: MessageSink): ReadAhead {
  let cutter: PushCutter | undefined;
  let taken = 0;
  const install = () => {
    if ((redis.stream as unknown as HookedSocket | undefined)?.[READ_AHEAD]) return; // this socket is read ahead
    taken += cutter?.taken ?? 0;
    cutter = undefined;
    if (!canReadAhead(redis)) return; // ioredis reads it all
    const stream = redis.stream as unknown as HookedSocket;
    const emit = stream.emit;
    const own = new PushCutter(
      messageSink(redis, () => own.halt(), direct),
      (bytes) => emit.call(stream, "data", bytes),
    );
    stream[READ_AHEAD] = cutter = own;
    const socket = redis.stream;
    const turns = new ReadingTurns(() => (socket.pause(), () => void socket.resume()));
    // Reading without a break since (chunks less than a turn apart), and the last turn given back.
    let busySince = 0, lastChunkAt = -Infinity, lastTurnAt = 0;
    stream.emit = function (this: unknown, event: string | symbol, ...args: unknown[]): boolean {
      if (event !== "data") return emit.call(this, event, ...args);
      const now = performance.now();
      if (now - lastChunkAt > READING_TURN_MS) busySince = now;
      lastChunkAt = now;
      own.feed(args[0] as Uint8Array);
      if (now - Math.max(busySince, lastTurnAt) >= READING_TURN_MS) {
        lastTurnAt = now;
        turns.yieldTurn();
      }
      return true;
    };
  };
  install();
  redis.on("connect", install);
  return {
    stop: () => redis.off("connect", install),
    unfinished: () => cutter?.unfinished(),
    taken: () => taken + (cutter?.taken ?? 0),
    active: () => cutter !== undefined,
  };
}

/**
 * Emits each message on the client as ioredis's DataHandler does (nothing while the connection is not subscribed, as
 * there), or hands it to `direct`. A listener that throws gives the socket up, as the guarded dispatch does: `halt`
 * stops the cutter.
 */
function messageSink(redis: Redis, halt: () => void, direct?: MessageSink): MessageSink {
  const safely = (emit: () => void) => {
    if (!subscribedNow(redis)) return;
    try {
      emit();
    } catch (err) {
      halt();
      const fault = new ReplyHandlingError(undefined, err);
      redis.recoverFromFatalError(fault, fault, { offlineQueue: false });
    }
  };
  if (direct) {
    const payload = direct.payload;
    return {
      message: (channel, bytes) => safely(() => direct.message(channel, bytes)),
      pmessage: (pattern, channel, bytes) => safely(() => direct.pmessage(pattern, channel, bytes)),
      smessage: (channel, bytes) => safely(() => direct.smessage(channel, bytes)),
      ...(payload
        ? { payload: (buf: Uint8Array, start: number, end: number) => safely(() => payload(buf, start, end)) }
        : {}),
    };
  }
  const listened = (event: string) => redis.listenerCount(event) > 0;
  return {
    message: (channel: Buffer, payload: Buffer) =>
      safely(() => {
        if (listened("message")) redis.emit("message", channel.toString(), payload.toString());
        redis.emit("messageBuffer", channel, payload);
      }),
    pmessage: (patternBytes: Buffer, channel: Buffer, payload: Buffer) =>
      safely(() => {
        const pattern = patternBytes.toString();
        if (listened("pmessage")) redis.emit("pmessage", pattern, channel.toString(), payload.toString());
        redis.emit("pmessageBuffer", pattern, channel, payload);
      }),
    smessage: (channel: Buffer, payload: Buffer) =>
      safely(() => {
        if (listened("smessage")) redis.emit("smessage", channel.toString(), payload.toString());
        redis.emit("smessageBuffer", channel, payload);
      }),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// A cluster's insides

/** A cluster client's private parts (checked at start-up by {@linkcode missingInternals}). */
function clusterInsides(cluster: Cluster): ClusterInsides {
  return cluster as unknown as ClusterInsides;
}

/**
 * The connection a cluster client subscribes plain channels and patterns on
 * now (ioredis moves it to another node when that one is lost).
 *
 * @param cluster a cluster client
 * @returns that connection, or undefined before there is one
 */
export function plainSubscriberOf(cluster: Cluster): Redis | undefined {
  return clusterInsides(cluster).subscriber?.getInstance() ?? undefined;
}

/**
 * Stops a cluster client's periodic read of the slot map for good, after
 * `disconnect()`: ioredis 6.0.0 arms its timer again when a read still in
 * flight at the disconnect completes (likely while a node is down), which
 * would keep the process alive. Waits for that read (at most its
 * `slotsRefreshTimeout` and half a second) and clears the timer again.
 *
 * @param cluster a cluster client, disconnected
 * @returns resolves once the timer is cleared
 */
export async function stopSlotRefresh(cluster: Cluster): Promise<void> {
  const insides = clusterInsides(cluster);
  const until = Date.now() + (cluster.options.slotsRefreshTimeout ?? 1000) + 500;
  while (insides.isRefreshing && Date.now() < until) await delay(20);
  insides.clearNodesRefreshInterval?.();
}
