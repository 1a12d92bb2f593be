/**
 * The {@linkcode Endpoint} of a cluster.
 *
 * @module
 */
import { ClusterConnection } from "../cluster/cluster_connection.ts";
import { PerMaster } from "../cluster/per_master.ts";
import { describeSlots, rangesOf } from "../cluster/topology.ts";
import { redactUrl } from "../core/config.ts";
import { UsageError } from "../core/exit_codes.ts";
import { ClusterSubscriber } from "./cluster_subscriber.ts";
import { openClusterLink } from "./cluster_link.ts";
import type { Endpoint, NodeSetOptions } from "./endpoint.ts";
import type { Closable, NodeHooks, NodeRef, NodeSet } from "./node_set.ts";

/**
 * The Endpoint of the cluster whose seeds are `urls`.
 *
 * @param urls its seed nodes
 * @returns its Endpoint
 */
export function clusterEndpoint(urls: string[]): Endpoint {
  return {
    address: `cluster ${redactUrl(urls[0]!)}`,
    link: (options) => openClusterLink(urls, options),
    subscriber: (options) => ClusterSubscriber.open({ urls, ...options }),
    nodes: <T extends Closable>(hooks: NodeHooks<T>, options: NodeSetOptions) => openMasters(urls, hooks, options),
    checkup: (checkup) => checkup.cluster(urls),
    standIn: (options) => Promise.reject(new UsageError(options.onCluster)),
  };
}

/** One `T` per master, on a cluster connection of its own that follows the slot map. */
async function openMasters<T extends Closable>(
  urls: string[],
  hooks: NodeHooks<T>,
  options: NodeSetOptions,
): Promise<NodeSet<T>> {
  const conn = await ClusterConnection.open({ urls, ...options });
  const ref = (id: string): NodeRef => ({
    id,
    url: conn.nodeUrl(id),
    clusterNode: true,
    slots: describeSlots(rangesOf(conn.owners, id)),
  });
  const masters = new PerMaster<T>(conn, {
    open: (id) => hooks.open(ref(id)),
    ...(hooks.openFailed ? { openFailed: (id, err, first) => hooks.openFailed!(ref(id), err, first) } : {}),
    ...(hooks.opened ? { opened: (id, value, first) => hooks.opened!(ref(id), value, first) } : {}),
    ...(hooks.dropped
      ? { dropped: (id, value, before) => hooks.dropped!(id, value, describeSlots(rangesOf(before, id))) }
      : {}),
  }, options.reporter);
  let untrack = () => {};
  try {
    await masters.sync();
  } catch (err) {
    await masters.close();
    await conn.close();
    throw err;
  }
  untrack = conn.onTopologyChange(() => void masters.sync());
  return {
    entries: () => masters.entries(),
    all: () => masters.all(),
    settled: () => masters.settled(),
    close: async () => {
      untrack();
      await masters.close();
      await conn.close();
    },
  };
}
