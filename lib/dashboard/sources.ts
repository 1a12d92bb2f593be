/**
 * Where the dashboard's data comes from, the same for one server and a
 * cluster: the Endpoint's link (publishing, stored values, named streams)
 * and, on each node that holds keys, a command connection and a `*`
 * subscriber (one server: the link's own connection and one subscriber — two
 * connections in all; a cluster: a pair per master, following the slot map).
 * A plain PUBLISH reaches every node, so messages are taken from one node's
 * subscriber; keyspace events come from the node that owns the key, so those
 * are taken from each.
 *
 * @module
 */
import type { CliError } from "../core/exit_codes.ts";
import type { Logger } from "../core/log.ts";
import type { Reporter } from "../core/output.ts";
import type { Endpoint } from "../endpoint/endpoint.ts";
import type { Link } from "../endpoint/link.ts";
import type { LinkedNode, NodeSet } from "../endpoint/node_set.ts";
import { SubscriberConnection } from "../pubsub/subscriptions.ts";
import type { PublishContext } from "./publish.ts";
import { isKeyspaceChannel, type MessageSampler } from "./sampler.ts";
import { readServerState, type ServerState, type StateOptions } from "./server_state.ts";

/** What the sampler's side of the page needs, over every subscriber. */
export interface SamplerSource {
  /** Where it samples, for the log. */
  readonly address: string;
  /** Every subscriber is subscribed now. */
  readonly ready: boolean;
  /** Outages, drops for falling behind and server restarts, over all its subscribers. */
  readonly outages: number;
  readonly fellBehind: number;
  readonly restarts: number;
  /** The lines about the outages, or undefined. */
  outageSummary(cost: string): string | undefined;
}

/** Everything the dashboard reads from: the same for one server and for a cluster. */
export interface DashboardSources {
  /** The address shown on the page (password hidden). */
  address: string;
  /** Whether the command side is connected (the link, and every node's connection). */
  readonly readsReady: boolean;
  /** Reads the server's (or every master's) state. */
  readState(options: StateOptions): Promise<ServerState>;
  /** What the publish form publishes with. */
  publisher: PublishContext["redis"];
  /** The sampler's subscribers. */
  sampler: SamplerSource;
  /** Resolves with the error to stop with when a node refuses the sampler's subscription for good. */
  failed: Promise<CliError>;
  /** Closes everything. */
  close(): Promise<void>;
}

/** One node's part: its command connection (the set's) and its `*` subscriber. */
interface NodeSources {
  node: LinkedNode;
  sub: SubscriberConnection;
  close(): Promise<void>;
}

/** How long the sampler keeps taking messages from one node before it checks that it is still the first live one. */
const PRIMARY_MS = 250;

/**
 * The `*` subscribers of every node, as one {@linkcode SamplerSource}: every
 * node's keyspace events count, the plain messages of one node only (the
 * first live one, in slot order).
 */
class NodeSampler implements SamplerSource {
  nodes: NodeSet<NodeSources> | undefined;
  readonly failed: Promise<CliError>;
  #fail: (err: CliError) => void = () => {};
  #primary: string | undefined;
  #primaryAt = -Infinity;
  /** The first node subscribed on: the one that counts until the set is there. */
  #firstOpened: string | undefined;

  constructor(readonly address: string, private readonly sampler: MessageSampler, private readonly reporter: Reporter) {
    this.failed = new Promise((resolve) => (this.#fail = resolve));
  }

  /** Subscribes to `*` on `node`. */
  async open(node: LinkedNode, signal: AbortSignal): Promise<NodeSources> {
    const sub = await SubscriberConnection.open({
      url: node.url,
      clusterNode: node.clusterNode,
      reporter: this.reporter,
      signal,
      lossNote: node.label === undefined
        ? "Messages published until it is back are not counted."
        : `Messages and key events of ${node.label} until it is back are not counted.`,
    });
    sub.redis.on("pmessageBuffer", (_pattern: unknown, channel: Uint8Array, payload: Uint8Array) => {
      if (this.#first() === node.id || isKeyspaceChannel(channel)) this.sampler.add(channel, payload);
    });
    sub.failed.then(this.#fail);
    this.#firstOpened ??= node.id;
    try {
      await sub.subscribe([{ kind: "pattern", name: "*" }]);
    } catch (err) {
      await sub.close();
      throw err;
    }
    return {
      node,
      sub,
      close: async () => {
        await sub.unsubscribe();
        await sub.close();
      },
    };
  }

  /**
   * The node whose subscriber's messages count: the first live one in slot order (else the first). Asked for every
   * message, so looked up again at most every {@linkcode PRIMARY_MS} (a switch then loses or repeats that long of
   * messages).
   */
  #first(): string | undefined {
    if (!this.nodes) return this.#firstOpened;
    const now = Date.now();
    if (now - this.#primaryAt >= PRIMARY_MS) {
      const entries = this.nodes?.entries() ?? [];
      this.#primary = (entries.find(([, n]) => n.sub.ready) ?? entries[0])?.[0];
      this.#primaryAt = now;
    }
    return this.#primary;
  }

  get ready(): boolean {
    const nodes = this.nodes?.entries() ?? [];
    return nodes.length > 0 && nodes.every(([, n]) => n.sub.ready);
  }
  get outages(): number {
    return this.#sum((s) => s.conn.outages);
  }
  get fellBehind(): number {
    return this.#sum((s) => s.fellBehind);
  }
  get restarts(): number {
    return this.#sum((s) => s.restarts);
  }

  /** A count over every subscriber, those of nodes dropped since included. */
  #sum(count: (sub: SubscriberConnection) => number): number {
    return (this.nodes?.all() ?? []).reduce((n, s) => n + count(s.sub), 0);
  }

  /** One subscriber's own lines; for several, how many times they lost their node. */
  outageSummary(cost: string): string | undefined {
    const all = this.nodes?.all() ?? [];
    if (all.length === 1) return all[0]!.sub.outageSummary(cost);
    const outages = this.outages;
    return outages === 0 ? undefined : `The sampler's subscribers lost their node ${outages} time(s): ${cost}`;
  }
}

/**
 * Connects the dashboard: the link, then a command connection and a `*` subscriber on every node.
 *
 * @param endpoint the server or cluster
 * @param sampler where messages go
 * @param log the dashboard's log
 * @param signal Ctrl+C, to stop while connecting
 * @returns the sources
 * @throws {CliError} when the server or cluster cannot be reached
 */
export async function openSources(
  endpoint: Endpoint,
  sampler: MessageSampler,
  log: Logger,
  signal: AbortSignal,
): Promise<DashboardSources> {
  const reads = log.reporter("reads: ");
  const link = await endpoint.link({
    reporter: reads,
    commandTimeoutMs: 2000,
    signal,
    topology: { reporter: log.reporter("cluster: ") },
  });
  const source = new NodeSampler(endpoint.address, sampler, log.reporter("sampler: "));
  let nodes: NodeSet<NodeSources>;
  try {
    nodes = source.nodes = await link.nodes(
      { open: (node) => source.open(node, signal) },
      { reporter: reads, commandTimeoutMs: 2000, signal },
    );
  } catch (err) {
    await link.close();
    throw err;
  }
  const ready = () => nodes.entries().map(([, n]) => n.node).filter((node) => node.ready);
  return {
    address: endpoint.address,
    get readsReady() {
      return link.ready && nodes.entries().every(([, n]) => n.node.ready);
    },
    readState: (options) => readServerState(link, ready(), options),
    publisher: publisherOf(link),
    sampler: source,
    failed: source.failed,
    close: async () => {
      await nodes.close();
      await link.close();
    },
  };
}

/** What the publish form publishes through: the link. */
function publisherOf(link: Link): PublishContext["redis"] {
  return {
    get status() {
      return link.ready ? "ready" : "not connected";
    },
    publish: (channel, message) => link.redis.publish(channel, message),
  };
}
