/**
 * A cluster's slot map as this project reads it: which master (`host:port`)
 * serves each of the 16384 hash slots, which slots moved between two reads,
 * and slot ranges written as people read them (`0-5460 10923-16383`).
 *
 * @module
 */
import type { Cluster } from "ioredis";
import calculateSlot from "cluster-key-slot";

/** How many hash slots a cluster has. */
export const CLUSTER_SLOTS = 16384;

/** The master (`host:port`) serving each slot, indexed by slot; `""` where none does. */
export type SlotOwners = readonly string[];

/** Slots that moved from one master to another between two reads of the slot map. */
export interface SlotMove {
  /** The slots, as inclusive ranges. */
  slots: [number, number][];
  /** The master that served them (`""`: none did). */
  from: string;
  /** The master that serves them now (`""`: none does). */
  to: string;
}

/**
 * The hash slot of a key or channel name, as the cluster computes it (CRC16 of
 * the name, or of its `{hash tag}`).
 *
 * @param name a key or a sharded channel
 * @returns its slot, 0 to 16383
 * @example
 * ```ts
 * import { slotOf } from "./topology.ts";
 * import assert from "node:assert/strict";
 * assert.equal(slotOf("{user1}.name"), slotOf("{user1}.mail"));
 * assert.equal(slotOf("foo"), 12182);
 * ```
 */
export function slotOf(name: string): number {
  return calculateSlot(name);
}

/**
 * Reads ioredis's slot map: the master of each slot.
 *
 * @param cluster a connected cluster client
 * @returns the owners, indexed by slot
 */
export function slotOwners(cluster: Cluster): SlotOwners {
  const owners = new Array<string>(CLUSTER_SLOTS);
  for (let slot = 0; slot < CLUSTER_SLOTS; slot++) owners[slot] = cluster.slots[slot]?.[0] ?? "";
  return owners;
}

/**
 * The slots whose master changed between two reads, grouped by old and new master.
 *
 * @param before the earlier map
 * @param after the later map
 * @returns one entry per (old master, new master) pair, in slot order
 * @example
 * ```ts
 * import { topologyChanges } from "./topology.ts";
 * import assert from "node:assert/strict";
 * const before = ["a:1", "a:1", "b:2"];
 * const after = ["c:3", "c:3", "b:2"];
 * assert.equal(topologyChanges(before, after)[0]?.to, "c:3");
 * ```
 */
export function topologyChanges(before: SlotOwners, after: SlotOwners): SlotMove[] {
  if (before.length === 0) return [];
  const moves = new Map<string, SlotMove>();
  for (let slot = 0; slot < after.length; slot++) {
    const from = before[slot] ?? "";
    const to = after[slot] ?? "";
    if (from === to) continue;
    const id = `${from}>${to}`;
    const move = moves.get(id) ?? { slots: [], from, to };
    moves.set(id, move);
    const last = move.slots.at(-1);
    if (last && last[1] === slot - 1) last[1] = slot;
    else move.slots.push([slot, slot]);
  }
  return [...moves.values()];
}

/**
 * The moves of a re-read slot map, unless the map is a stale view: one that gives slots to a node lost and silent
 * since. A node that has not yet heard of a failover still names the dead master in its CLUSTER SLOTS, and ioredis
 * may re-read the map from it; taken as it is, that map "moves" the slots back to the dead node (and then again to
 * the replica that took over), three changes for one failover. Such a map is no move: the earlier one stands.
 *
 * @param before the map as last taken
 * @param after the map just read
 * @param lost whether a node (`host:port`) was lost and has not answered since
 * @returns the moves to report and take, or undefined when `after` is a stale view to ignore
 * @example
 * ```ts
 * import { settledMoves } from "./topology.ts";
 * import assert from "node:assert/strict";
 * const dead = (node: string) => node === "a:1";
 * // the replica took over: a move
 * assert.equal(settledMoves(["a:1", "b:2"], ["c:3", "b:2"], dead)?.[0]?.to, "c:3");
 * // a node that has not heard of it yet: no move back to the dead master
 * assert.equal(settledMoves(["c:3", "b:2"], ["a:1", "b:2"], dead), undefined);
 * ```
 */
export function settledMoves(
  before: SlotOwners,
  after: SlotOwners,
  lost: (node: string) => boolean,
): SlotMove[] | undefined {
  const moves = topologyChanges(before, after);
  return moves.some((m) => m.to !== "" && lost(m.to)) ? undefined : moves;
}

/**
 * The slot ranges a master serves.
 *
 * @param owners the slot map
 * @param node the master, `host:port`
 * @returns its slots, as inclusive ranges
 * @example
 * ```ts
 * import { rangesOf } from "./topology.ts";
 * import assert from "node:assert/strict";
 * assert.deepEqual(rangesOf(["a:1", "a:1", "b:2", "a:1"], "a:1"), [[0, 1], [3, 3]]);
 * ```
 */
export function rangesOf(owners: SlotOwners, node: string): [number, number][] {
  const ranges: [number, number][] = [];
  owners.forEach((owner, slot) => {
    if (owner !== node) return;
    const last = ranges.at(-1);
    if (last && last[1] === slot - 1) last[1] = slot;
    else ranges.push([slot, slot]);
  });
  return ranges;
}

/**
 * Slot ranges as people write them: `0-5460 10923`.
 *
 * @param ranges inclusive ranges
 * @returns the text
 * @example
 * ```ts
 * import { describeSlots } from "./topology.ts";
 * import assert from "node:assert/strict";
 * assert.equal(describeSlots([[0, 5460], [7, 7]]), "0-5460 7");
 * ```
 */
export function describeSlots(ranges: readonly (readonly [number, number])[]): string {
  return ranges.map(([a, b]) => a === b ? String(a) : `${a}-${b}`).join(" ");
}

/**
 * The masters of a slot map, each once, in order of their first slot.
 *
 * @param owners the slot map
 * @returns `host:port` of each master serving slots
 */
export function mastersOf(owners: SlotOwners): string[] {
  return [...new Set(owners.filter((o) => o !== ""))];
}

/** One line of `CLUSTER NODES`. */
export interface ClusterNodeLine {
  /** The node's id. */
  id: string;
  /** `host:port` it serves clients on. */
  address: string;
  /** Its role. */
  role: "master" | "replica";
  /** For a replica, its master's id. */
  masterId?: string;
  /** Whether the cluster takes it for failed (`fail` or `fail?`) or it has no address yet (`handshake`, `noaddr`). */
  down: boolean;
  /** Its flags as the reply gives them: `myself`, `master`, `slave`, `fail?`, `fail`, `handshake`… */
  flags: ReadonlySet<string>;
  /** Whether the answering node's cluster bus link to it is up (`connected`; always so for `myself`). */
  connected: boolean;
  /** When the answering node last had a PONG from it, in epoch ms (0: never, or `myself`). */
  pongReceivedMs: number;
  /** The slot ranges it serves (masters). */
  slots: [number, number][];
}

/**
 * Parses the text `CLUSTER NODES` answers (`<id> <ip:port@cport[,hostname]> <flags> <master> … <slot>…`).
 *
 * @param text the reply
 * @returns one entry per node, in the reply's order
 * @example
 * ```ts
 * import { parseClusterNodes } from "./topology.ts";
 * import assert from "node:assert/strict";
 * const [n] = parseClusterNodes("abc 127.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-5460 7\n");
 * assert.equal(n?.role, "master");
 * assert.equal(n.slots.length, 2);
 * assert.equal(n.address, "127.0.0.1:7000");
 * ```
 */
export function parseClusterNodes(text: string): ClusterNodeLine[] {
  return text.split("\n").map((l) => l.trim()).filter((l) => l !== "").map((line) => {
    const [id = "", addr = "", flags = "", master = "-", , pong = "0", , link = "", ...slotWords] = line.split(" ");
    const flagSet = new Set(flags.split(","));
    const slots: [number, number][] = [];
    for (const word of slotWords) {
      if (word.startsWith("[")) continue; // a slot being migrated or imported
      const [a, b = a] = word.split("-").map(Number);
      if (Number.isInteger(a) && Number.isInteger(b)) slots.push([a!, b!]);
    }
    return {
      id,
      address: addr.split("@")[0]!,
      role: flagSet.has("master") ? "master" : "replica",
      ...(master !== "-" ? { masterId: master } : {}),
      down: flagSet.has("fail") || flagSet.has("fail?") || flagSet.has("handshake") || flagSet.has("noaddr"),
      flags: flagSet,
      connected: link === "connected",
      pongReceivedMs: Number(pong) || 0,
      slots,
    };
  });
}

/**
 * A hash tag whose keys land on `node`'s slots: `{<tag>}anything` is stored on
 * that master (e.g. a probe key that must be written where it is listened to).
 *
 * @param owners the slot map
 * @param node the master, `host:port`
 * @returns a tag such as `{12}`, or undefined when the node serves no slot
 * @example
 * ```ts
 * import { hashTagOn, slotOf } from "./topology.ts";
 * import assert from "node:assert/strict";
 * const owners = Array.from({ length: 16384 }, (_, s) => (s < 8192 ? "a:1" : "b:2"));
 * const tag = hashTagOn(owners, "b:2")!;
 * assert.equal(owners[slotOf(`${tag}key`)], "b:2");
 * ```
 */
export function hashTagOn(owners: SlotOwners, node: string): string | undefined {
  if (!owners.includes(node)) return undefined;
  // 16384 slots: a node with even one slot is hit within a few hundred thousand tries; bounded all the same.
  for (let i = 0; i < 1_000_000; i++) {
    const tag = `{${i}}`;
    if (owners[slotOf(tag)] === node) return tag;
  }
  return undefined;
}
