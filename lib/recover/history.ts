/**
 * A recoverable channel's keys and wire format: where its history and its
 * meta live (on the channel's own slot, so that a sharded channel keeps its
 * history beside it on a cluster), how long the history is kept, and the
 * small prefix that carries each message's offset and epoch to subscribers.
 *
 * @module
 */
import { slotOf } from "../cluster/topology.ts";
import { parseDuration } from "../core/cli.ts";
import { UsageError } from "../core/exit_codes.ts";

/** How much history a channel keeps: the last `size` messages, or those of the last `ageMs`. */
export type HistoryLimit = { kind: "size"; size: number } | { kind: "age"; ageMs: number };

/** The keys of a recoverable channel. */
export interface HistoryKeys {
  /** The stream of its last messages: entry id `OFFSET-0`, field `p` the payload (and `t`, ms, when kept by age). */
  stream: string;
  /** The hash of its epoch (`epoch`), last offset (`offset`), and the epoch before it (`prev_epoch`, `prev_offset`). */
  meta: string;
}

/**
 * The keys of `channel`'s history, on the channel's own hash slot: `history:{CHANNEL}` and `history-meta:{CHANNEL}`,
 * or, when the channel has a hash tag of its own, `history:CHANNEL` (the tag carries the slot).
 *
 * @param channel the channel
 * @returns its keys
 * @throws {UsageError} for a name no key can share a slot with (a `}` without a hash tag before it)
 * @example
 * ```ts
 * import { historyKeys } from "./history.ts";
 * import assert from "node:assert/strict";
 * assert.equal(historyKeys("news").stream, "history:{news}");
 * assert.equal(historyKeys("{user1}.inbox").meta, "history-meta:{user1}.inbox");
 * ```
 */
export function historyKeys(channel: string): HistoryKeys {
  const open = channel.indexOf("{");
  const close = open >= 0 ? channel.indexOf("}", open + 1) : -1;
  const tagged = open >= 0 && close > open + 1;
  const keys = tagged
    ? { stream: `history:${channel}`, meta: `history-meta:${channel}` }
    : { stream: `history:{${channel}}`, meta: `history-meta:{${channel}}` };
  if (slotOf(keys.stream) !== slotOf(channel)) {
    throw new UsageError(
      `Channel "${channel}" cannot keep a history on its own hash slot (a "}" with no hash tag before it): ` +
        `rename it, e.g. without "}".`,
    );
  }
  return keys;
}

/**
 * Reads `--history SIZE|AGE`: a count of messages (`1000`) or an age (`10m`, `90s`, `500ms`).
 *
 * @param text the flag's value
 * @returns the limit
 * @throws {UsageError} when it is neither
 * @example
 * ```ts
 * import { parseHistoryLimit } from "./history.ts";
 * import assert from "node:assert/strict";
 * assert.equal(parseHistoryLimit("1000").kind, "size");
 * assert.deepEqual(parseHistoryLimit("10m"), { kind: "age", ageMs: 600000 });
 * ```
 */
export function parseHistoryLimit(text: string): HistoryLimit {
  if (/^\d+$/.test(text)) {
    const size = Number(text);
    if (size >= 1 && size <= 1e9) return { kind: "size", size };
  } else {
    const ageMs = (() => {
      try {
        return parseDuration(text, "--history");
      } catch {
        return NaN;
      }
    })();
    if (Number.isFinite(ageMs) && ageMs >= 1) return { kind: "age", ageMs: Math.round(ageMs) };
  }
  throw new UsageError(
    `--history is "${text}": give how many messages to keep (e.g. 1000) or for how long (e.g. 10m, 90s)`,
  );
}

/** A message as it travels on a recoverable channel: its offset and epoch, then the payload. */
export interface Numbered {
  /** Its offset in the channel, from 1 in each epoch. */
  offset: number;
  /** The epoch of the channel's history. */
  epoch: string;
  /** The payload as published (without the prefix). */
  payload: Uint8Array;
}

const HASH = 0x23; // "#"
const SLASH = 0x2f; // "/"
const SPACE = 0x20;
const decoder = new TextDecoder();

/**
 * The prefix a recoverable channel's messages travel with: `#OFFSET/EPOCH ` before the payload, what a plain
 * subscriber sees of it.
 *
 * @param offset the message's offset
 * @param epoch the history's epoch
 * @returns the prefix
 * @example
 * ```ts
 * import { envelopePrefix } from "./history.ts";
 * import assert from "node:assert/strict";
 * assert.equal(envelopePrefix(42, "k3j9"), "#42/k3j9 ");
 * ```
 */
export function envelopePrefix(offset: number, epoch: string): string {
  return `#${offset}/${epoch} `;
}

/**
 * Reads the offset and epoch from a message of a recoverable channel.
 *
 * @param payload the payload as received
 * @returns the offset, epoch and payload; undefined for a message without the prefix (e.g. published by redis-cli)
 * @example
 * ```ts
 * import { openEnvelope } from "./history.ts";
 * import assert from "node:assert/strict";
 * const m = openEnvelope(new TextEncoder().encode("#42/k3j9 hello"))!;
 * assert.equal(m.offset, 42);
 * assert.equal(m.epoch, "k3j9");
 * assert.equal(new TextDecoder().decode(m.payload), "hello");
 * assert.equal(openEnvelope(new TextEncoder().encode("#hello")), undefined);
 * ```
 */
export function openEnvelope(payload: Uint8Array): Numbered | undefined {
  if (payload[0] !== HASH) return undefined;
  let i = 1;
  let offset = 0;
  while (i < payload.length && i < 18 && payload[i]! >= 0x30 && payload[i]! <= 0x39) {
    offset = offset * 10 + payload[i]! - 0x30;
    i++;
  }
  if (i === 1 || payload[i] !== SLASH || offset < 1) return undefined;
  const start = ++i;
  while (i < payload.length && i < start + 64 && payload[i] !== SPACE) i++;
  if (i === start || payload[i] !== SPACE) return undefined;
  return { offset, epoch: decoder.decode(payload.subarray(start, i)), payload: payload.subarray(i + 1) };
}
