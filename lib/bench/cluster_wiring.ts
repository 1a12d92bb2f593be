/**
 * The benchmark on a cluster: every node checked to be on loopback before
 * any traffic (the slot map's nodes, not only the seeds), channel names
 * chosen so that channel `i` lands on master `i mod N`, a command connection
 * per master, and per-node connections for the publishers and subscribers:
 * in `sharded` and `stream` mode each subscriber has a connection to every
 * master serving its channels (SSUBSCRIBE / XREAD per shard) and each
 * publisher one per master, its pipelines split by node; in `pubsub` and
 * `pattern` mode subscriber `i` is on master `(i + 1) mod N` and publisher
 * `p` on master `p mod N`, so the messages cross the cluster bus.
 *
 * @module
 */
import { ClusterConnection } from "../cluster/cluster_connection.ts";
import { mastersOf, parseClusterNodes, slotOf, type SlotOwners } from "../cluster/topology.ts";
import { Connection } from "../core/client.ts";
import { redactUrl } from "../core/config.ts";
import { UsageError } from "../core/exit_codes.ts";
import { isLoopback } from "./loopback.ts";
import type { BenchMode } from "./modes.ts";
import {
  type ClusterLayout,
  type ConnPlan,
  type LegPlan,
  refuseRemoteUrl,
  type Wiring,
  type WiringOptions,
} from "./wiring.ts";

/** How many suffixes to try for a name that lands on a given master (each master has about 1/N of the slots). */
const NAME_TRIES = 10_000;

/** What a cluster wiring needs beyond {@linkcode WiringOptions}. */
export interface ClusterWiringOptions extends WiringOptions {
  /** The seed nodes' URLs. */
  urls: string[];
  /** How messages travel. */
  mode: BenchMode;
}

/**
 * The run's names on a cluster: `bench:<run>:<i>`, or `bench:<run>:<i>.<k>`
 * with the first `k` that puts it on master `i mod N`, so the channels
 * spread over the masters.
 *
 * @param run the run's unique tag
 * @param count how many names
 * @param owners the slot map
 * @returns the names, in order
 * @example
 * ```ts
 * import { clusterChannelNames } from "./cluster_wiring.ts";
 * import assert from "node:assert/strict";
 * const owners = Array.from({ length: 16384 }, (_, s) => s < 8192 ? "a:1" : "b:2");
 * const names = clusterChannelNames("x", 4, owners);
 * assert.ok(names.every((n) => n.startsWith("bench:x:")));
 * ```
 */
export function clusterChannelNames(run: string, count: number, owners: SlotOwners): string[] {
  const masters = mastersOf(owners);
  return Array.from({ length: count }, (_, i) => {
    const base = `bench:${run}:${i}`, target = masters[i % masters.length];
    for (let k = 0; k < NAME_TRIES; k++) {
      const name = k === 0 ? base : `${base}.${k}`;
      if (owners[slotOf(name)] === target) return name;
    }
    return base;
  });
}

/** The host of `host:port` as a URL, for {@linkcode isLoopback}. */
function nodeIsLoopback(address: string): boolean {
  const host = address.slice(0, address.lastIndexOf(":"));
  return isLoopback(`redis://${host.includes(":") ? `[${host}]` : host}`);
}

/** Throws a UsageError naming the nodes that are not on loopback. */
function refuseRemote(addresses: string[], seed: string): void {
  const remote = [...new Set(addresses.filter((a) => a !== "" && !a.startsWith(":") && !nodeIsLoopback(a)))];
  if (remote.length === 0) return;
  throw new UsageError(
    `The cluster of ${redactUrl(seed)} has node(s) that are not on this machine (${remote.join(", ")}): ` +
      "bench.ts is a load generator and runs against loopback only.\nGive --allow-remote to load a cluster you own.",
  );
}

/**
 * Opens the wiring of a run on a cluster. Before the cluster client starts,
 * the first seed's `CLUSTER NODES` is read and any node not on loopback
 * refused (unless `allowRemote`); the slot map the client reads is checked
 * again.
 *
 * @param options seeds, mode, reporter, signal, run tag, channels
 * @returns the wiring, with a command connection to every master
 * @throws {UsageError} when a node is not on loopback (exit code 2), or the seed is not a cluster node
 * @throws {CliError} when the cluster cannot be used (exit code 3)
 */
export async function clusterWiring(options: ClusterWiringOptions): Promise<Wiring> {
  const { urls, reporter, signal, mode } = options;
  const seed = urls[0]!;
  if (!options.allowRemote) {
    urls.forEach(refuseRemoteUrl);
    const probe = await Connection.open({ url: seed, reporter, reconnect: false, clusterNode: true, signal });
    try {
      const text = await probe.redis.cluster("NODES").then(String, () => "");
      refuseRemote(parseClusterNodes(text).map((n) => n.address), seed);
    } finally {
      await probe.close();
    }
  }
  const cluster = await ClusterConnection.open({ urls, reporter, signal });
  const opened: Connection[] = [];
  try {
    const owners = cluster.owners;
    const masters = mastersOf(owners);
    if (!options.allowRemote) refuseRemote([...masters, ...cluster.cluster.nodes("all").map(nodeKey)], seed);
    const open = (node: string) =>
      Connection.open({ url: cluster.nodeUrl(node), reporter, reconnect: false, clusterNode: true, signal });
    for (const node of masters) opened.push(await open(node));
    const names = clusterChannelNames(options.run, options.channels, owners);
    const nameNodes = names.map((n) => owners[slotOf(n)]!);
    const shardNodes = [...new Set(nameNodes)];
    const perShard = mode === "sharded" || mode === "stream";
    const layout: ClusterLayout = {
      masters,
      channels: Object.fromEntries(names.map((n, i) => [n, nameNodes[i]!])),
      publisherNodes: [],
      subscriberNodes: [],
    };
    const plan = (node: string): ConnPlan => ({ url: cluster.nodeUrl(node), node, clusterNode: true });
    return {
      names,
      nodes: masters.map((node, i) => ({ node, cmd: opened[i]! })),
      layout,
      subscriber: (index): LegPlan[] => {
        const nodes = perShard ? shardNodes : [masters[(index + 1) % masters.length]!];
        layout.subscriberNodes[index] = nodes;
        return nodes.map((node) => ({
          ...plan(node),
          names: perShard ? names.filter((_, k) => nameNodes[k] === node) : names,
        }));
      },
      publisher: (index) => {
        const nodes = perShard ? shardNodes : [masters[index % masters.length]!];
        layout.publisherNodes[index] = nodes;
        const conns = nodes.map(plan);
        return perShard ? { conns, route: nameNodes.map((n) => nodes.indexOf(n)) } : { conns };
      },
      close: async () => {
        await Promise.all(opened.map((c) => c.close()));
        await cluster.close();
      },
    };
  } catch (err) {
    await Promise.all(opened.map((c) => c.close()));
    await cluster.close();
    throw err;
  }
}

/** `host:port` of a node's connection in the cluster client's pool. */
function nodeKey(node: { options: { host?: string; port?: number } }): string {
  return `${node.options.host}:${node.options.port}`;
}
