/**
 * The one door to ioredis's internals: what pubsub-lab changes inside the
 * pinned client library, why, and the check that what it relies on is still
 * there. {@linkcode guardIoredis} runs before the first connection of a
 * process: it finds each internal it needs ({@linkcode missingInternals}) and
 * patches once, or stops the script with one line naming the installed
 * ioredis version and what changed (exit code 9). tests/core/ioredis_guard_test.ts
 * proves each assumption against the real pinned ioredis and a real server.
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
 * listener ioredis calls on the way (a `message` listener, on RESP2) goes the
 * same way: said in the "lost" line, never uncaught.
 *
 * @module
 */
import { Redis } from "ioredis";
import * as dataHandlerModule from "ioredis/built/DataHandler.js";
import ioredisPackage from "ioredis/package.json" with { type: "json" };
import { CliError, ExitCode } from "./exit_codes.ts";

/** The version of ioredis installed (read from its package.json). */
export const IOREDIS_VERSION: string = ioredisPackage.version;

/** A command waiting for its reply, as ioredis queues it. */
interface QueuedCommand {
  command: { name: string; reject(err: Error): void };
}

/** The client a reply handler serves: the parts of it the guard uses. */
interface HandledClient {
  commandQueue: { peekFront(): QueuedCommand | undefined };
  recoverFromFatalError(commandError: Error, err: Error, options: { offlineQueue: boolean }): void;
}

/** Marks a reply handler whose socket was given up. */
const GIVEN_UP = Symbol("pubsub-lab: socket given up");

/** ioredis's reply handler (`DataHandler`), as the guard sees it. */
interface ReplyHandler {
  redis: HandledClient;
  [GIVEN_UP]?: true;
}

/** What the guard needs of ioredis, to check before patching (and to stand in for in a test). */
export interface IoredisParts {
  /** The `DataHandler` class of `ioredis/built/DataHandler.js` (the module's default export). */
  dataHandler: unknown;
  /** A client, never connected: to look at what every client has. */
  client: unknown;
}

/**
 * Which of the internals the guard relies on are missing from `parts`.
 *
 * @param parts ioredis's parts (by default the installed ioredis's)
 * @returns one phrase per missing internal; empty when all are there
 * @example
 * ```ts
 * import { missingInternals } from "./ioredis_guard.ts";
 * console.assert(missingInternals().length === 0);
 * console.assert(missingInternals({ dataHandler: class {}, client: {} }).length === 3);
 * ```
 */
export function missingInternals(parts: IoredisParts = installedParts()): string[] {
  const proto = (parts.dataHandler as { prototype?: Record<string, unknown> } | undefined)?.prototype;
  const client = parts.client as Partial<Record<keyof HandledClient, { peekFront?: unknown }>> | undefined;
  return [
    ...(typeof proto?.dispatch === "function" && proto.dispatch.length === 1
      ? []
      : ["DataHandler.prototype.dispatch(fn) (built/DataHandler.js), through which every reply is handled"]),
    ...(typeof client?.commandQueue?.peekFront === "function"
      ? []
      : ["a client's commandQueue.peekFront() (the command the next reply answers)"]),
    ...(typeof client?.recoverFromFatalError === "function"
      ? []
      : ["a client's recoverFromFatalError(err, err, options) (which gives a socket up and reconnects)"]),
  ];
}

/** The installed ioredis's parts; the client made for it is never connected and ended at once. */
function installedParts(): IoredisParts {
  const client = new Redis({ lazyConnect: true });
  client.disconnect();
  return { dataHandler: dataHandlerClass(), client };
}

/** The `DataHandler` class: the module's default export (Deno hands CommonJS's `exports` over as its default). */
function dataHandlerClass(): unknown {
  const exports = (dataHandlerModule as { default?: unknown }).default as { default?: unknown } | undefined;
  return typeof exports === "function" ? exports : exports?.default;
}

let guarded = false;

/**
 * Checks that ioredis still has what the guard relies on and patches it,
 * once per process; later calls do nothing. Call it before the first client
 * connects ({@linkcode Connection} and `ClusterConnection` do).
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

/**
 * A command failed, and its connection was given up, because handling a
 * reply threw inside ioredis: a reply that does not fit the command it was
 * taken to answer (from a server that breaks the protocol, or a client
 * library that lost track of its commands). Its message ends with "Please
 * report this." as ioredis's own for a reply it cannot parse.
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
 * const fault = replyHandlingFault(new ReplyHandlingError("UNSUBSCRIBE", new TypeError("bad")).message);
 * console.assert(fault?.command === "UNSUBSCRIBE" && fault.detail === "bad");
 * console.assert(replyHandlingFault("Connection is closed.") === undefined);
 * ```
 */
export function replyHandlingFault(message: string): ReplyHandlingFault | undefined {
  const m = FAULT.exec(message);
  if (!m) return undefined;
  return { version: m[1]!, ...(m[2] ? { command: m[2] } : {}), detail: m[3]! };
}

/**
 * `DataHandler.prototype.dispatch` guarded: `fn` handles one reply. When it throws, the socket is given up (see the
 * module's description); the command it took off the queue, if any, fails with the error, as do those waiting.
 */
function guardedDispatch(this: ReplyHandler, fn: () => void): void {
  if (this[GIVEN_UP]) return; // the rest of what a given-up socket sent
  const queue = this.redis.commandQueue;
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
