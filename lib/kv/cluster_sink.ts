/**
 * A cluster's {@linkcode KvSink}: a batch grouped by the master serving each
 * key, one pipeline per master, all sent at once, each closed by a WAIT for
 * that master's replicas. What a master acknowledged and no replica
 * confirmed is kept, to be written again if that master is lost before (a
 * failover: replication is asynchronous).
 *
 * @module
 */
import type { Cluster } from "ioredis";
import { slotOf } from "../cluster/topology.ts";
import type { KvUpdate } from "./message.ts";
import type { BatchReplies, KvSink, Reply } from "./sink.ts";
import { TRANSIENT } from "./sink.ts";

/** A cluster's redirections: the slot is served elsewhere (MOVED) or is being migrated (ASK). */
const REDIRECTED = /^(MOVED|ASK) /;

/** How long a pipeline's WAIT waits for the master's replicas, in ms. */
const WAIT_MS = 100;

/** What is tried again: redirections, the cluster's own errors, and every error not from a server. */
function clusterTransient(err: Error): boolean {
  return err.name !== "ReplyError" || TRANSIENT.test(err.message) || REDIRECTED.test(err.message);
}

/**
 * The sink of a cluster.
 *
 * @param cluster the cluster client (opened with the offline queue on)
 * @returns the sink
 * @example
 * ```ts ignore
 * const writer = new KvWriter({ sink: clusterSink(cluster), prefix: "", validate: false, expireAtValid: false, log });
 * ```
 */
export function clusterSink(cluster: Cluster): KvSink {
  /** Stored updates a replica has not confirmed yet, by key, with the master that took them. */
  const unconfirmed = new Map<string, { node: string; u: KvUpdate }>();
  /** For the batch being written: the master of each entry whose replicas did not confirm it, "" when none is to. */
  let ackedBy: string[] = [];
  return {
    transient: clusterTransient,
    async write(batch, { validate, expireAtValid }): Promise<BatchReplies> {
      const groups = new Map<string, number[]>();
      for (let n = 0; n < batch.length; n++) {
        // Grouped as ioredis groups slots: a pipeline may only hold slots of one master (and its replicas).
        const nodes = cluster.slots[slotOf(batch[n]![0])];
        const id = nodes ? nodes.join(";") : "";
        const group = groups.get(id);
        if (group) group.push(n);
        else groups.set(id, [n]);
      }
      const replies: BatchReplies = { set: new Array(batch.length), read: new Array(batch.length) };
      ackedBy = new Array<string>(batch.length).fill("");
      await Promise.all([...groups].map(async ([id, members]) => {
        const nodes = id === "" ? [] : id.split(";");
        const replicas = Math.max(0, nodes.length - 1);
        const pipeline = cluster.pipeline();
        for (const n of members) {
          const [key, u] = batch[n]!;
          if (expireAtValid) pipeline.set(key, u.stored, "PXAT", u.validAt);
          else pipeline.set(key, u.stored);
          if (validate) pipeline.get(key);
        }
        if (replicas > 0) pipeline.wait(replicas, WAIT_MS);
        const step = validate ? 2 : 1;
        let results: Reply[];
        try {
          results = (await pipeline.exec()) ?? [];
        } catch (err) {
          results = Array.from({ length: members.length * step + (replicas > 0 ? 1 : 0) }, () => [err as Error, null]);
        }
        const waited = replicas > 0 ? results[members.length * step] : undefined;
        const confirmed = replicas > 0 && !waited?.[0] && Number(waited?.[1]) >= 1;
        members.forEach((n, i) => {
          replies.set[n] = results[i * step];
          if (validate) replies.read[n] = results[i * step + 1];
          if (replicas > 0 && !confirmed) ackedBy[n] = nodes[0]!;
        });
      }));
      // Redirected entries again, one command each: the cluster client follows MOVED and ASK itself.
      await Promise.all(batch.map(async ([key, u], n) => {
        const err = replies.set[n]?.[0];
        if (!err || !REDIRECTED.test(err.message)) return;
        const set = expireAtValid ? cluster.set(key, u.stored, "PXAT", u.validAt) : cluster.set(key, u.stored);
        const [reply, readBack] = await Promise.all([
          set.then((v): Reply => [null, v], (e): Reply => [e as Error, null]),
          validate ? cluster.get(key).then((v): Reply => [null, v], (e): Reply => [e as Error, null]) : undefined,
        ]);
        replies.set[n] = reply;
        replies.read[n] = readBack;
        ackedBy[n] = cluster.slots[slotOf(key)]?.[0] ?? "";
      }));
      return replies;
    },
    settled(batch, replies) {
      batch.forEach(([key, u], n) => {
        if (replies.set[n]?.[0] !== null || replies.set[n] === undefined) return; // not stored
        // Stored: remembered until a replica has it, to be written again if its master is lost first.
        if (ackedBy[n]) unconfirmed.set(key, { node: ackedBy[n]!, u });
        else unconfirmed.delete(key);
      });
    },
    unconfirmedOn(node) {
      const lost: [string, KvUpdate][] = [];
      for (const [key, entry] of unconfirmed) {
        if (entry.node !== node) continue;
        unconfirmed.delete(key);
        lost.push([key, entry.u]);
      }
      return lost;
    },
    get unconfirmed() {
      return unconfirmed.size;
    },
  };
}
