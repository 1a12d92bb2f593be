/**
 * Riding out a failover: a command that failed because its slot's master
 * is gone (the connection closed, `CLUSTERDOWN`, too many redirections while
 * the cluster votes) is tried again until a replica has taken over; and
 * telling such an outage from a command the cluster refused.
 *
 * @module
 */
import { ReplyError } from "ioredis";
import { delay } from "../core/timing.ts";

/** What ioredis's Cluster says while a slot has no reachable master. */
const FAILING_OVER =
  /Connection is closed|CLUSTERDOWN|ECONNREFUSED|ECONNRESET|Too many Cluster redirections|writeable|MaxRetriesPerRequest|TRYAGAIN/;

/**
 * Whether an error means the slot's master is gone for now (worth trying again).
 *
 * @param err what the command rejected with
 * @returns true while a failover may be under way
 * @example
 * ```ts
 * import { failingOver } from "./failover_retry.ts";
 * import assert from "node:assert/strict";
 * assert.ok(failingOver(new Error("CLUSTERDOWN The cluster is down")));
 * assert.ok(!failingOver(new Error("WRONGTYPE Operation against a key holding the wrong kind of value")));
 * ```
 */
export function failingOver(err: unknown): boolean {
  return FAILING_OVER.test(err instanceof Error ? err.message : String(err));
}

/**
 * Whether a command failed on a cluster for want of a node serving its slot
 * (CLUSTERDOWN, TRYAGAIN, a node's connection gone): an outage that a
 * failover ends, not a refusal.
 *
 * @param err what a command failed with
 * @returns true for an outage
 * @example
 * ```ts
 * import { ReplyError } from "ioredis";
 * import { clusterOutage } from "./failover_retry.ts";
 * import assert from "node:assert/strict";
 * assert.ok(clusterOutage(new ReplyError("CLUSTERDOWN The cluster is down")));
 * assert.ok(!clusterOutage(new ReplyError("NOPERM no permissions")));
 * ```
 */
export function clusterOutage(err: unknown): boolean {
  return !(err instanceof ReplyError) || /^(CLUSTERDOWN|TRYAGAIN|MASTERDOWN)\b/.test((err as Error).message);
}

/**
 * Runs `command`, and again every 200 ms while it fails because a failover is under way, for at most `maxMs`.
 * A write retried this way may have been applied before its connection closed: it can then be stored twice.
 *
 * @param command the command to send
 * @param maxMs how long to keep trying (default 30 s)
 * @returns the command's reply
 * @throws {Error} the last error, when it is not a failover's or `maxMs` passed
 */
export async function duringFailover<T>(command: () => Promise<T>, maxMs = 30_000): Promise<T> {
  const until = Date.now() + maxMs;
  for (;;) {
    try {
      return await command();
    } catch (err) {
      if (!failingOver(err) || Date.now() > until) throw err;
      await delay(200);
    }
  }
}
