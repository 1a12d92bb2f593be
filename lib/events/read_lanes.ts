/**
 * Reading streams through a link (lib/endpoint): the streams that one
 * blocking `XREADGROUP` may read together — all of them on one server, those
 * of one hash slot on a cluster (a read may not mix slots: `CROSSSLOT`) —
 * form a lane, read on a connection of its own to the node serving them.
 * After a failover or a resharding a lane reads from the node that serves its
 * streams now, and says so.
 *
 * @module
 */
import type { Redis } from "ioredis";
import { backoffMs, Connection } from "../core/client.ts";
import { nullWriter, Reporter } from "../core/output.ts";
import { delay } from "../core/timing.ts";
import type { Link } from "../endpoint/link.ts";
import type { LinkedNode, NodeSet } from "../endpoint/node_set.ts";
import type { ReadLane } from "./stream_consumer.ts";

/** The lanes of a set of streams, and their connections. */
export class ReadLanes {
  /** How many times a lane moved to another node (a failover, a resharding). */
  moves = 0;
  /** How long the lanes waited for their node to answer again, in ms, summed over the lanes. */
  downMs = 0;
  /** One lane per set of streams read together, in the order the streams were given. */
  readonly lanes: NodeLane[] = [];

  private constructor() {}

  /**
   * Groups the streams into lanes and opens each lane's reader on the node serving them.
   *
   * @param reader a link used for nothing but these reads (on one server its own connection is the reader)
   * @param streams the streams to read
   * @param reporter where a lane that moves is reported
   * @returns the lanes, connected
   * @throws {CliError} when a node cannot be reached
   */
  static async open(reader: Link, streams: readonly string[], reporter: Reporter): Promise<ReadLanes> {
    const groups: string[][] = [];
    for (const stream of streams) {
      const group = groups.find((g) => reader.combinable([...g, stream]));
      if (group) group.push(stream);
      else groups.push([stream]);
    }
    const set = new ReadLanes();
    try {
      for (const group of groups) set.lanes.push(await NodeLane.open(reader, group, reporter, set));
    } catch (err) {
      await set.close();
      throw err;
    }
    return set;
  }

  /** The node each stream is read from now (`host:port`), where output names nodes (a cluster); else empty. */
  get nodes(): Record<string, string> {
    return Object.fromEntries(this.lanes.flatMap((l) => l.label ? l.streams.map((s) => [s, l.label!]) : []));
  }

  /** Whether the reads are spread over nodes that output names (a cluster's masters). */
  get spread(): boolean {
    return this.lanes.some((l) => l.label !== undefined);
  }

  /** Closes every lane's connections. */
  async close(): Promise<void> {
    await Promise.all(this.lanes.map((l) => l.close()));
  }
}

/** The node a lane reads from, as its node set opened it. */
interface Opened {
  node: LinkedNode;
  close(): Promise<void>;
}

/** One lane's streams, read on a connection to the node serving them. */
class NodeLane implements ReadLane {
  #node: LinkedNode;
  /** A connection of its own to the reader's node, for CLIENT UNBLOCK (the reader itself is blocked). */
  #unblocker: Promise<Connection> | undefined;

  private constructor(
    readonly streams: readonly string[],
    private readonly set: NodeSet<Opened>,
    private readonly reporter: Reporter,
    private readonly lanes: ReadLanes,
  ) {
    this.#node = set.entries()[0]![1].node;
  }

  static async open(link: Link, streams: readonly string[], reporter: Reporter, lanes: ReadLanes): Promise<NodeLane> {
    // Its connections' losses are the link's, reported once by it; the lane finds the streams' new node itself.
    const quiet = new Reporter(nullWriter);
    const set = await link.nodes<Opened>(
      { open: (node) => Promise.resolve({ node, close: () => Promise.resolve() }) },
      { reporter: quiet, holding: streams[0]! },
    );
    if (set.entries().length === 0) {
      await set.close();
      throw new Error(`no node serves ${streams.join(", ")} now`);
    }
    return new NodeLane(streams, set, reporter, lanes);
  }

  /** The node read from now, where output names it (a cluster's master). */
  get label(): string | undefined {
    return this.#node.label;
  }

  get reader(): Redis {
    return this.#node.redis;
  }

  async unblock(clientId: number): Promise<unknown> {
    const node = this.#node;
    this.#unblocker ??= Connection.open({
      url: node.url,
      reporter: new Reporter(nullWriter),
      reconnect: false,
      clusterNode: node.clusterNode,
      connectTimeoutMs: 2000,
    });
    return await (await this.#unblocker).redis.client("UNBLOCK", clientId);
  }

  async recover(_err: unknown, stop: AbortSignal): Promise<void> {
    const since = Date.now();
    try {
      await this.#recover(stop);
    } finally {
      this.lanes.downMs += Date.now() - since;
    }
  }

  async #recover(stop: AbortSignal): Promise<void> {
    for (let attempt = 1; !stop.aborted; attempt++) {
      await this.set.settled();
      const now = this.set.entries()[0]?.[1].node;
      if (now?.ready) {
        if (now.id === this.#node.id) {
          // Same node, still connected: a passing error (CLUSTERDOWN while the cluster votes); try again soon.
          await delay(backoffMs(Math.min(attempt, 4)), stop);
          return;
        }
        this.lanes.moves++;
        this.reporter.warn(
          `Reading ${this.streams.join(", ")} from ${now.id} now (was ${this.#node.id}): entries still pending ` +
            `there are claimed again after --claim-after.`,
        );
        this.#node = now;
        await this.#closeUnblocker();
        return;
      }
      await delay(backoffMs(Math.min(attempt, 5)), stop);
    }
  }

  async #closeUnblocker(): Promise<void> {
    const unblocker = this.#unblocker;
    this.#unblocker = undefined;
    await unblocker?.then((c) => c.close(), () => {});
  }

  async close(): Promise<void> {
    await this.#closeUnblocker();
    await this.set.close();
  }
}
