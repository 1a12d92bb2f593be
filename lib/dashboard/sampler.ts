/**
 * What the dashboard's `*` subscriber heard: messages counted per channel for
 * rates, and a bounded sample of the last ones (and of keyspace events and
 * of the processors' statistics) to show. Counting is all the subscriber's
 * handler does; payloads are decoded only for the few rows sent to the page.
 *
 * @module
 */
import { parseNotification } from "../keyspace/channels.ts";
import { escapeControl, showPayload } from "../core/output.ts";

/** One message as the page shows it. */
export interface MessageRow {
  /** When it arrived (ms since the epoch). */
  at: number;
  /** The channel it was published on, control characters escaped, cut to {@linkcode PREVIEW_CHARS}. */
  channel: string;
  /** The payload, binary-safe text, cut to {@linkcode PREVIEW_CHARS}. */
  payload: string;
  /** Its size in bytes. */
  bytes: number;
}

/** One keyspace event as the page shows it. */
export interface KeyEventRow {
  /** When it arrived (ms since the epoch). */
  at: number;
  /** The event, e.g. `set`, `del`, `expired`. */
  event: string;
  /** The key, control characters escaped, cut to {@linkcode PREVIEW_CHARS}. */
  key: string;
}

/** What one {@linkcode MessageSampler.take} returns. */
export interface Sample {
  /** Messages per channel since the last take (keyspace channels excluded). */
  counts: Map<string, number>;
  /** All messages since the last take. */
  total: number;
  /** The last messages since the last take (but the statistics channel's), oldest first, at most `rows`. */
  messages: MessageRow[];
  /** The last keyspace events since the last take, oldest first, at most `rows`. */
  keyEvents: KeyEventRow[];
  /** Keyspace events since the last take. */
  keyEventTotal: number;
  /** The last messages on the statistics channel since the last take, raw, oldest first, at most {@linkcode STATS_PER_TAKE}. */
  stats: { at: number; payload: Uint8Array }[];
  /** Messages on the statistics channel since the last take (in `total` too). */
  statsTotal: number;
}

/** Messages on the statistics channel kept between takes (one per processor and tick is the usual). */
export const STATS_PER_TAKE = 64;

/** Characters of a payload, channel name or key the page shows. */
export const PREVIEW_CHARS = 200;

/**
 * Text as the page shows it: cut at {@linkcode PREVIEW_CHARS}, with `…` when cut.
 *
 * @param text the text (escaped already)
 * @returns the text, or its first characters and `…`
 * @example
 * ```ts
 * import { preview, PREVIEW_CHARS } from "./sampler.ts";
 * import assert from "node:assert/strict";
 * assert.equal(preview("news"), "news");
 * assert.equal(preview("x".repeat(500)).length, PREVIEW_CHARS + 1);
 * ```
 */
export function preview(text: string): string {
  return text.length > PREVIEW_CHARS ? text.slice(0, PREVIEW_CHARS) + "…" : text;
}

const decoder = new TextDecoder();

/**
 * Whether a channel is a keyspace or keyevent one (`__key…`), told apart from its bytes without decoding it.
 *
 * @param channel the channel's bytes
 * @returns true for `__keyspace@…` and `__keyevent@…`
 * @example
 * ```ts
 * import { isKeyspaceChannel } from "./sampler.ts";
 * import assert from "node:assert/strict";
 * assert.ok(isKeyspaceChannel(new TextEncoder().encode("__keyspace@0__:k")));
 * ```
 */
export function isKeyspaceChannel(channel: Uint8Array): boolean {
  return channel[0] === 0x5f && channel[1] === 0x5f && channel[2] === 0x6b && channel[3] === 0x65;
}

/**
 * Counts every message and keeps the last `rows` of them raw, until
 * {@linkcode take} turns them into rows and starts over.
 *
 * @example
 * ```ts
 * import { MessageSampler } from "./sampler.ts";
 * import assert from "node:assert/strict";
 * const s = new MessageSampler(2);
 * const enc = new TextEncoder();
 * for (const p of ["a", "b", "<c>"]) s.add(enc.encode("news"), enc.encode(p));
 * const sample = s.take();
 * assert.equal(sample.total, 3);
 * assert.equal(sample.messages.length, 2);
 * assert.equal(sample.messages[1]!.payload, "<c>");
 * ```
 */
export class MessageSampler {
  #counts = new Map<string, number>();
  #total = 0;
  #ring: { at: number; channel: Uint8Array; payload: Uint8Array }[] = [];
  #next = 0;
  #keyRing: { at: number; channel: string; payload: Uint8Array }[] = [];
  #keyNext = 0;
  #keyTotal = 0;
  #spaceRing: { at: number; channel: string; payload: Uint8Array }[] = [];
  #spaceNext = 0;
  #spaceTotal = 0;
  readonly #statsChannel: Uint8Array | undefined;
  #stats: { at: number; payload: Uint8Array }[] = [];
  #statsNext = 0;
  #statsTotal = 0;

  /**
   * Creates a MessageSampler.
   *
   * @param rows how many of the last messages (and key events) to keep between takes
   * @param statsChannel the channel of the processors' statistics: its messages are counted as any other, and kept
   *   raw for the processors panel instead of as message rows
   */
  constructor(readonly rows: number, statsChannel?: string) {
    this.#statsChannel = statsChannel === undefined ? undefined : new TextEncoder().encode(statsChannel);
  }

  /**
   * Counts one message (the subscriber's `pmessageBuffer` handler).
   *
   * @param channel the channel's bytes
   * @param payload the payload's bytes
   */
  add(channel: Uint8Array, payload: Uint8Array): void {
    const at = Date.now();
    if (isKeyspaceChannel(channel)) {
      const name = decoder.decode(channel);
      // With both K and E on, each event comes twice: keyevent channels are shown, keyspace ones only without them.
      if (name.startsWith("__keyevent@")) {
        this.#keyTotal++;
        this.#keyRing[this.#keyNext] = { at, channel: name, payload };
        this.#keyNext = (this.#keyNext + 1) % this.rows;
        return;
      }
      if (name.startsWith("__keyspace@")) {
        this.#spaceTotal++;
        this.#spaceRing[this.#spaceNext] = { at, channel: name, payload };
        this.#spaceNext = (this.#spaceNext + 1) % this.rows;
        return;
      }
    }
    this.#total++;
    const name = decoder.decode(channel);
    this.#counts.set(name, (this.#counts.get(name) ?? 0) + 1);
    if (this.#statsChannel && sameBytes(channel, this.#statsChannel)) {
      this.#statsTotal++;
      this.#stats[this.#statsNext] = { at, payload };
      this.#statsNext = (this.#statsNext + 1) % STATS_PER_TAKE;
      return;
    }
    this.#ring[this.#next] = { at, channel, payload };
    this.#next = (this.#next + 1) % this.rows;
  }

  /**
   * What was heard since the last take; starts over.
   *
   * @returns counts and the last rows
   */
  take(): Sample {
    const ordered = <T>(ring: T[], next: number, size = this.rows) =>
      ring.length < size ? ring : [...ring.slice(next), ...ring.slice(0, next)];
    const messages = ordered(this.#ring, this.#next).map((m) => ({
      at: m.at,
      channel: preview(showPayload(m.channel).text),
      payload: preview(showPayload(m.payload).text),
      bytes: m.payload.length,
    }));
    const byEvent = this.#keyTotal > 0;
    const keyRing = byEvent ? ordered(this.#keyRing, this.#keyNext) : ordered(this.#spaceRing, this.#spaceNext);
    const keyEvents = keyRing.flatMap((k) => {
      const n = parseNotification(k.channel, k.payload);
      return n ? [{ at: k.at, event: n.event, key: preview(escapeControl(n.key)) }] : [];
    });
    const sample = {
      counts: this.#counts,
      total: this.#total,
      messages,
      keyEvents,
      keyEventTotal: byEvent ? this.#keyTotal : this.#spaceTotal,
      stats: ordered(this.#stats, this.#statsNext, STATS_PER_TAKE),
      statsTotal: this.#statsTotal,
    };
    this.#counts = new Map();
    this.#total = 0;
    this.#ring = [];
    this.#next = 0;
    this.#keyRing = [];
    this.#keyNext = 0;
    this.#keyTotal = 0;
    this.#spaceRing = [];
    this.#spaceNext = 0;
    this.#spaceTotal = 0;
    this.#stats = [];
    this.#statsNext = 0;
    this.#statsTotal = 0;
    return sample;
  }
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
