/**
 * The {@linkcode Endpoint} of a cluster.
 *
 * @module
 */
import { ClusterConnection } from "../cluster/cluster_connection.ts";
import { redactUrl } from "../core/config.ts";
import { UsageError } from "../core/exit_codes.ts";
import { ClusterSubscriber } from "./cluster_subscriber.ts";
import { openClusterLink } from "./cluster_link.ts";
import type { Endpoint, NodeSetOptions } from "./endpoint.ts";
import { followMasters } from "./master_set.ts";
import type { Closable, NodeHooks, NodeSet } from "./node_set.ts";

/**
 * The Endpoint of the cluster whose seeds are `urls`.
 *
 * @param urls its seed nodes
 * @returns its Endpoint
 */
export function clusterEndpoint(urls: string[]): Endpoint {
  return {
    address: `cluster ${redactUrl(urls[0]!)}`,
    database(requested) {
      if (requested !== undefined && requested !== 0) {
        throw new UsageError("--db must be 0 with --cluster: a cluster has only database 0");
      }
      return 0;
    },
    writesTo(_url, flag, what) {
      throw new UsageError(`${flag} does not go with --cluster: ${what} is written through the cluster`);
    },
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
  let masters: NodeSet<T>;
  try {
    masters = await followMasters(conn, hooks, options.reporter);
  } catch (err) {
    await conn.close();
    throw err;
  }
  return {
    ...masters,
    close: async () => {
      await masters.close();
      await conn.close();
    },
  };
}
