import assert from "node:assert/strict";
import { CLUSTER_SLOTS, settledMoves, type SlotOwners } from "../../lib/cluster/topology.ts";

/** Three masters as `deno task cluster` makes them, the second's slots (5461-10922) on `second`. */
function map(second: string): SlotOwners {
  return Array.from(
    { length: CLUSTER_SLOTS },
    (_, slot) => slot <= 5460 ? "127.0.0.1:7000" : slot <= 10922 ? second : "127.0.0.1:7002",
  );
}

Deno.test("settledMoves() takes a failover once, and not the stale map of a node that has not heard of it", () => {
  // Lab 7: 127.0.0.1:7001 is killed, its replica 127.0.0.1:7004 takes over; a node still naming 7001 is read between.
  const lost = new Set(["127.0.0.1:7001"]);
  const reads = [map("127.0.0.1:7004"), map("127.0.0.1:7001"), map("127.0.0.1:7004")];
  let owners = map("127.0.0.1:7001");
  const reported: string[] = [];
  for (const next of reads) {
    const moves = settledMoves(owners, next, (node) => lost.has(node));
    if (moves === undefined) continue;
    owners = next;
    for (const m of moves) reported.push(`${m.from} → ${m.to}: ${m.slots.map(([a, b]) => `${a}-${b}`).join(",")}`);
  }
  assert.deepEqual(reported, ["127.0.0.1:7001 → 127.0.0.1:7004: 5461-10922"]);

  // The old master back (answering, no longer lost) and given its slots again by a manual failover: a move.
  lost.clear();
  assert.deepEqual(settledMoves(owners, map("127.0.0.1:7001"), (node) => lost.has(node))?.map((m) => m.to), [
    "127.0.0.1:7001",
  ]);
  // Slots served by nobody for a while (to ""): reported, never taken for a stale view.
  const uncovered = map("");
  assert.deepEqual(settledMoves(owners, uncovered, () => true)?.map((m) => m.to), [""]);
});
