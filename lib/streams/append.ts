/**
 * Appending to streams (`XADD`) with retention — by count (`MAXLEN ~`) or by
 * age (`MINID ~`) — one message per entry in its `payload` field: the
 * batch senders behind `publisher.ts --stream` and the durable demo.
 *
 * @module
 */
import type { Link } from "../endpoint/link.ts";
import { type BatchSender, wire } from "../pubsub/publish.ts";
import { PAYLOAD_FIELD } from "./entry.ts";

/** How much of a stream to keep: about `maxLen` entries, or entries younger than `maxAgeMs`. */
export type Retention = { maxLen: number } | { maxAgeMs: number };

/**
 * The `XADD` arguments after the key for a retention: `MAXLEN ~ N` or
 * `MINID ~ <now - age>`; none without one.
 *
 * @param retention what to keep
 * @param now the current time in ms
 * @returns the arguments
 * @example
 * ```ts
 * import { retentionArgs } from "./append.ts";
 * import assert from "node:assert/strict";
 * assert.equal(retentionArgs({ maxLen: 1000 }).join(" "), "MAXLEN ~ 1000");
 * assert.equal(retentionArgs({ maxAgeMs: 500 }, 2000).join(" "), "MINID ~ 1500");
 * ```
 */
export function retentionArgs(retention: Retention | undefined, now: number = Date.now()): string[] {
  if (!retention) return [];
  if ("maxLen" in retention) return ["MAXLEN", "~", String(retention.maxLen)];
  return ["MINID", "~", String(Math.max(0, now - retention.maxAgeMs))];
}

/**
 * A {@linkcode BatchSender} that appends each message to the stream named by
 * its channel (`XADD <channel> [retention] * payload <message>`) in one
 * pipeline: what `publisher.ts --stream` sends.
 *
 * @param retention how much of each stream to keep (default: everything)
 * @returns the sender; each delivery carries the entry id
 * @example
 * ```ts ignore
 * const [delivery] = await appendSender({ maxLen: 1000 })(redis, [{ channel: "update", payload: "{}" }]);
 * console.log(delivery.entryId);
 * ```
 */
export function appendSender(retention?: Retention): BatchSender {
  return async (redis, messages) => {
    const pipeline = redis.pipeline();
    for (const m of messages) {
      pipeline.xadd(m.channel, ...retentionArgs(retention), "*", PAYLOAD_FIELD, wire(m.payload));
    }
    const replies = (await pipeline.exec()) ?? [];
    return replies.map(([err, id]) => {
      if (err) throw err;
      return { receivers: 0, entryId: String(id) };
    });
  };
}

/**
 * The {@linkcode BatchSender} that XADDs over a link (lib/endpoint): a batch
 * its link may send together (one server; one slot of a cluster) goes in one
 * pipeline, any other one append at a time, each routed by its stream's slot
 * (and sent together per node when the link pipelines automatically); an
 * append that meets a failover is tried again until a replica took over (it
 * may then be stored twice: the processor handles both, the demo counts one).
 *
 * @param link what decides which appends go together, and rides out a failover
 * @param retention how to trim each stream as it grows
 * @returns the sender
 * @example
 * ```ts ignore
 * const [delivery] = await linkAppendSender(link)(link.redis, [{ channel: "orders", payload: "{}" }]);
 * ```
 */
export function linkAppendSender(
  link: Pick<Link, "combinable" | "throughFailover">,
  retention?: Retention,
): BatchSender {
  const pipelined = appendSender(retention);
  return (redis, messages) => {
    if (link.combinable(messages.map((m) => m.channel))) return link.throughFailover(() => pipelined(redis, messages));
    return Promise.all(messages.map(async (m) => ({
      receivers: 0,
      entryId: String(
        await link.throughFailover(() =>
          redis.xadd(m.channel, ...retentionArgs(retention), "*", PAYLOAD_FIELD, wire(m.payload))
        ),
      ),
    })));
  };
}
