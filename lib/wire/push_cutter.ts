/**
 * Pub/sub messages cut out of a socket's bytes: on RESP3 each `message`,
 * `pmessage` and `smessage` push is taken out of the pieces a socket delivers
 * and given to a {@linkcode MessageSink}, and every other reply is handed on
 * whole and in order (to ioredis's decoder: lib/core/ioredis_guard.ts's
 * `readPushesAhead` does the wiring). ioredis 6.0.0's decoder costs about 2.4
 * times the CPU per message of ioredis 5's (tests/bench/pubsub.ts); this cut
 * costs a fraction of it. Anything it does not know (a streamed string, a
 * type byte it has never seen) ends the cut for that socket: from there on
 * every byte is handed on, for the decoder to read and say what is wrong.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { INCOMPLETE, RespScanner, UNKNOWN } from "./resp.ts";

/** Where the messages cut out go: the channel, pattern and payload as they came (views of the socket's bytes). */
export interface MessageSink {
  /** A `message` push: a message on a channel. */
  message(channel: Buffer, payload: Buffer): void;
  /** A `pmessage` push: a message on a channel matching a pattern. */
  pmessage(pattern: Buffer, channel: Buffer, payload: Buffer): void;
  /** An `smessage` push: a message on a sharded channel. */
  smessage(channel: Buffer, payload: Buffer): void;
  /**
   * When present, every message (of the three kinds) comes here instead, as where its payload lies in `buf` (valid
   * until it returns): no view is made, for a sink that reads only the payload's bytes, a million times a second.
   */
  payload?(buf: Uint8Array, start: number, end: number): void;
}

const MESSAGE = new TextEncoder().encode("message");
const PMESSAGE = new TextEncoder().encode("pmessage");
const SMESSAGE = new TextEncoder().encode("smessage");

/** Whether the bytes at `at` (`n` of them) are `word`. */
function isWord(buf: Uint8Array, at: number, n: number, word: Uint8Array): boolean {
  if (n !== word.length) return false;
  for (let k = 0; k < n; k++) if (buf[at + k] !== word[k]) return false;
  return true;
}

/**
 * Cuts the message pushes out of one socket's bytes (see the module's description). One cutter per socket.
 *
 * @example
 * ```ts
 * import { Buffer } from "node:buffer";
 * import { PushCutter } from "./push_cutter.ts";
 * import assert from "node:assert/strict";
 * const got: string[] = [];
 * const cutter = new PushCutter({
 *   message: (channel, payload) => got.push(`${channel} ${payload}`),
 *   pmessage: () => {},
 *   smessage: () => {},
 * }, (bytes) => got.push(`handed on ${JSON.stringify(bytes.toString())}`));
 * cutter.feed(Buffer.from(":1\r\n>3\r\n$7\r\nmessage\r\n$4\r\nnews\r\n$2\r\nhi\r\n"));
 * assert.equal(got.join("|"), 'handed on ":1\\r\\n"|news hi');
 * ```
 */
export class PushCutter {
  /** How many messages were cut out and given to the sink. */
  taken = 0;
  readonly #scan = new RespScanner();
  /** The start and length of each bulk string of the last push {@linkcode #pushOfBulks} read. */
  readonly #spans: number[] = [0, 0, 0, 0, 0, 0, 0, 0];
  /** How many bulk strings that push has. */
  #count = 0;
  /** A reply the last piece began and did not finish (a copy: the socket may reuse its buffer). */
  #rest: Buffer | undefined;
  /** Something came that this cutter does not know: everything is handed on. */
  #passThrough = false;
  #halted = false;

  /**
   * Creates a PushCutter.
   *
   * @param sink where messages go
   * @param handOn where the other replies go, whole and in order (a view: valid until it returns)
   */
  constructor(private readonly sink: MessageSink, private readonly handOn: (bytes: Buffer) => void) {}

  /**
   * Bytes of a reply the socket began and has not finished — after its close, a reply the server cut short: it
   * closed the connection while it still had more to send. Undefined when not known (past something this cutter
   * does not know, every byte is handed on).
   */
  unfinished(): number | undefined {
    return this.#passThrough ? undefined : this.#rest?.length ?? 0;
  }

  /** Stops for good: nothing more is given to the sink or handed on, not even the rest of the piece being read. */
  halt(): void {
    this.#halted = true;
  }

  /**
   * Reads one piece the socket delivered.
   *
   * @param chunk the bytes
   */
  feed(chunk: Uint8Array): void {
    if (this.#halted) return;
    let buf = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (this.#passThrough) return this.handOn(buf);
    if (this.#rest) [buf, this.#rest] = [Buffer.concat([this.#rest, buf]), undefined];
    let handOn = 0; // the start of replies not yet handed on
    let i = 0;
    while (i < buf.length) {
      let end = buf[i] === 0x3e ? this.#pushOfBulks(buf, i) : UNKNOWN;
      if (end === INCOMPLETE) break;
      if (end >= 0) {
        const kind = this.#kind(buf);
        if (kind !== undefined) {
          if (i > handOn) this.handOn(buf.subarray(handOn, i)); // what came before goes first, in order
          this.#give(kind, buf);
          if (this.#halted) return;
          handOn = i = end;
          continue;
        }
      }
      if (end < 0) end = this.#scan.replyEnd(buf, i);
      if (end === INCOMPLETE) break;
      if (end === UNKNOWN) {
        this.#passThrough = true;
        return this.handOn(buf.subarray(handOn));
      }
      i = end;
    }
    if (i > handOn) this.handOn(buf.subarray(handOn, i));
    if (i < buf.length) this.#rest = Buffer.from(buf.subarray(i));
  }

  /**
   * Reads a push of 3 or 4 bulk strings at `i` (what every message is) into {@linkcode #spans}: the index after it,
   * INCOMPLETE, or UNKNOWN when it is some other reply.
   */
  #pushOfBulks(buf: Buffer, i: number): number {
    const scan = this.#scan;
    const count = scan.number(buf, i + 1);
    if (scan.end === INCOMPLETE) return INCOMPLETE;
    if (scan.end < 0 || (count !== 3 && count !== 4)) return UNKNOWN;
    const spans = this.#spans;
    let at = scan.end;
    for (let k = 0; k < count; k++) {
      if (at >= buf.length) return INCOMPLETE;
      if (buf[at] !== 0x24) return UNKNOWN;
      const n = scan.number(buf, at + 1);
      if (scan.end === INCOMPLETE) return INCOMPLETE;
      if (scan.end < 0 || n < 0) return UNKNOWN;
      spans[2 * k] = scan.end;
      spans[2 * k + 1] = n;
      at = scan.end + n + 2;
      if (at > buf.length) return INCOMPLETE;
      if (buf[at - 2] !== 0x0d) return UNKNOWN;
    }
    this.#count = count;
    return at;
  }

  /** Which message the push just read is: 0 message, 1 pmessage, 2 smessage, undefined for none. */
  #kind(buf: Buffer): 0 | 1 | 2 | undefined {
    const at = this.#spans[0]!, n = this.#spans[1]!;
    if (this.#count === 4) return isWord(buf, at, n, PMESSAGE) ? 1 : undefined;
    return isWord(buf, at, n, MESSAGE) ? 0 : isWord(buf, at, n, SMESSAGE) ? 2 : undefined;
  }

  #give(kind: 0 | 1 | 2, buf: Buffer): void {
    const spans = this.#spans;
    if (this.sink.payload) {
      this.taken++;
      const k = kind === 1 ? 3 : 2;
      return this.sink.payload(buf, spans[2 * k]!, spans[2 * k]! + spans[2 * k + 1]!);
    }
    const word = (k: number) => buf.subarray(spans[2 * k]!, spans[2 * k]! + spans[2 * k + 1]!);
    this.taken++;
    if (kind === 0) this.sink.message(word(1), word(2));
    else if (kind === 1) this.sink.pmessage(word(1), word(2), word(3));
    else this.sink.smessage(word(1), word(2));
  }
}
