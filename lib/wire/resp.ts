/**
 * Reading RESP, the protocol of Redis, Valkey and KeyDB, from bytes: where a
 * reply ends (RESP2 and RESP3, for cutting a socket's bytes into replies), and
 * a RESP2 reply decoded (for the one-shot questions lib/core/local_server.ts
 * asks a server it started).
 *
 * @module
 */

/** A reply is not all here yet: what {@linkcode RespScanner.replyEnd} returns, and `end` after a line not all here. */
export const INCOMPLETE = -1;
/** Bytes this reader does not know: what {@linkcode RespScanner.replyEnd} returns, and `end` after no number. */
export const UNKNOWN = -2;

const CR = 0x0d;
const LF = 0x0a;
/** Nesting past this is left to whoever reads the bytes next (ioredis knows what to say about it). */
const MAX_DEPTH = 64;

/**
 * Reads the numbers and ends of RESP replies. One scanner per reader: the end of the line it read last is its own
 * state, a second result without an array made per call.
 *
 * @example
 * ```ts
 * import { RespScanner } from "./resp.ts";
 * import assert from "node:assert/strict";
 * const scan = new RespScanner();
 * const bytes = new TextEncoder().encode("$3\r\nabc\r\n");
 * assert.equal(scan.number(bytes, 1), 3);
 * assert.equal(scan.end, 4);
 * assert.equal(scan.replyEnd(bytes, 0), 9);
 * ```
 */
export class RespScanner {
  /**
   * Where the line {@linkcode number} read last ends (the index after its `\n`), or {@linkcode INCOMPLETE} when
   * the line is not all here, {@linkcode UNKNOWN} when it is no number.
   */
  end = 0;

  /**
   * Reads the decimal number (-1 for a null length) from `i` up to its `\r\n` and sets {@linkcode end}.
   *
   * @param buf the bytes
   * @param i where the number starts (after the type byte)
   * @returns the number; meaningless when {@linkcode end} is negative
   */
  number(buf: Uint8Array, i: number): number {
    let n = 0;
    let negative = false;
    if (buf[i] === 0x2d) [negative, i] = [true, i + 1];
    const start = i;
    for (let c = 0; i < buf.length; i++) {
      c = buf[i]!;
      if (c === CR) {
        if (i + 1 >= buf.length) break;
        this.end = i === start || buf[i + 1] !== LF ? UNKNOWN : i + 2;
        return negative ? -n : n;
      }
      if (c < 0x30 || c > 0x39) {
        this.end = UNKNOWN;
        return 0;
      }
      n = n * 10 + c - 0x30;
    }
    this.end = INCOMPLETE;
    return 0;
  }

  /**
   * Where the reply that starts at `i` ends (the index after it), or {@linkcode INCOMPLETE} when it is not all here
   * yet, {@linkcode UNKNOWN} for what this reader does not know (a streamed string, an unknown type byte, nesting
   * past 64).
   *
   * @param buf the bytes
   * @param i where the reply starts
   * @param depth how deep in an aggregate it is
   * @returns the index after the reply, {@linkcode INCOMPLETE} or {@linkcode UNKNOWN}
   */
  replyEnd(buf: Uint8Array, i: number, depth = 0): number {
    if (i >= buf.length) return INCOMPLETE;
    if (depth > MAX_DEPTH) return UNKNOWN;
    const type = buf[i]!;
    switch (type) {
      case 0x2b: // + simple string
      case 0x2d: // - error
      case 0x3a: // : integer
      case 0x5f: // _ null
      case 0x23: // # boolean
      case 0x2c: // , double
      case 0x28: { // ( big number
        const lf = buf.indexOf(LF, i);
        return lf < 0 ? INCOMPLETE : lf + 1;
      }
      case 0x24: // $ bulk string
      case 0x21: // ! bulk error
      case 0x3d: { // = verbatim string
        const n = this.number(buf, i + 1);
        if (this.end < 0 || n < -1) return this.end < 0 ? this.end : UNKNOWN;
        if (n === -1) return this.end; // null
        const end = this.end + n + 2;
        return end > buf.length ? INCOMPLETE : buf[end - 2] === CR ? end : UNKNOWN;
      }
      case 0x2a: // * array
      case 0x3e: // > push
      case 0x7e: // ~ set
      case 0x25: // % map
      case 0x7c: { // | attribute
        let n = this.number(buf, i + 1);
        if (this.end < 0 || n < -1) return this.end < 0 ? this.end : UNKNOWN;
        let at = this.end;
        if (n === -1) return at;
        if (type === 0x25 || type === 0x7c) n *= 2;
        for (let k = 0; k < n; k++) {
          at = this.replyEnd(buf, at, depth + 1);
          if (at < 0) return at;
        }
        return at;
      }
      default:
        return UNKNOWN;
    }
  }
}

/**
 * Bytes that are not RESP where a reply was expected.
 *
 * @example
 * ```ts
 * import { decodeReply, RespSyntaxError } from "./resp.ts";
 * import assert from "node:assert/strict";
 * try {
 *   decodeReply(new TextEncoder().encode("HTTP/1.1 400\r\n"));
 * } catch (err) {
 *   assert.ok(err instanceof RespSyntaxError);
 *   assert.equal(err.shown, "HTTP/1.1 400??");
 * }
 * ```
 */
export class RespSyntaxError extends Error {
  /** The first bytes of what came, printable ASCII with `?` for any other byte. */
  readonly shown: string;

  /**
   * Creates a RespSyntaxError.
   *
   * @param buf the bytes
   * @param at where the reply that is not RESP starts
   */
  constructor(buf: Uint8Array, at: number) {
    const shown = String.fromCharCode(...buf.subarray(at, at + 20)).replace(/[^\x20-\x7e]/g, "?");
    super(`Unexpected reply "${shown}"`);
    this.name = "RespSyntaxError";
    this.shown = shown;
  }
}

/** An error reply (`-ERR …`), as a value among the others of a {@linkcode Reply}. */
export class ErrorReply {
  /**
   * Creates an ErrorReply.
   *
   * @param message the error's text, e.g. `NOAUTH Authentication required.`
   */
  constructor(readonly message: string) {}
}

/** A RESP2 reply decoded: a simple or bulk string, an integer, a null, an error, or an array of them. */
export type Reply = string | number | null | ErrorReply | Reply[];

/** A reply decoded, and where it ended. */
export interface Decoded {
  /** The reply. */
  reply: Reply;
  /** The index after it. */
  end: number;
}

/**
 * Decodes the RESP2 reply that starts at `at` (bulk strings as UTF-8 text).
 *
 * @param buf the bytes
 * @param at where the reply starts
 * @returns the reply and where it ended, or undefined when it is not all here yet
 * @throws {RespSyntaxError} when the bytes are not a RESP2 reply
 * @example
 * ```ts
 * import { decodeReply, ErrorReply } from "./resp.ts";
 * import assert from "node:assert/strict";
 * const bytes = (s: string) => new TextEncoder().encode(s);
 * assert.equal(decodeReply(bytes("+PONG\r\n"))?.reply, "PONG");
 * const links = decodeReply(bytes("*1\r\n*2\r\n$4\r\nnode\r\n:7\r\n"))?.reply;
 * assert.deepEqual(links, [["node", 7]]);
 * assert.ok(decodeReply(bytes("-NOAUTH needed\r\n"))?.reply instanceof ErrorReply);
 * assert.equal(decodeReply(bytes("$5\r\nhel")), undefined);
 * ```
 */
export function decodeReply(buf: Uint8Array, at = 0): Decoded | undefined {
  const decoding = new Decoding(buf);
  const reply = decoding.read(at, 0);
  return reply === MORE ? undefined : { reply, end: decoding.at };
}

/** What {@linkcode Decoding.read} returns when the reply is not all here. */
const MORE = Symbol("more");
const utf8 = new TextDecoder();

/** One {@linkcode decodeReply}: where it has got to. */
class Decoding {
  /** The index after the reply read last. */
  at = 0;
  readonly #scan = new RespScanner();

  constructor(private readonly buf: Uint8Array) {}

  read(i: number, depth: number): Reply | typeof MORE {
    const buf = this.buf;
    if (i >= buf.length) return MORE;
    if (depth > MAX_DEPTH) throw new RespSyntaxError(buf, i);
    const type = buf[i]!;
    if (type === 0x2b || type === 0x2d || type === 0x3a) { // + - :
      const lf = buf.indexOf(LF, i);
      if (lf < 0) return MORE;
      if (buf[lf - 1] !== CR) throw new RespSyntaxError(buf, i);
      const text = utf8.decode(buf.subarray(i + 1, lf - 1));
      this.at = lf + 1;
      if (type === 0x2b) return text;
      if (type === 0x2d) return new ErrorReply(text);
      if (!/^-?\d+$/.test(text)) throw new RespSyntaxError(buf, i);
      return Number(text);
    }
    if (type !== 0x24 && type !== 0x2a) throw new RespSyntaxError(buf, i); // neither $ nor *
    const n = this.#scan.number(buf, i + 1);
    if (this.#scan.end === INCOMPLETE) return MORE;
    if (this.#scan.end === UNKNOWN || n < -1) throw new RespSyntaxError(buf, i);
    this.at = this.#scan.end;
    if (n === -1) return null;
    if (type === 0x24) {
      const end = this.at + n + 2;
      if (end > buf.length) return MORE;
      if (buf[end - 2] !== CR || buf[end - 1] !== LF) throw new RespSyntaxError(buf, i);
      const text = utf8.decode(buf.subarray(this.at, end - 2));
      this.at = end;
      return text;
    }
    const items: Reply[] = [];
    for (let k = 0; k < n; k++) {
      const item = this.read(this.at, depth + 1);
      if (item === MORE) return MORE;
      items.push(item);
    }
    return items;
  }
}
