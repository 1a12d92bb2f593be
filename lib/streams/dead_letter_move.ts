/**
 * Moving an entry to its stream's dead letters (`<stream>:dead`): a copy
 * with the reason, the attempts and its original id, and the entry
 * acknowledged — both or neither where one MULTI may touch both streams (one
 * server); elsewhere (a cluster, where they live on different slots) the copy
 * first, so that a failure between the two leaves the entry pending (a second
 * copy at worst), never lost.
 *
 * @module
 */
import type { Commands } from "../endpoint/link.ts";
import { deadLetterStream, PAYLOAD_FIELD } from "./entry.ts";
import type { StreamCommands } from "./stream_commands.ts";

/** The entry to move, and why. */
export interface DeadLetterMove {
  /** Its stream. */
  stream: string;
  /** Its id there. */
  id: string;
  /** Its payload. */
  payload: string;
  /** Why it goes. */
  reason: string;
  /** How many times it was delivered. */
  attempts: number;
  /** The consumer group that acknowledges it. */
  group: string;
  /** The consumer that gave up on it. */
  consumer: string;
}

/**
 * Copies the entry to `<stream>:dead` and acknowledges it.
 *
 * @param link where the commands go, and whether one MULTI may touch both streams
 * @param m the entry and why
 * @returns the id of the copy in `<stream>:dead`
 * @throws the first error of the two commands (the entry then stays pending)
 */
export async function moveToDeadLetters(link: Pick<StreamCommands, "redis" | "combinable">, m: DeadLetterMove) {
  const dead = deadLetterStream(m.stream);
  const redis = link.redis;
  const replies = await (link.combinable([m.stream, dead]) ? redis.multi() : sequence(redis))
    .xadd(
      dead,
      "*",
      PAYLOAD_FIELD,
      m.payload,
      "reason",
      m.reason,
      "attempts",
      String(m.attempts),
      "original_id",
      m.id,
      "stream",
      m.stream,
      "group",
      m.group,
      "consumer",
      m.consumer,
      "failed_at",
      new Date().toISOString(),
    )
    .xack(m.stream, m.group, m.id)
    .exec();
  const failure = replies?.find(([err]) => err)?.[0];
  if (failure) throw failure;
  return String(replies![0]![1]);
}

/** A MULTI look-alike for a cluster: each command on its own (routed by its key), the replies as `exec()` gives them. */
function sequence(redis: Commands) {
  const steps: (() => Promise<unknown>)[] = [];
  const chain = {
    xadd: (...args: Parameters<Commands["xadd"]>) => (steps.push(() => redis.xadd(...args)), chain),
    xack: (...args: Parameters<Commands["xack"]>) => (steps.push(() => redis.xack(...args)), chain),
    exec: async (): Promise<[Error | null, unknown][]> => {
      const replies: [Error | null, unknown][] = [];
      for (const step of steps) replies.push([null, await step()]);
      return replies;
    },
  };
  return chain;
}
