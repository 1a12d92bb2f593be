/**
 * What the tests of event_processor.ts --recover share: events numbered by their profile id, a processor that misses
 * some while paused and cut off, and reading which it handled from its text output.
 *
 * @module
 */
import type { Redis } from "ioredis";
import { completeEvent } from "../../lib/events/envelope.ts";
import { profileEvent } from "../../lib/events/kinds.ts";
import type { ScriptProcess } from "../harness.ts";
import type { SequenceFormat, SequencePublisher } from "../recover/outage_kit.ts";

/** Event number `seq`: a `profile_updated` of profile `seq` (the processor's result names it). */
export const PROFILE_SEQUENCE: SequenceFormat = {
  payload: (seq, pad) =>
    JSON.stringify(completeEvent(profileEvent("updated", seq, { pad: "x".repeat(pad) }), { source: "test" })),
  seqOf: (payload) => Number(JSON.parse(payload).profile_id),
};

/**
 * Publishes `before` events and waits until the processor has handled them, then pauses it (SIGSTOP), cuts its
 * pub/sub connections (CLIENT KILL on `admin`'s server) and publishes `during` more before letting it go on.
 */
export async function missWhilePaused(
  proc: ScriptProcess,
  admin: Redis,
  pub: SequencePublisher,
  before: number,
  during: number,
): Promise<void> {
  for (let i = 0; i < before; i++) await pub.next();
  await proc.out.waitFor(new RegExp(`profile ${pub.seq}\\b`));
  Deno.kill(proc.pid, "SIGSTOP");
  try {
    await admin.call("CLIENT", "KILL", "TYPE", "pubsub");
    for (let i = 0; i < during; i++) await pub.next();
  } finally {
    Deno.kill(proc.pid, "SIGCONT");
  }
}

/** The profile ids of the events the processor's text output says it handled, in order, and how many recovered. */
export function handledProfiles(stdout: string): { ids: number[]; recovered: number } {
  const lines = stdout.split("\n").filter((l) => / profile \d+/.test(l));
  return {
    ids: lines.map((l) => Number(l.match(/ profile (\d+)/)![1])),
    recovered: lines.filter((l) => / recovered$/.test(l)).length,
  };
}
