/**
 * Subscribing with ioredis: one confirmation per channel or pattern, and
 * messages normalised to one binary-safe shape.
 *
 * @module
 */
import type { Buffer } from "node:buffer";
import type { Cluster, Redis } from "ioredis";
import { withTimeout } from "../core/timing.ts";

/** A channel or a pattern to subscribe to. */
export interface Subscription {
  /** `channel` for SUBSCRIBE, `pattern` for PSUBSCRIBE. */
  kind: "channel" | "pattern";
  /** The channel name or glob pattern. */
  name: string;
}

/** The server's confirmation of one subscription. */
export interface Confirmation extends Subscription {
  /** How many subscriptions this connection has now. */
  active: number;
}

/** A message received, direct or through a pattern. */
export interface PubSubMessage {
  /** The channel it was published on. */
  channel: string;
  /** The pattern it matched, for PSUBSCRIBE messages. */
  pattern?: string;
  /** The payload, byte for byte. */
  payload: Uint8Array;
}

/**
 * Subscribes to each channel and pattern, reporting every confirmation
 * with the connection's count of active subscriptions.
 *
 * @param redis a connection that will be used for pub/sub only
 * @param subscriptions what to subscribe to
 * @param onConfirm called for each confirmation, in order
 * @example
 * ```ts ignore
 * await subscribeAll(redis, [{ kind: "channel", name: "news" }], (c) => console.log(c.active));
 * ```
 */
export async function subscribeAll(
  redis: Redis,
  subscriptions: readonly Subscription[],
  onConfirm: (confirmation: Confirmation) => void,
): Promise<void> {
  const replies = subscriptions.map((s) =>
    (s.kind === "channel" ? redis.subscribe(s.name) : redis.psubscribe(s.name)).then((active) =>
      onConfirm({ ...s, active: Number(active) })
    )
  );
  await Promise.all(replies);
}

/**
 * Delivers every message (direct and pattern) to one handler, binary-safe.
 *
 * @param redis the subscribed connection (or a cluster client, which subscribes on a connection of its own)
 * @param handler called for each message
 * @returns a function that removes the listeners
 * @example
 * ```ts ignore
 * const stop = onMessage(redis, (m) => console.log(m.channel, m.payload.length));
 * stop();
 * ```
 */
export function onMessage(redis: Redis | Cluster, handler: (message: PubSubMessage) => void): () => void {
  // buffer.toString() rather than String(buffer): this runs once per message, and under a flood String()'s
  // generic conversion was a measurable share of the subscriber's CPU.
  const direct = (channel: Buffer, payload: Buffer) => handler({ channel: channel.toString(), payload });
  const viaPattern = (pattern: string, channel: Buffer, payload: Buffer) =>
    handler({ pattern, channel: channel.toString(), payload });
  redis.on("messageBuffer", direct);
  redis.on("pmessageBuffer", viaPattern);
  return () => {
    redis.off("messageBuffer", direct);
    redis.off("pmessageBuffer", viaPattern);
  };
}

/**
 * Leaves the given channels and patterns, waiting at most a second (a
 * connection that is gone has nothing to leave). Names are passed
 * explicitly: ioredis 5 never resolves a bare `unsubscribe()`.
 *
 * @param redis the subscribed connection
 * @param subscriptions what to leave
 * @example
 * ```ts ignore
 * await unsubscribeAll(redis, [{ kind: "channel", name: "news" }]);
 * ```
 */
export async function unsubscribeAll(redis: Redis, subscriptions: readonly Subscription[]): Promise<void> {
  if (redis.status !== "ready") return;
  const channels = subscriptions.filter((s) => s.kind === "channel").map((s) => s.name);
  const patterns = subscriptions.filter((s) => s.kind === "pattern").map((s) => s.name);
  const leaving = Promise.all([
    channels.length ? redis.unsubscribe(...channels) : 0,
    patterns.length ? redis.punsubscribe(...patterns) : 0,
  ]);
  await withTimeout(leaving, 1000, () => new Error("UNSUBSCRIBE unanswered")).catch(() => {});
}
