/**
 * The command side of a stream consumer — XACK, XAUTOCLAIM, XPENDING, dead
 * letters — as a link (lib/endpoint) gives it, or made of one ioredis
 * connection.
 *
 * @module
 */
import type { Redis } from "ioredis";
import type { Commands, Link } from "../endpoint/link.ts";

/** What a consumer sends its commands through: a link, or one server's connection ({@linkcode serverCommands}). */
export type StreamCommands = Pick<Link, "redis" | "ready" | "combinable" | "throughFailover">;

/**
 * The {@linkcode StreamCommands} of one server's connection: every key combinable, each command sent once.
 *
 * @param redis a connection for commands (not the one that blocks)
 * @returns its command side
 * @example
 * ```ts
 * import { Redis } from "ioredis";
 * import { serverCommands } from "./stream_commands.ts";
 * import assert from "node:assert/strict";
 * const redis = new Redis({ lazyConnect: true });
 * const commands = serverCommands(redis);
 * assert.ok(!commands.ready);
 * assert.ok(commands.combinable(["a", "b"]));
 * redis.disconnect();
 * ```
 */
export function serverCommands(redis: Redis): StreamCommands {
  return {
    redis: redis as Commands,
    get ready() {
      return redis.status === "ready";
    },
    combinable: () => true,
    throughFailover: (command) => command(),
  };
}
