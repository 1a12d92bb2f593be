/**
 * Sharded pub/sub (SSUBSCRIBE / SPUBLISH, Redis ≥ 7 and Valkey): telling a
 * server that has none (KeyDB, Redis 6) from one that refuses a channel, and
 * the one line that says so and what to do instead.
 *
 * @module
 */
import { ReplyError } from "ioredis";
import { CliError, ExitCode } from "../core/exit_codes.ts";
import { type BatchSender, type Client, type Delivery, type Outgoing, wire } from "./publish.ts";

/**
 * Whether `err` is the server saying it does not know the command at all
 * (`ERR unknown command`), as KeyDB and Redis before 7 answer SSUBSCRIBE and
 * SPUBLISH — not an ACL refusal or any other error.
 *
 * @param err what a command failed with
 * @returns true when the command is unknown to the server
 * @example
 * ```ts
 * import { ReplyError } from "ioredis";
 * import { noShardedPubSub } from "./sharded.ts";
 * import assert from "node:assert/strict";
 * assert.ok(noShardedPubSub(new ReplyError("ERR unknown command 'SSUBSCRIBE', with args beginning with: 'a'")));
 * assert.ok(!noShardedPubSub(new ReplyError("NOPERM No permissions to access a channel")));
 * ```
 */
export function noShardedPubSub(err: unknown): boolean {
  return err instanceof ReplyError && /^ERR unknown command\b/i.test((err as Error).message);
}

/**
 * The error a script stops with when the server has no sharded pub/sub:
 * exit code 2 (usage: the flag asks for what this server cannot do), one
 * line saying what to use instead.
 *
 * @param address the server's address, password hidden
 * @param command `SSUBSCRIBE` or `SPUBLISH`
 * @returns the error to throw
 * @example
 * ```ts
 * import { shardedUnsupported } from "./sharded.ts";
 * import assert from "node:assert/strict";
 * assert.equal(shardedUnsupported("redis://localhost:6379", "SPUBLISH").exitCode, 2);
 * ```
 */
export function shardedUnsupported(address: string, command: "SSUBSCRIBE" | "SPUBLISH"): CliError {
  const flag = command === "SSUBSCRIBE" ? "-s/--shard" : "--sharded";
  return new CliError(
    ExitCode.Usage,
    `${address} has no sharded pub/sub (${command} is an unknown command there: KeyDB, or Redis before 7): ` +
      `drop ${flag} and use plain channels; to spread pub/sub over servers on KeyDB, use its active replicas ` +
      `(compose.yaml runs two) — Redis ≥ 7 and Valkey have ${command}.`,
  );
}

/**
 * SPUBLISHes messages in one pipeline (one round trip) per node: on a
 * cluster a pipeline may only touch the slots of one master, so the batch is
 * split by the master of each channel's slot (`nodeOf`) and put back in order.
 *
 * @param redis a connected client, or a cluster client
 * @param messages the messages, in order
 * @param nodeOf on a cluster, the master (`host:port`) serving a channel
 * @returns the receivers of each (and on a cluster the node that took it), in order
 * @throws the first error, if any publish failed
 * @example
 * ```ts ignore
 * const [d] = await spublishBatch(cluster, [{ channel: "orders", payload: "hi" }], (c) => conn.owners[slotOf(c)]!);
 * ```
 */
export async function spublishBatch(
  redis: Client,
  messages: readonly Outgoing[],
  nodeOf?: (channel: string) => string,
): Promise<Delivery[]> {
  const groups = new Map<string, number[]>();
  messages.forEach((m, i) => {
    const node = nodeOf?.(m.channel) ?? "";
    const group = groups.get(node);
    if (group) group.push(i);
    else groups.set(node, [i]);
  });
  const deliveries = new Array<Delivery>(messages.length);
  await Promise.all([...groups].map(async ([node, indices]) => {
    const pipeline = redis.pipeline();
    for (const i of indices) pipeline.spublish(messages[i]!.channel, wire(messages[i]!.payload));
    const results = await pipeline.exec() ?? [];
    results.forEach(([err, receivers], j) => {
      if (err) throw err;
      deliveries[indices[j]!] = { receivers: Number(receivers), ...(node !== "" ? { node } : {}) };
    });
  }));
  return deliveries;
}

/**
 * The {@linkcode BatchSender} that SPUBLISHes (see {@linkcode spublishBatch}).
 *
 * @param nodeOf on a cluster, the master serving a channel (batches are split per master)
 * @returns the sender
 */
export function spublishSender(nodeOf?: (channel: string) => string): BatchSender {
  return (redis, messages) => spublishBatch(redis, messages, nodeOf);
}
