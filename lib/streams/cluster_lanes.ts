/**
 * Reading streams on a cluster: one {@linkcode ReadLane} per hash slot (a
 * blocking `XREADGROUP` may not mix streams of different slots:
 * `CROSSSLOT`), each on a connection of its own to the master serving that
 * slot. After a failover or a resharding a lane moves to the node that
 * serves its slot now, and says so.
 *
 * @module
 */
import type { Redis } from "ioredis";
import { ClusterConnection } from "../cluster/cluster_connection.ts";
import type { Target } from "../cluster/target.ts";
import { slotOf } from "../cluster/topology.ts";
import { backoffMs, Connection } from "../core/client.ts";
import { nullWriter, Reporter } from "../core/output.ts";
import { delay } from "../core/timing.ts";
import type { ReadLane } from "./consumer.ts";

/** The lanes of a set of streams on a cluster, and their connections. */
export class ClusterReadLanes {
  /** How many times a lane moved to another node (a failover, a resharding). */
  moves = 0;
  /** How long the lanes waited for their slots' node to answer again, in ms, summed over the lanes. */
  downMs = 0;

  private constructor(
    /** One lane per slot, in the order the streams were given. */
    readonly lanes: NodeLane[],
  ) {}

  /**
   * Groups the streams by slot and connects each group's reader to the master serving it.
   *
   * @param cluster the cluster (its slot map and node URLs)
   * @param streams the streams to read
   * @param reporter where a lane that moves is reported
   * @returns the lanes, connected
   * @throws {CliError} when a master cannot be reached
   */
  static async open(cluster: ClusterConnection, streams: readonly string[], reporter: Reporter) {
    const bySlot = new Map<number, string[]>();
    for (const stream of streams) bySlot.set(slotOf(stream), [...(bySlot.get(slotOf(stream)) ?? []), stream]);
    const lanes: NodeLane[] = [];
    const set = new ClusterReadLanes(lanes);
    try {
      for (const [slot, group] of bySlot) {
        const node = cluster.owners[slot]!;
        lanes.push(new NodeLane(cluster, slot, group, node, await openReader(cluster, node), reporter, set));
      }
    } catch (err) {
      await set.close();
      throw err;
    }
    return set;
  }

  /** The node each stream is read from now (`host:port`). */
  get nodes(): Record<string, string> {
    return Object.fromEntries(this.lanes.flatMap((l) => l.streams.map((s) => [s, l.node])));
  }

  /** Closes every lane's connection. */
  async close(): Promise<void> {
    await Promise.all(this.lanes.map((l) => l.close()));
  }
}

function openReader(cluster: ClusterConnection, node: string): Promise<Connection> {
  // Its loss is the cluster's, reported once by ClusterConnection; the lane finds the slot's new master itself.
  return Connection.open({
    url: cluster.nodeUrl(node),
    reporter: new Reporter(nullWriter),
    reconnect: false,
    clusterNode: true,
    connectTimeoutMs: 2000,
  });
}

/** One slot's streams, read on a connection to the master serving that slot. */
class NodeLane implements ReadLane {
  #conn: Connection | undefined;

  constructor(
    private readonly cluster: ClusterConnection,
    private readonly slot: number,
    readonly streams: readonly string[],
    /** The master read from now. */
    public node: string,
    conn: Connection,
    private readonly reporter: Reporter,
    private readonly set: ClusterReadLanes,
  ) {
    this.#conn = conn;
  }

  get reader(): Redis {
    return this.#conn!.redis;
  }

  unblock(clientId: number): Promise<unknown> {
    const pool = this.cluster.masters().find((n) => `${n.options.host}:${n.options.port}` === this.node);
    return pool ? pool.client("UNBLOCK", clientId) : Promise.resolve(0);
  }

  async recover(_err: unknown, stop: AbortSignal): Promise<void> {
    const since = Date.now();
    try {
      await this.#recover(stop);
    } finally {
      this.set.downMs += Date.now() - since;
    }
  }

  async #recover(stop: AbortSignal): Promise<void> {
    for (let attempt = 1; !stop.aborted; attempt++) {
      const owner = this.cluster.owners[this.slot] ?? "";
      if (owner !== "" && owner === this.node && this.#conn?.ready) {
        // Same node, still connected: a passing error (CLUSTERDOWN while the cluster votes); try again soon.
        await delay(backoffMs(Math.min(attempt, 4)), stop);
        return;
      }
      if (owner !== "") {
        try {
          const next = await openReader(this.cluster, owner);
          const old = this.#conn;
          this.#conn = next;
          await old?.close();
          if (owner !== this.node) {
            this.set.moves++;
            this.reporter.warn(
              `Reading ${this.streams.join(", ")} from ${owner} now (was ${this.node}): entries still pending ` +
                `there are claimed again after --claim-after.`,
            );
            this.node = owner;
          }
          return;
        } catch {
          // not reachable yet: the slot map may still name the dead master
        }
      }
      await delay(backoffMs(Math.min(attempt, 5)), stop);
    }
  }

  async close(): Promise<void> {
    await this.#conn?.close();
    this.#conn = undefined;
  }
}

/** A client for reading streams: one server's connection, or a cluster routing each stream to its node. */
export interface StreamClient {
  /** The client (on a cluster: the cluster, its command methods those of one connection). */
  readonly redis: Redis;
  /** The node (`host:port`) serving a stream, on a cluster; undefined on one server. */
  nodeOf(stream: string): string | undefined;
  /** Closes it. */
  close(): Promise<void>;
}

/**
 * Opens a {@linkcode StreamClient}: a {@linkcode Connection}, or a {@linkcode ClusterConnection}.
 *
 * @param target one server, or a cluster's seeds
 * @param reporter where outages are reported
 * @param follow reconnect after an outage, commands waiting for the server meanwhile (a reader that follows a stream);
 *   else one server's connection is not reopened and a command fails at once
 * @returns the client
 * @throws {CliError} when it cannot connect
 */
export async function openStreamClient(target: Target, reporter: Reporter, follow = false): Promise<StreamClient> {
  if (!target.cluster) {
    const conn = await Connection.open({ url: target.url, reporter, reconnect: follow, offlineQueue: follow });
    return { redis: conn.redis, nodeOf: () => undefined, close: () => conn.close() };
  }
  const cluster = await ClusterConnection.open({ urls: target.urls, reporter, offlineQueue: follow });
  return {
    redis: cluster.cluster as unknown as Redis,
    nodeOf: (stream) => cluster.owners[slotOf(stream)],
    close: () => cluster.close(),
  };
}
