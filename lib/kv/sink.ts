/**
 * Where a {@linkcode KvWriter}'s batches go: the interface of a sink, and
 * what a sink's replies look like. One server's sink is in server_sink.ts,
 * a cluster's in cluster_sink.ts; `sinkFor(link)` (writer.ts) picks the one
 * that fits.
 *
 * @module
 */
import type { Logger } from "../core/log.ts";
import type { KvUpdate } from "./message.ts";

/** One reply of a pipeline: the error, or the value. */
export type Reply = [Error | null, unknown];

/** How a batch is written. */
export interface BatchOptions {
  /** Read each write back in the same round trip. */
  validate: boolean;
  /** Let each key expire at its update's `valid` time. */
  expireAtValid: boolean;
  /** Where a sink says what it changed in how it writes (debug). */
  log: Logger;
}

/** A batch's replies, one per entry, in the batch's order. */
export interface BatchReplies {
  /** Each entry's write: an error, or stored. */
  set: (Reply | undefined)[];
  /** Each entry's read-back (with `validate`). */
  read: (Reply | undefined)[];
}

/** Where a {@linkcode KvWriter}'s batches go. */
export interface KvSink {
  /**
   * Writes one batch of distinct keys, in as few round trips as it can.
   *
   * @param batch the keys and their updates
   * @param options how
   * @returns one reply per entry (an error for each entry when the batch could not be sent)
   */
  write(batch: readonly [string, KvUpdate][], options: BatchOptions): Promise<BatchReplies>;
  /** Whether a write that failed with `err` is tried again (the server busy, restarting or away; a redirection). */
  transient(err: Error): boolean;
  /** Called once the writer has settled a batch: what the sink keeps about stored entries, it keeps here. */
  settled?(batch: readonly [string, KvUpdate][], replies: BatchReplies): void;
  /**
   * The entries `node` acknowledged that no replica confirmed, forgotten now that the node is lost (a cluster's
   * failover): to be written again.
   */
  unconfirmedOn?(node: string): [string, KvUpdate][];
  /** How many stored entries no replica has confirmed yet. */
  readonly unconfirmed?: number;
  /** Closes what the sink opened of its own (one server's lane), waiting at most a second. */
  close?(): Promise<void>;
}

/** Errors after which the same write is tried again: the server is busy or restarting. */
export const TRANSIENT = /^(LOADING|BUSY|TRYAGAIN|MASTERDOWN|CLUSTERDOWN)\b|Connection is closed|ECONNRESET|EPIPE/;

/**
 * Replies for a batch that could not be sent: the same error for every entry.
 *
 * @param size the batch's entries
 * @param err why
 * @returns the replies
 * @example
 * ```ts
 * import { failedBatch } from "./sink.ts";
 * import assert from "node:assert/strict";
 * assert.equal(failedBatch(2, new Error("down")).set.length, 2);
 * ```
 */
export function failedBatch(size: number, err: Error): BatchReplies {
  const each = (): Reply => [err, null];
  return { set: Array.from({ length: size }, each), read: Array.from({ length: size }, each) };
}
