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
 * console.assert(Math.abs(nowMicros() / 1000 - Date.now()) < 1000);
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
 * const text = encodeStamp(2, 41, 64, 1_700_000_000_000_000);
 * console.assert(text.length === 64);
 * console.assert(decodeStamp(text)?.seq === 41);
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
 * console.assert(decodeStamp("0,7,1700000000000000;xx")?.publisher === 0);
 * console.assert(decodeStamp("hello") === undefined);
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

/** Reads a non-negative decimal integer of `buf` from `at` up to `stop` (a byte); -1 when not one. */
function readInt(buf: Uint8Array, at: number, end: number, stop: number): [value: number, next: number] {
  let n = 0, i = at;
  for (; i < end; i++) {
    const c = buf[i]!;
    if (c === stop) break;
    if (c < 0x30 || c > 0x39) return [-1, i];
    n = n * 10 + (c - 0x30);
  }
  return i === at || i === end ? [-1, i] : [n, i + 1];
}

/**
 * Reads a stamp back from the payload's bytes, without making a string: what a subscriber reading ahead of
 * ioredis's decoder gets. `undefined` for a message that is not one of ours.
 *
 * @param buf the payload
 * @returns the stamp, or undefined
 * @example
 * ```ts
 * import { decodeStampBytes, encodeStamp } from "./payload.ts";
 * const bytes = new TextEncoder().encode(encodeStamp(3, 1234, 40, 1_700_000_000_000_001));
 * console.assert(decodeStampBytes(bytes)?.sentUs === 1_700_000_000_000_001);
 * console.assert(decodeStampBytes(new TextEncoder().encode("hello")) === undefined);
 * ```
 */
export function decodeStampBytes(buf: Uint8Array): Stamp | undefined {
  const end = Math.min(buf.length, 41);
  const [publisher, a] = readInt(buf, 0, end, 0x2c);
  if (publisher < 0) return undefined;
  const [seq, b] = readInt(buf, a, end, 0x2c);
  if (seq < 0) return undefined;
  const [sentUs] = readInt(buf, b, end, 0x3b);
  return sentUs < 0 ? undefined : { publisher, seq, sentUs };
}

/** Payloads a {@linkcode StampWriter} cuts from one piece of memory. */
const STAMPS_PER_CHUNK = 1024;
const X = 0x78;

/**
 * Writes stamps as bytes, the same as {@linkcode encodeStamp}'s text, without making a string: each payload a view
 * of a piece of memory filled with the padding beforehand, the send time's digits written once for all the
 * messages stamped with it (a batch). What a publisher worker sends through its lane.
 *
 * @example
 * ```ts
 * import { encodeStamp, StampWriter } from "./payload.ts";
 * const w = new StampWriter(2, 40);
 * const bytes = w.stamp(1234, 1_700_000_000_000_123);
 * console.assert(new TextDecoder().decode(bytes) === encodeStamp(2, 1234, 40, 1_700_000_000_000_123));
 * ```
 */
export class StampWriter {
  readonly #head: Uint8Array;
  #chunk = new Uint8Array(0);
  #at = 0;
  #timeUs = -1;
  #time = new Uint8Array(0);

  /**
   * Creates a StampWriter.
   *
   * @param publisher the publisher id
   * @param size payload bytes (at least {@linkcode MIN_PAYLOAD_BYTES})
   */
  constructor(publisher: number, private readonly size: number) {
    this.#head = new TextEncoder().encode(`${publisher},`);
  }

  /**
   * One payload.
   *
   * @param seq its sequence number
   * @param sentUs the send time in µs
   * @returns its bytes (a view: never written again)
   */
  stamp(seq: number, sentUs: number): Uint8Array {
    const size = this.size;
    if (this.#at + size > this.#chunk.length) {
      this.#chunk = new Uint8Array(size * STAMPS_PER_CHUNK).fill(X);
      this.#at = 0;
    }
    const us = Math.round(sentUs);
    if (us !== this.#timeUs) [this.#timeUs, this.#time] = [us, new TextEncoder().encode(`,${us};`)];
    const buf = this.#chunk, start = this.#at;
    buf.set(this.#head, start);
    let at = start + this.#head.length;
    const digits = seq < 10 ? 1 : Math.floor(Math.log10(seq)) + 1;
    for (let i = at + digits - 1, n = seq; i >= at; i--, n = Math.floor(n / 10)) buf[i] = 0x30 + (n % 10);
    at += digits;
    buf.set(this.#time, at);
    this.#at = start + size;
    return buf.subarray(start, start + size);
  }
}
