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

/** Reads the decimal number from `i` up to its `\r\n`: [value, index after `\n`], or INCOMPLETE/UNKNOWN. */
function readLength(buf: Uint8Array, i: number): [number, number] | number {
  let n = 0;
  let negative = false;
  if (buf[i] === 0x2d) [negative, i] = [true, i + 1];
  const start = i;
  for (let c = 0; i < buf.length; i++) {
    c = buf[i]!;
    if (c === CR) {
      if (i + 1 >= buf.length) return INCOMPLETE;
      if (i === start || buf[i + 1] !== 0x0a) return UNKNOWN;
      return [negative ? -n : n, i + 2];
    }
    if (c < 0x30 || c > 0x39) return UNKNOWN;
    n = n * 10 + c - 0x30;
  }
  return INCOMPLETE;
}

/**
 * Where the reply that starts at `i` ends (the index after it), or INCOMPLETE when it is not all here yet, or
 * UNKNOWN for what this reader does not know.
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
      const len = readLength(buf, i + 1);
      if (typeof len === "number") return len;
      const [n, at] = len;
      if (n < 0) return at; // null
      const end = at + n + 2;
      return end > buf.length ? INCOMPLETE : buf[end - 2] === CR ? end : UNKNOWN;
    }
    case 0x2a: // * array
    case 0x3e: // > push
    case 0x7e: // ~ set
    case 0x25: // % map
    case 0x7c: { // | attribute
      const len = readLength(buf, i + 1);
      if (typeof len === "number") return len;
      let [n, at] = len;
      if (n < 0) return at;
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

/** The bulk strings of a push made only of them, as views of `buf`, or undefined. */
function bulkStrings(buf: Buffer, i: number, end: number): Buffer[] | undefined {
  const head = readLength(buf, i + 1);
  if (typeof head === "number") return undefined;
  const [count, start] = head;
  const out: Buffer[] = [];
  let at = start;
  for (let k = 0; k < count; k++) {
    if (buf[at] !== 0x24) return undefined;
    const len = readLength(buf, at + 1);
    if (typeof len === "number" || len[0] < 0) return undefined;
    out.push(buf.subarray(len[1], len[1] + len[0]));
    at = len[1] + len[0] + 2;
  }
  return at === end ? out : undefined;
}

/** The kind of a message push (`message`, `pmessage`, `smessage`) from its first bulk string, else undefined. */
function messageKind(word: Buffer): "message" | "pmessage" | "smessage" | undefined {
  const n = word.length;
  if (n === 7 && word[0] === 0x6d && word.toString() === "message") return "message";
  if (n === 8 && word[1] === 0x6d && word[0] === 0x70 && word.toString() === "pmessage") return "pmessage";
  if (n === 8 && word[1] === 0x6d && word[0] === 0x73 && word.toString() === "smessage") return "smessage";
  return undefined;
}

/** Emits one message push on the client as ioredis's DataHandler does; false when it is not one. */
function emitMessage(redis: Redis, words: Buffer[]): boolean {
  const kind = messageKind(words[0]!);
  if (kind === undefined) return false;
  if (kind === "pmessage" ? words.length !== 4 : words.length !== 3) return false;
  if (!(redis as unknown as { condition?: { subscriber?: unknown } }).condition?.subscriber) return true; // as ioredis
  try {
    if (kind === "pmessage") {
      const pattern = words[1]!.toString();
      if (redis.listenerCount("pmessage") > 0) {
        redis.emit("pmessage", pattern, words[2]!.toString(), words[3]!.toString());
      }
      redis.emit("pmessageBuffer", pattern, words[2], words[3]);
    } else {
      if (redis.listenerCount(kind) > 0) redis.emit(kind, words[1]!.toString(), words[2]!.toString());
      redis.emit(`${kind}Buffer`, words[1], words[2]);
    }
  } catch (err) {
    // As ioredis: a listener's exception surfaces as uncaught, and does not tear the reading down.
    queueMicrotask(() => {
      throw err;
    });
  }
  return true;
}

type Emit = (event: string | symbol, ...args: unknown[]) => boolean;

/**
 * Reads message pushes ahead of ioredis on the client's current socket and on every later one (see the module's
 * description). Only RESP3 pushes (`>`) are taken: on RESP2 a reply is told from a message by the command queue,
 * which only ioredis has.
 *
 * @param redis a client that will subscribe (connected or not)
 * @returns a function that stops doing it on later sockets
 * @example
 * ```ts ignore
 * readMessagesAhead(conn.redis);
 * conn.redis.on("messageBuffer", (channel, payload) => {});
 * ```
 */
export function readMessagesAhead(redis: Redis): () => void {
  const install = () => {
    const stream = redis.stream as unknown as { emit: Emit } | undefined;
    if (!stream || (stream as { __pushAhead?: true }).__pushAhead) return;
    (stream as { __pushAhead?: true }).__pushAhead = true;
    const emit = stream.emit;
    let rest: Buffer | undefined;
    let passThrough = false;
    stream.emit = function (this: unknown, event: string | symbol, ...args: unknown[]): boolean {
      if (event !== "data" || passThrough) return emit.call(this, event, ...args);
      const chunk = args[0] as Uint8Array;
      let buf = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      if (rest) [buf, rest] = [Buffer.concat([rest, buf]), undefined];
      let handOn = 0; // the start of replies not yet handed on to ioredis
      let i = 0;
      const flush = (to: number) => {
        if (to > handOn) emit.call(this, "data", buf.subarray(handOn, to));
      };
      while (i < buf.length) {
        const end = replyEnd(buf, i);
        if (end === INCOMPLETE) break;
        if (end === UNKNOWN) {
          passThrough = true;
          flush(buf.length);
          return true;
        }
        if (buf[i] === 0x3e) {
          const words = bulkStrings(buf, i, end);
          if (words && words.length > 0) {
            // Hand on what came before, in order, then take the message.
            flush(i);
            if (emitMessage(redis, words)) handOn = end;
            else handOn = i;
          }
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
  return () => redis.off("connect", install);
}
