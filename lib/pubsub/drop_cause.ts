/**
 * Why a subscriber's connection was lost: the server dropped it for falling
 * behind (its pub/sub output buffer went over the limit), the server
 * restarted, or something else — told from what the server says before and
 * after (`INFO`: `run_id`, `client_output_buffer_limit_disconnections` on
 * Valkey and Redis 7.2+) and, where it says nothing, from the backlog last
 * seen, the script's own stalls, and how the connection ended: in the middle
 * of a message, the server still holding more for the script.
 *
 * @module
 */
import type { Redis } from "ioredis";
import { formatBytes } from "../core/byte_size.ts";
import { formatNumber } from "../core/stats.ts";
import { parseInfo } from "../core/server_identity.ts";
import type { BacklogSample, Stall } from "./backlog_watch.ts";
import { DEFAULT_OUTPUT_LIMIT, dropThreshold, type OutputLimit, parseOutputLimit } from "./output_limit.ts";

/** What the server says about a subscribed connection and itself, read before subscribing. */
export interface SubscriberFacts {
  /** The connection's id (`CLIENT ID`), when allowed. */
  clientId?: number;
  /** The server process (`run_id`): it changes when the server restarts. */
  runId?: string;
  /** `client_output_buffer_limit_disconnections`, where the server counts them. */
  drops?: number;
  /** The output-buffer limit for pub/sub clients (the default when CONFIG GET is refused). */
  limit: OutputLimit;
}

/**
 * Reads {@linkcode SubscriberFacts} on a connection that is not subscribed
 * yet; whatever the server refuses (ACL, renamed commands) is left out.
 *
 * @param redis the connection, before SUBSCRIBE
 * @returns the facts
 * @example
 * ```ts
 * import { Redis } from "ioredis";
 * import { LocalServer } from "../core/local_server.ts";
 * import { readSubscriberFacts } from "./drop_cause.ts";
 * import assert from "node:assert/strict";
 *
 * // A throw-away server for the example, unless REDIS_URL names one to use:
 * await using local = Deno.env.get("REDIS_URL") ? undefined : await LocalServer.start();
 * const url = local?.url ?? Deno.env.get("REDIS_URL")!;
 * const redis = new Redis(url);
 * const facts = await readSubscriberFacts(redis);
 * assert.ok(facts.clientId! > 0);
 * assert.notEqual(facts.runId, undefined);
 * assert.ok(facts.limit.known);
 * await redis.quit();
 * ```
 */
export async function readSubscriberFacts(redis: Redis): Promise<SubscriberFacts> {
  const [id, info, config] = await Promise.allSettled([
    redis.client("ID"),
    redis.info(),
    redis.config("GET", "client-output-buffer-limit"),
  ]);
  const fields = info.status === "fulfilled" ? parseInfo(String(info.value)) : new Map<string, string>();
  const value = config.status === "fulfilled" ? (config.value as unknown[]).map(String).at(-1) : undefined;
  const drops = fields.get("client_output_buffer_limit_disconnections");
  const runId = fields.get("run_id");
  return {
    ...(id.status === "fulfilled" ? { clientId: Number(id.value) } : {}),
    ...(runId ? { runId } : {}),
    ...(drops !== undefined ? { drops: Number(drops) } : {}),
    limit: (value !== undefined ? parseOutputLimit(value) : undefined) ?? DEFAULT_OUTPUT_LIMIT,
  };
}

/** Messages waiting to be handled at a close from which it counts as a consumer that fell behind. */
export const WAITING_BEHIND = 10_000;

/** What the script saw when the connection closed. */
export interface CloseEvidence {
  /** When the close was noticed, epoch ms. */
  at: number;
  /** The backlog on the server when last read. */
  sample?: BacklogSample;
  /** When a probe found the server no longer had the connection. */
  goneAt?: number;
  /** A stall of the script's event loop going on or just over. */
  stall?: Stall;
  /** Messages received and not handled yet when the close was noticed (a consumer's queue). */
  waiting?: number;
  /** Bytes of a message (or reply) the server had begun to send when it closed the connection: it had more. */
  cutShort?: number;
}

/** Why the connection was lost. */
export interface OutageCause {
  /** `fell_behind`: dropped for its output buffer; `restart`: a new server process; `other`: not known. */
  kind: "fell_behind" | "restart" | "other";
  /** For `fell_behind`: what shows it, e.g. `the server counted it`. */
  evidence?: string;
}

/**
 * Tells why a subscriber's connection was lost, from the facts read before
 * and after and what the script saw. Where the server counts output-buffer
 * disconnections its count decides; otherwise a backlog past half of the
 * limit when last seen, a probe that found the connection already closed,
 * a stall of a second or more just before, {@linkcode WAITING_BEHIND}
 * messages or more still waiting to be handled, or a message cut short by
 * the close make it "fell behind". (The server writes whole messages to a
 * subscriber that keeps up; one whose socket is full gets what fits, the
 * rest waits in the output buffer — a close then cuts a message. A restart
 * is told apart by `run_id`.)
 *
 * @param before the facts of the lost connection
 * @param after the facts of the new one
 * @param seen what the script saw at the close
 * @returns the cause
 * @example
 * ```ts
 * import { classifyOutage } from "./drop_cause.ts";
 * import { DEFAULT_OUTPUT_LIMIT } from "./output_limit.ts";
 * import assert from "node:assert/strict";
 * const limit = DEFAULT_OUTPUT_LIMIT;
 * const counted = classifyOutage({ runId: "a", drops: 0, limit }, { runId: "a", drops: 1, limit }, { at: 0 });
 * assert.equal(counted.kind, "fell_behind");
 * assert.equal(classifyOutage({ runId: "a", limit }, { runId: "b", limit }, { at: 0 }).kind, "restart");
 * ```
 */
export function classifyOutage(before: SubscriberFacts, after: SubscriberFacts, seen: CloseEvidence): OutageCause {
  if (before.runId && after.runId && before.runId !== after.runId) return { kind: "restart" };
  if (before.drops !== undefined && after.drops !== undefined) {
    return after.drops > before.drops ? { kind: "fell_behind", evidence: "the server counted it" } : { kind: "other" };
  }
  const threshold = dropThreshold(before.limit);
  if (seen.sample && threshold !== undefined && seen.sample.bytes >= threshold / 2) {
    const ago = (((seen.goneAt ?? seen.at) - seen.sample.at) / 1000).toFixed(1);
    const before = seen.goneAt === undefined ? "before the close was noticed" : "before it closed the connection";
    return {
      kind: "fell_behind",
      evidence: `it held ${formatBytes(seen.sample.bytes)} for it when last read, ${ago} s ${before}`,
    };
  }
  if (seen.goneAt !== undefined) {
    return { kind: "fell_behind", evidence: "it had closed the connection while this script was behind" };
  }
  if (seen.stall && seen.stall.ms >= 1000) {
    return {
      kind: "fell_behind",
      evidence: `most likely: this script had stalled for ${(seen.stall.ms / 1000).toFixed(1)} s just before, and ` +
        `this server does not count such disconnections`,
    };
  }
  if (seen.waiting !== undefined && seen.waiting >= WAITING_BEHIND) {
    // A consumer this far behind reads slowly or not at all (a full queue pauses its reading): its backlog grows.
    return {
      kind: "fell_behind",
      evidence: `most likely: ${formatNumber(seen.waiting)} message(s) were still waiting to be handled here when it ` +
        "closed the connection, and this server does not count such disconnections",
    };
  }
  if (seen.cutShort) {
    return {
      kind: "fell_behind",
      evidence: "most likely: it closed the connection in the middle of a message, still holding more for this " +
        "script, and this server does not count such disconnections",
    };
  }
  return { kind: "other" };
}
