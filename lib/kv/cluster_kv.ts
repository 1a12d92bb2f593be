/**
 * The KV lab on a cluster: what kv_updater does when a master is lost and
 * its replica takes over.
 *
 * @module
 */
import type { ClusterConnection } from "../cluster/cluster_connection.ts";
import { topologyChanges } from "../cluster/topology.ts";
import type { Logger } from "../core/log.ts";
import type { KvWriter } from "./writer.ts";

/**
 * After each failover (a master's slots moved to a node that was not a
 * master before, the old one serving none), writes again what the lost
 * master acknowledged and no replica confirmed, and says how many.
 *
 * @param conn the cluster the writer writes to
 * @param writer the writer
 * @param log where the outcome is said
 * @returns a function that stops watching
 * @example
 * ```ts ignore
 * const stop = rewriteAfterFailover(conn, writer, log);
 * ```
 */
export function rewriteAfterFailover(conn: ClusterConnection, writer: KvWriter, log: Logger): () => void {
  let before = conn.owners;
  return conn.onTopologyChange((after) => {
    const masters = new Set(after);
    const lost = new Map<string, string>();
    for (const move of topologyChanges(before, after)) {
      if (move.from !== "" && !masters.has(move.from)) lost.set(move.from, move.to);
    }
    before = after;
    for (const [node, to] of lost) {
      const n = writer.nodeLost(node);
      log.warn(
        n > 0
          ? `writes: ${n} update(s) ${node} acknowledged before it was lost had not been confirmed by its replica ` +
            `(WAIT): written again, now to ${to || "the node serving their slots"}.`
          : `writes: every update ${node} acknowledged had been confirmed by its replica (WAIT): none to write again.`,
      );
    }
  });
}
