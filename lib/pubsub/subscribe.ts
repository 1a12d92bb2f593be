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
  /** `channel` for SUBSCRIBE, `pattern` for PSUBSCRIBE, `shard` for SSUBSCRIBE (a sharded channel). */
  kind: "channel" | "pattern" | "shard";
  /** The channel name or glob pattern. */
  name: string;
}

/** The server's confirmation of one subscription. */
export interface Confirmation extends Subscription {
  /** How many subscriptions this connection has now (on a cluster: the connection to that node). */
  active: number;
  /** On a cluster, the node (`host:port`) that serves a sharded channel's slot. */
  node?: string;
}

/** A message received, direct or through a pattern. */
export interface PubSubMessage {
  /** The channel it was published on. */
  channel: string;
  /** The pattern it matched, for PSUBSCRIBE messages. */
  pattern?: string;
  /** True for a message on a sharded channel (SSUBSCRIBE). */
  sharded?: true;
  /** On a cluster, the node (`host:port`) a sharded message came from. */
  node?: string;
  /** The payload, byte for byte (on a recoverable channel, without the `#OFFSET/EPOCH ` prefix it travelled with). */
  payload: Uint8Array;
  /** On a recoverable channel followed with recovery: the message's offset in the channel's history. */
  offset?: number;
  /** True for a message read back from the history after an outage rather than received live. */
  recovered?: true;
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
    subscribeOne(redis, s).then((active) => onConfirm({ ...s, active: Number(active) }))
  );
  await Promise.all(replies);
}

/**
 * Sends the one command that subscribes to `s`: SUBSCRIBE, PSUBSCRIBE or SSUBSCRIBE.
 *
 * @param redis a connection (or a cluster client) used for pub/sub
 * @param s what to subscribe to
 * @returns the connection's count of active subscriptions
 */
export function subscribeOne(redis: Redis | Cluster, s: Subscription): Promise<number> {
  const sent = s.kind === "channel"
    ? redis.subscribe(s.name)
    : s.kind === "pattern"
    ? redis.psubscribe(s.name)
    : redis.ssubscribe(s.name);
  return sent.then(Number);
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
  // The name decoded once while messages keep coming on one channel (see channelNames).
  const name = channelNames();
  const direct = (channel: Buffer, payload: Buffer) => handler({ channel: name(channel), payload });
  const viaPattern = (pattern: string, channel: Buffer, payload: Buffer) =>
    handler({ pattern, channel: name(channel), payload });
  const sharded = (channel: Buffer, payload: Buffer) => handler({ channel: name(channel), payload, sharded: true });
  redis.on("messageBuffer", direct);
  redis.on("pmessageBuffer", viaPattern);
  redis.on("smessageBuffer", sharded);
  return () => {
    redis.off("messageBuffer", direct);
    redis.off("pmessageBuffer", viaPattern);
    redis.off("smessageBuffer", sharded);
  };
}

/**
 * Channel names from the bytes of each message, decoded once while they stay the same: messages mostly come on one
 * channel after another, and comparing a short name's bytes costs less than decoding them (in a profile of
 * `subscriber.ts --quiet` decoding the channel took about a tenth of its CPU time).
 *
 * @returns a function from a channel's bytes to its name
 * @example
 * ```ts
 * import { channelNames } from "./subscribe.ts";
 * import assert from "node:assert/strict";
 * const name = channelNames();
 * const bytes = new TextEncoder().encode("news");
 * assert.equal(name(bytes), "news");
 * assert.equal(name(bytes.slice()), "news");
 * assert.equal(name(new TextEncoder().encode("nexs")), "nexs");
 * ```
 */
export function channelNames(): (bytes: Uint8Array) => string {
  let last = new Uint8Array();
  let lastName = "";
  const decoder = new TextDecoder();
  return (bytes) => {
    const n = bytes.length;
    if (n === last.length && n <= 64) {
      let i = 0;
      while (i < n && bytes[i] === last[i]) i++;
      if (i === n) return lastName;
    }
    last = bytes.slice();
    lastName = decoder.decode(bytes);
    return lastName;
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
  await withTimeout(leaveAll(redis, subscriptions), 1000, () => new Error("UNSUBSCRIBE unanswered")).catch(() => {});
}

/**
 * Sends UNSUBSCRIBE, PUNSUBSCRIBE and SUNSUBSCRIBE (one per sharded channel:
 * on a cluster each may live on another node) for `subscriptions`.
 *
 * @param redis the subscribed connection (or cluster client)
 * @param subscriptions what to leave
 * @returns when every reply came
 */
export async function leaveAll(redis: Redis | Cluster, subscriptions: readonly Subscription[]): Promise<void> {
  const names = (kind: Subscription["kind"]) => subscriptions.filter((s) => s.kind === kind).map((s) => s.name);
  const channels = names("channel");
  const patterns = names("pattern");
  await Promise.all([
    channels.length ? redis.unsubscribe(...channels) : 0,
    patterns.length ? redis.punsubscribe(...patterns) : 0,
    ...names("shard").map((name) => redis.sunsubscribe(name)),
  ]);
}
