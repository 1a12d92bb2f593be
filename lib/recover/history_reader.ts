/**
 * Reading a recoverable channel's history: its meta (epoch, last offset,
 * the epoch before), and the messages of an offset range, in bounded batches.
 *
 * @module
 */
import type { Buffer } from "node:buffer";
import type { Commands } from "../endpoint/link.ts";
import { historyKeys } from "./history.ts";

/** A channel's meta: where its history stands. */
export interface HistoryMeta {
  /** The epoch of the history. */
  epoch: string;
  /** The last offset given out. */
  offset: number;
  /** `size` or `age`: how the history is capped. */
  limit: string;
  /** The offset the history stream was last started at: what is missing below it was deleted, not trimmed. */
  since: number;
  /** The epoch before this one, as the publisher that started this one last saw it (if it saw one). */
  prevEpoch?: string;
  /** The last offset of {@linkcode prevEpoch} that publisher saw. */
  prevOffset?: number;
}

/** One message read back from the history. */
export interface HistoryEntry {
  /** Its offset. */
  offset: number;
  /** Its payload. */
  payload: Uint8Array;
}

/** Messages read per XRANGE. */
export const READ_BATCH = 1000;

/**
 * Reads a channel's meta.
 *
 * @param redis the link's commands
 * @param channel the channel
 * @returns the meta, or undefined when there is none (nothing published with history yet, or it was lost)
 */
export async function readMeta(redis: Commands, channel: string): Promise<HistoryMeta | undefined> {
  const [epoch, offset, limit, since, prevEpoch, prevOffset] = await redis.hmget(
    historyKeys(channel).meta,
    "epoch",
    "offset",
    "limit",
    "since",
    "prev_epoch",
    "prev_offset",
  );
  if (epoch === null || epoch === undefined) return undefined;
  return {
    epoch,
    offset: Number(offset ?? 0),
    limit: limit ?? "size",
    since: Number(since ?? 1),
    ...(prevEpoch ? { prevEpoch, prevOffset: Number(prevOffset ?? 0) } : {}),
  };
}

/**
 * Reads the messages of offsets `from`..`to` that the history still has, at most `count` of them.
 *
 * @param redis the link's commands
 * @param channel the channel
 * @param from the first offset wanted
 * @param to the last offset wanted
 * @param count at most this many
 * @returns the entries, in offset order (the first may be past `from`: older ones were trimmed)
 */
export async function readRange(
  redis: Commands,
  channel: string,
  from: number,
  to: number,
  count = READ_BATCH,
): Promise<HistoryEntry[]> {
  const rows = await redis.xrangeBuffer(historyKeys(channel).stream, `${from}-0`, `${to}-0`, "COUNT", count);
  return rows.map(([id, fields]) => ({ offset: Number(String(id).split("-")[0]), payload: payloadOf(fields) }));
}

/**
 * Whether the channel's history stream exists.
 *
 * @param redis the link's commands
 * @param channel the channel
 */
export async function historyExists(redis: Commands, channel: string): Promise<boolean> {
  return (await redis.exists(historyKeys(channel).stream)) === 1;
}

function payloadOf(fields: Buffer[]): Uint8Array {
  for (let i = 0; i + 1 < fields.length; i += 2) {
    if (fields[i]!.length === 1 && fields[i]![0] === 0x70) return fields[i + 1]!; // "p"
  }
  return new Uint8Array();
}
