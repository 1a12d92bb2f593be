/**
 * The {@linkcode Link} of a cluster: a {@linkcode ClusterConnection}, whose
 * client routes each command by its key's slot.
 *
 * @module
 */
import { ClusterConnection } from "../cluster/cluster_connection.ts";
import { clusterOutage, duringFailover } from "../cluster/failover_retry.ts";
import { commandLostConnection } from "../core/client.ts";
import { slotOf, topologyChanges } from "../cluster/topology.ts";
import { toSeconds } from "../core/json_event.ts";
import type { Link, LinkOptions, LinkOutageFields } from "./link.ts";
import { linkMasters } from "./master_set.ts";

/**
 * The link of a connected cluster.
 *
 * @param conn the cluster
 * @returns the link; closing it closes the cluster
 */
export function clusterLink(conn: ClusterConnection): Link {
  return {
    address: conn.address,
    redis: conn.cluster,
    get ready() {
      return conn.ready;
    },
    get outages() {
      return conn.outages;
    },
    get downMs() {
      return conn.downMs;
    },
    onRestored: (listener) => conn.onTopologyChange(() => listener()),
    onNodeReplaced(listener) {
      let before = conn.owners;
      return conn.onTopologyChange((after) => {
        const masters = new Set(after);
        const replaced = new Map<string, string>();
        for (const move of topologyChanges(before, after)) {
          if (move.from !== "" && !masters.has(move.from)) replaced.set(move.from, move.to);
        }
        before = after;
        for (const [node, successor] of replaced) listener(node, successor);
      });
    },
    onWritesAtRisk: (listener) => conn.onTopologyChange(() => listener()),
    isOutage: (err) => !conn.ready || commandLostConnection(err) || clusterOutage(err),
    throughFailover: (command) => duringFailover(command),
    restoresQuietly: true,
    outageSubject: "a cluster node",
    publishCountsAll: false,
    soleServer: undefined,
    nodeOf: (key) => conn.owners[slotOf(key)] ?? "",
    via: "through the cluster",
    combinable: (keys) => new Set(keys.map(slotOf)).size <= 1,
    getMany: (keys) => Promise.all(keys.map((key) => conn.cluster.get(key))),
    nodes: (hooks, options) => linkMasters(conn, hooks, options),
    outageSummary: (cost) => conn.outageSummary(cost),
    outageJson: (): LinkOutageFields => ({
      outages: conn.outages,
      disconnected_seconds: toSeconds(conn.downMs),
      slot_map_changes: conn.topologyChanges,
    }),
    close: () => conn.close(),
  };
}

/**
 * Opens a link to a cluster.
 *
 * @param urls its seed nodes
 * @param options how it behaves (`reconnect` does not apply: a cluster client always follows its nodes; `db` is 0)
 * @returns the link, connected
 * @throws {CliError} when the cluster cannot be used (see {@linkcode ClusterConnection.open})
 */
export async function openClusterLink(urls: string[], options: LinkOptions): Promise<Link> {
  const { reconnect: _, db: __, topology, ...rest } = options;
  return clusterLink(
    await ClusterConnection.open({
      urls,
      ...rest,
      ...(topology?.reporter ? { reporter: topology.reporter } : {}),
      ...(topology?.lossNote ? { lossNote: topology.lossNote } : {}),
    }),
  );
}
