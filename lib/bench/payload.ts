/**
 * The benchmark's message: publisher id, sequence number and send time in
 * microseconds (`performance.timeOrigin + performance.now()`), as text,
 * padded to the size asked for.
 *
 * @module
 */

/** What a subscriber reads back from a benchmark message. */
export interface Stamp {
  /** Which publisher sent it (0-based). */
  publisher: number;
  /** Its sequence number from that publisher (0-based, no gaps). */
  seq: number;
  /** When it was sent, in microseconds since the epoch, on this process's clock. */
  sentUs: number;
}

/**
 * Now, in microseconds since the epoch, from the monotonic high-resolution clock.
 *
 * @returns microseconds (with a fraction)
 * @example
 * ```ts
 * import { nowMicros } from "./payload.ts";
 * import assert from "node:assert/strict";
 * assert.ok(Math.abs(nowMicros() / 1000 - Date.now()) < 1000);
 * ```
 */
export function nowMicros(): number {
  return (performance.timeOrigin + performance.now()) * 1000;
}

/** The smallest payload that holds every stamp: `p,seq,µs;` with room for big numbers. */
export const MIN_PAYLOAD_BYTES = 32;

/**
 * A payload of at least `size` bytes: `publisher,seq,sentUs;` then `x` up to `size`.
 *
 * @param publisher the publisher id
 * @param seq its sequence number
 * @param size the size asked for, in bytes
 * @param sentUs the send time in µs (default: now)
 * @returns the payload
 * @example
 * ```ts
 * import { encodeStamp, decodeStamp } from "./payload.ts";
 * import assert from "node:assert/strict";
 * const text = encodeStamp(2, 41, 64, 1_700_000_000_000_000);
 * assert.equal(text.length, 64);
 * assert.equal(decodeStamp(text)?.seq, 41);
 * ```
 */
export function encodeStamp(publisher: number, seq: number, size: number, sentUs: number = nowMicros()): string {
  const head = `${publisher},${seq},${Math.round(sentUs)};`;
  return size > head.length ? head + "x".repeat(size - head.length) : head;
}

/**
 * Reads a stamp back; `undefined` for a message that is not one of ours.
 *
 * @param text the payload
 * @returns the stamp, or undefined
 * @example
 * ```ts
 * import { decodeStamp } from "./payload.ts";
 * import assert from "node:assert/strict";
 * assert.equal(decodeStamp("0,7,1700000000000000;xx")?.publisher, 0);
 * assert.equal(decodeStamp("hello"), undefined);
 * ```
 */
export function decodeStamp(text: string): Stamp | undefined {
  const end = text.indexOf(";");
  if (end < 0 || end > 40) return undefined;
  const [p, s, t] = text.slice(0, end).split(",");
  const publisher = Number(p), seq = Number(s), sentUs = Number(t);
  if (!Number.isInteger(publisher) || !Number.isInteger(seq) || !Number.isFinite(sentUs) || t === undefined) {
    return undefined;
  }
  return { publisher, seq, sentUs };
}

/** Where {@linkcode readInt} stopped: the index after the byte that ended the number. */
let readEnd = 0;

/** Reads a non-negative decimal integer of `buf` from `at` up to the byte `stop` (before `end`); -1 when not one. */
function readInt(buf: Uint8Array, at: number, end: number, stop: number): number {
  let n = 0, i = at;
  for (; i < end; i++) {
    const c = buf[i]!;
    if (c === stop) break;
    if (c < 0x30 || c > 0x39) return -1;
    n = n * 10 + (c - 0x30);
  }
  readEnd = i + 1;
  return i === at || i === end ? -1 : n;
}

/**
 * Reads a stamp back from the payload's bytes into `into`, without making a string or an object: what a subscriber
 * reading ahead of ioredis's decoder does for every message.
 *
 * @param buf the payload (or bytes holding it)
 * @param into where the stamp goes
 * @param start where the payload starts in `buf`
 * @param stop where it ends
 * @returns false for a message that is not one of ours (`into` then holds nothing useful)
 * @example
 * ```ts
 * import { encodeStamp, readStamp, type Stamp } from "./payload.ts";
 * import assert from "node:assert/strict";
 * const stamp: Stamp = { publisher: 0, seq: 0, sentUs: 0 };
 * const bytes = new TextEncoder().encode(encodeStamp(3, 1234, 40, 1_700_000_000_000_001));
 * assert.ok(readStamp(bytes, stamp));
 * assert.equal(stamp.seq, 1234);
 * assert.equal(stamp.sentUs, 1_700_000_000_000_001);
 * assert.ok(!readStamp(new TextEncoder().encode("hello"), stamp));
 * ```
 */
export function readStamp(buf: Uint8Array, into: Stamp, start = 0, stop: number = buf.length): boolean {
  const end = Math.min(stop, start + 41);
  const publisher = readInt(buf, start, end, 0x2c);
  if (publisher < 0) return false;
  const seq = readInt(buf, readEnd, end, 0x2c);
  if (seq < 0) return false;
  const sentUs = readInt(buf, readEnd, end, 0x3b);
  if (sentUs < 0) return false;
  into.publisher = publisher;
  into.seq = seq;
  into.sentUs = sentUs;
  return true;
}
