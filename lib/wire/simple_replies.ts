/**
 * Reading a stream of simple replies — integers, errors and statuses, all
 * that PUBLISH, SPUBLISH and AUTH answer — piece by piece as a socket
 * delivers them, with no object made per reply.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { INCOMPLETE, RespScanner, RespSyntaxError } from "./resp.ts";

/** What {@linkcode SimpleReplyReader.feed} calls for each reply, in order. */
export interface SimpleReplyHandler {
  /** An integer reply (`:3`). */
  integer(n: number): void;
  /** An error reply (`-NOPERM …`), its text. */
  error(text: string): void;
  /** A status reply (`+OK`), its text. */
  status(text: string): void;
}

/**
 * Reads simple replies from the pieces a socket delivers; keeps what a piece left unfinished for the next one.
 *
 * @example
 * ```ts
 * import { SimpleReplyReader } from "./simple_replies.ts";
 * import assert from "node:assert/strict";
 * const got: unknown[] = [];
 * const on = { integer: (n: number) => got.push(n), error: (t: string) => got.push(t), status: (t: string) => got.push(t) };
 * const reader = new SimpleReplyReader();
 * reader.feed(new TextEncoder().encode("+OK\r\n:1\r\n:2"), on);
 * reader.feed(new TextEncoder().encode("5\r\n-ERR no\r\n"), on);
 * assert.deepEqual(got, ["OK", 1, 25, "ERR no"]);
 * ```
 */
export class SimpleReplyReader {
  #rest: Uint8Array | undefined;
  readonly #scan = new RespScanner();

  /**
   * Reads one piece: calls `on` for each reply it completes, in order.
   *
   * @param chunk the bytes that came
   * @param on what to do with each reply
   * @throws {RespSyntaxError} when a reply is not a simple one (or not RESP)
   */
  feed(chunk: Uint8Array, on: SimpleReplyHandler): void {
    let buf = chunk;
    if (this.#rest) {
      buf = Buffer.concat([this.#rest, chunk]);
      this.#rest = undefined;
    }
    const scan = this.#scan;
    let i = 0;
    while (i < buf.length) {
      const type = buf[i]!;
      if (type === 0x3a) { // :
        const n = scan.number(buf, i + 1);
        if (scan.end === INCOMPLETE) break;
        if (scan.end < 0) throw new RespSyntaxError(buf, i);
        on.integer(n);
        i = scan.end;
      } else if (type === 0x2d || type === 0x2b) { // - or +
        const lf = buf.indexOf(0x0a, i);
        if (lf < 0) break;
        if (buf[lf - 1] !== 0x0d) throw new RespSyntaxError(buf, i);
        const text = Buffer.from(buf.buffer, buf.byteOffset + i + 1, lf - i - 2).toString();
        if (type === 0x2d) on.error(text);
        else on.status(text);
        i = lf + 1;
      } else {
        throw new RespSyntaxError(buf, i);
      }
    }
    if (i < buf.length) this.#rest = buf.slice(i);
  }
}
