/**
 * Pub/sub messages read ahead of ioredis: on a RESP3 connection each
 * `message`, `pmessage` and `smessage` push is cut out of the bytes the
 * socket delivers and emitted on the client exactly as ioredis emits it
 * (`messageBuffer`, and `message` when someone listens; the same for the
 * other two), and every other reply is handed on to ioredis, in order and
 * whole. ioredis 6.0.0's reply decoder costs about 2.4 times the CPU per
 * message of ioredis 5's (tests/bench/pubsub.ts); this cut costs a fraction of
 * it. Anything it does not know (a streamed string, a type byte it has never
 * seen) ends the cut for that socket: from there on ioredis reads it all, and
 * says what is wrong as it always did.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import type { Redis } from "ioredis";

const CR = 0x0d;
const INCOMPLETE = -1;
const UNKNOWN = -2;
/** What {@linkcode readLength} returns when the line is not all here yet, or is no number. */
const LINE_INCOMPLETE = -3;
const LINE_UNKNOWN = -4;

/** Where the line {@linkcode readLength} read last ends (the index after its `\n`): a second result, without an array. */
let lineEnd = 0;

/** Reads the decimal number (-1 for a null) from `i` up to its `\r\n`; sets {@linkcode lineEnd}. */
function readLength(buf: Uint8Array, i: number): number {
  let n = 0;
  let negative = false;
  if (buf[i] === 0x2d) [negative, i] = [true, i + 1];
  const start = i;
  for (let c = 0; i < buf.length; i++) {
    c = buf[i]!;
    if (c === CR) {
      if (i + 1 >= buf.length) return LINE_INCOMPLETE;
      if (i === start || buf[i + 1] !== 0x0a || (negative && n !== 1)) return LINE_UNKNOWN;
      lineEnd = i + 2;
      return negative ? -1 : n;
    }
    if (c < 0x30 || c > 0x39) return LINE_UNKNOWN;
    n = n * 10 + c - 0x30;
  }
  return LINE_INCOMPLETE;
}

/** INCOMPLETE or UNKNOWN for what {@linkcode readLength} said. */
const lineFailure = (n: number) => (n === LINE_INCOMPLETE ? INCOMPLETE : UNKNOWN);

/**
 * Where the reply that starts at `i` ends (the index after it), or INCOMPLETE (-1) when it is not all here yet, or
 * UNKNOWN (-2) for what this reader does not know (a streamed string, an unknown type byte, nesting past 64).
 *
 * @param buf the bytes
 * @param i where the reply starts
 * @param depth how deep in an aggregate it is
 * @returns the index after the reply, -1 or -2
 * @example
 * ```ts
 * import { replyEnd } from "./push_cutter.ts";
 * console.assert(replyEnd(new TextEncoder().encode("*1\r\n:1\r\n"), 0) === 8);
 * ```
 */
export function replyEnd(buf: Uint8Array, i: number, depth = 0): number {
  if (i >= buf.length) return INCOMPLETE;
  if (depth > 64) return UNKNOWN; // ioredis knows what to say about deep nesting
  const type = buf[i]!;
  switch (type) {
    case 0x2b: // + simple string
    case 0x2d: // - error
    case 0x3a: // : integer
    case 0x5f: // _ null
    case 0x23: // # boolean
    case 0x2c: // , double
    case 0x28: { // ( big number
      const lf = buf.indexOf(0x0a, i);
      return lf < 0 ? INCOMPLETE : lf + 1;
    }
    case 0x24: // $ bulk string
    case 0x21: // ! bulk error
    case 0x3d: { // = verbatim string
      const n = readLength(buf, i + 1);
      if (n < -1) return lineFailure(n);
      if (n === -1) return lineEnd; // null
      const end = lineEnd + n + 2;
      return end > buf.length ? INCOMPLETE : buf[end - 2] === CR ? end : UNKNOWN;
    }
    case 0x2a: // * array
    case 0x3e: // > push
    case 0x7e: // ~ set
    case 0x25: // % map
    case 0x7c: { // | attribute
      let n = readLength(buf, i + 1);
      if (n < -1) return lineFailure(n);
      let at = lineEnd;
      if (n === -1) return at;
      if (type === 0x25 || type === 0x7c) n *= 2;
      for (let k = 0; k < n; k++) {
        at = replyEnd(buf, at, depth + 1);
        if (at < 0) return at;
      }
      return at;
    }
    default:
      return UNKNOWN;
  }
}

/** The offsets of the bulk strings of the last push {@linkcode pushOfBulks} read: start, length, start, length… */
const spans: number[] = [0, 0, 0, 0, 0, 0, 0, 0];

/**
 * Reads a push of 3 or 4 bulk strings at `i` (what every message is) into {@linkcode spans}: the index after it,
 * INCOMPLETE, or UNKNOWN when it is some other reply (then {@linkcode replyEnd} finds its end).
 */
function pushOfBulks(buf: Uint8Array, i: number): number {
  const count = readLength(buf, i + 1);
  if (count === LINE_INCOMPLETE) return INCOMPLETE;
  if (count !== 3 && count !== 4) return UNKNOWN;
  let at = lineEnd;
  for (let k = 0; k < count; k++) {
    if (at >= buf.length) return INCOMPLETE;
    if (buf[at] !== 0x24) return UNKNOWN;
    const n = readLength(buf, at + 1);
    if (n === LINE_INCOMPLETE) return INCOMPLETE;
    if (n < 0) return UNKNOWN;
    spans[2 * k] = lineEnd;
    spans[2 * k + 1] = n;
    at = lineEnd + n + 2;
    if (at > buf.length) return INCOMPLETE;
    if (buf[at - 2] !== CR) return UNKNOWN;
  }
  pushCount = count;
  return at;
}

/** How many bulk strings the last push {@linkcode pushOfBulks} read has. */
let pushCount = 0;

const MESSAGE = new TextEncoder().encode("message");
const PMESSAGE = new TextEncoder().encode("pmessage");
const SMESSAGE = new TextEncoder().encode("smessage");

/** Whether the bytes at `at` (`n` of them) are `word`. */
function isWord(buf: Uint8Array, at: number, n: number, word: Uint8Array): boolean {
  if (n !== word.length) return false;
  for (let k = 0; k < n; k++) if (buf[at + k] !== word[k]) return false;
  return true;
}
type Emit = (event: string | symbol, ...args: unknown[]) => boolean;

/** Whether ioredis would deliver messages now: only while it knows the connection subscribed. */
const subscribed = (redis: Redis) =>
  Boolean((redis as unknown as { condition?: { subscriber?: unknown } }).condition?.subscriber);

/**
 * Emits the message push in {@linkcode spans} on the client as ioredis's DataHandler does (nothing when the
 * connection is not subscribed, as there); false when the push is no message (then ioredis gets it).
 */
function emitMessage(redis: Redis, buf: Buffer): boolean {
  const kindAt = spans[0]!, kindLength = spans[1]!;
  const kind = pushCount === 3
    ? (isWord(buf, kindAt, kindLength, MESSAGE)
      ? "message"
      : isWord(buf, kindAt, kindLength, SMESSAGE)
      ? "smessage"
      : "")
    : isWord(buf, kindAt, kindLength, PMESSAGE)
    ? "pmessage"
    : "";
  if (kind === "") return false;
  if (!subscribed(redis)) return true;
  const word = (k: number) => buf.subarray(spans[2 * k]!, spans[2 * k]! + spans[2 * k + 1]!);
  try {
    if (kind === "pmessage") {
      const pattern = word(1).toString();
      const channel = word(2);
      const payload = word(3);
      if (redis.listenerCount("pmessage") > 0) redis.emit("pmessage", pattern, channel.toString(), payload.toString());
      redis.emit("pmessageBuffer", pattern, channel, payload);
    } else {
      const channel = word(1);
      const payload = word(2);
      if (redis.listenerCount(kind) > 0) redis.emit(kind, channel.toString(), payload.toString());
      redis.emit(kind === "message" ? "messageBuffer" : "smessageBuffer", channel, payload);
    }
  } catch (err) {
    // As ioredis: a listener's exception surfaces as uncaught, and does not tear the reading down.
    queueMicrotask(() => {
      throw err;
    });
  }
  return true;
}

/** Reading ahead on one client, as {@linkcode readMessagesAhead} set it up. */
export interface ReadAhead {
  /** Stops reading ahead on later sockets. */
  stop(): void;
  /**
   * Bytes of a reply the current (or last) socket began and has not finished — after its close, a reply the server
   * cut short: it closed the connection while it still had more to send. Undefined when not known (nothing was read
   * ahead on that socket, or ioredis reads it all since something this reader does not know came).
   */
  unfinished(): number | undefined;
}

/**
 * Reads message pushes ahead of ioredis on the client's current socket and on every later one (see the module's
 * description). Only RESP3 pushes (`>`) are taken: on RESP2 a reply is told from a message by the command queue,
 * which only ioredis has (its replies are still cut whole, so what a socket left unfinished is known on both).
 *
 * @param redis a client that will subscribe (connected or not)
 * @returns how to stop it on later sockets, and what the socket left unfinished
 * @example
 * ```ts ignore
 * const readAhead = readMessagesAhead(conn.redis);
 * conn.redis.on("messageBuffer", (channel, payload) => {});
 * conn.redis.on("close", () => console.log(readAhead.unfinished())); // > 0: a reply cut short
 * ```
 */
export function readMessagesAhead(redis: Redis): ReadAhead {
  let unfinished: () => number | undefined = () => undefined;
  const install = () => {
    const stream = redis.stream as unknown as { emit: Emit } | undefined;
    if (!stream || (stream as { __pushAhead?: true }).__pushAhead) return;
    (stream as { __pushAhead?: true }).__pushAhead = true;
    const emit = stream.emit;
    let rest: Buffer | undefined;
    let passThrough = false;
    unfinished = () => (passThrough ? undefined : rest?.length ?? 0);
    stream.emit = function (this: unknown, event: string | symbol, ...args: unknown[]): boolean {
      if (event !== "data" || passThrough) return emit.call(this, event, ...args);
      const chunk = args[0] as Uint8Array;
      let buf = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      if (rest) [buf, rest] = [Buffer.concat([rest, buf]), undefined];
      let handOn = 0; // the start of replies not yet handed on to ioredis
      let i = 0;
      const flush = (to: number) => {
        if (to > handOn) emit.call(this, "data", buf.subarray(handOn, to));
        handOn = to;
      };
      while (i < buf.length) {
        let end = buf[i] === 0x3e ? pushOfBulks(buf, i) : UNKNOWN;
        if (end === INCOMPLETE) break;
        if (end >= 0) flush(i); // what came before goes first, in order
        if (end >= 0 && emitMessage(redis, buf)) {
          handOn = end;
          i = end;
          continue;
        }
        if (end < 0) end = replyEnd(buf, i);
        if (end === INCOMPLETE) break;
        if (end === UNKNOWN) {
          passThrough = true;
          flush(buf.length);
          return true;
        }
        i = end;
      }
      flush(i);
      if (i < buf.length) rest = Buffer.from(buf.subarray(i)); // a copy: the socket may reuse its buffer
      return true;
    };
  };
  install();
  redis.on("connect", install);
  return { stop: () => redis.off("connect", install), unfinished: () => unfinished() };
}
