/**
 * Where the dashboard's data comes from: one server (a command connection
 * and a `*` subscriber), or a cluster, per node: a connection of its own to every
 * master (following the slot map: a promoted replica is added, a master
 * left without slots is closed), a `*` subscriber on each — all messages
 * from one of them (a PUBLISH reaches every node), only the keyspace events
 * of their own keys from the others — and the server's state read from every
 * master and put together, with a row per node.
 *
 * @module
 */
import { ClusterConnection } from "../cluster/cluster_connection.ts";
import { PerMaster } from "../cluster/per_master.ts";
import type { Target } from "../cluster/target.ts";
import type { CliError } from "../core/exit_codes.ts";
import type { Logger } from "../core/log.ts";
import { describeSlots, rangesOf } from "../cluster/topology.ts";
import { Connection } from "../core/client.ts";
import type { Reporter } from "../core/output.ts";
import type { PublishContext } from "./publish.ts";
import { SubscriberConnection } from "../pubsub/subscriptions.ts";
import { isKeyspaceChannel, type MessageSampler } from "./sampler.ts";
import {
  MAX_LISTED,
  readServerState,
  readStoredValues,
  readStreams,
  type ServerState,
  type StateOptions,
} from "./server_state.ts";

/** What the sampler's side of the page needs: the same of one server's subscriber and of a cluster's. */
export interface SamplerSource {
  /** Where it samples, for the log. */
  readonly address: string;
  /** Every subscriber is subscribed now. */
  readonly ready: boolean;
  /** Outages, drops for falling behind and server restarts, over all its subscribers. */
  readonly outages: number;
  readonly fellBehind: number;
  readonly restarts: number;
  /** One line about the outages, or undefined. */
  outageSummary(cost: string): string | undefined;
  /** Unsubscribes and closes. */
  close(): Promise<void>;
}

/**
 * One server's subscriber as a {@linkcode SamplerSource}.
 *
 * @param sub the subscriber on `*`
 * @returns the source
 */
export function singleSampler(sub: SubscriberConnection): SamplerSource {
  return {
    address: sub.address,
    get ready() {
      return sub.ready;
    },
    get outages() {
      return sub.conn.outages;
    },
    get fellBehind() {
      return sub.fellBehind;
    },
    get restarts() {
      return sub.restarts;
    },
    outageSummary: (cost) => sub.outageSummary(cost),
    close: async () => {
      await sub.unsubscribe();
      await sub.close();
    },
  };
}

/**
 * The dashboard's command connections to every master, and the state read
 * from them all: channels and subscribers summed over the nodes, stored
 * values and streams from each node's keys, and a row per node.
 */
export class ClusterReads {
  readonly #nodes: PerMaster<Connection>;

  private constructor(private readonly cluster: ClusterConnection, reporter: Reporter) {
    this.#nodes = new PerMaster(cluster, {
      open: (_node, url) => Connection.open({ url, reporter, clusterNode: true, commandTimeoutMs: 2000 }),
    }, reporter);
  }

  /**
   * Opens a connection to every master and follows the slot map.
   *
   * @param cluster the dashboard's cluster connection
   * @param reporter where the nodes' connections report trouble
   * @returns the reads
   */
  static async open(cluster: ClusterConnection, reporter: Reporter): Promise<ClusterReads> {
    const reads = new ClusterReads(cluster, reporter);
    await reads.#nodes.sync();
    cluster.onTopologyChange(() => void reads.#nodes.sync());
    return reads;
  }

  /** Every master's connection is up, and the cluster's. */
  get ready(): boolean {
    return this.cluster.ready && this.#nodes.entries().every(([, c]) => c.ready);
  }

  /**
   * Reads every master's state and puts it together.
   *
   * @param options stored values and streams, as for one server
   * @returns the cluster's state, with `nodes`
   */
  async read(options: StateOptions): Promise<ServerState> {
    const nodes = this.#nodes.entries().filter(([, c]) => c.ready);
    // Each node: its own figures and the streams a SCAN finds among its keys; stored values and named streams
    // through the cluster client, which routes each key to its master.
    const own = options.streams ? { streams: [] } : {};
    const [states, stored, named] = await Promise.all([
      Promise.all(nodes.map(([, c]) => readServerState(c.redis, own))),
      readStoredValues(this.cluster.cluster, options.prefix),
      options.streams ? readStreams(this.cluster.cluster, options.streams) : undefined,
    ]);
    const merged = mergeStates(nodes.map(([node]) => node), states, this.cluster);
    return { ...merged, stored, streams: named ?? merged.streams };
  }

  /** Closes the masters' connections. */
  close(): Promise<void> {
    return this.#nodes.close();
  }
}

/**
 * The state of a cluster from its masters' states: the first one's server name; round trip, the slowest; clients,
 * channels' subscribers and patterns summed (the dashboard's own pattern on each master counted once); streams, each
 * node's own (stored values are read through the cluster client); `notify`, the first master's when all agree, else
 * the one that would warn.
 */
function mergeStates(nodes: string[], states: ServerState[], cluster: ClusterConnection): ServerState {
  const channels = new Map<string, number>();
  for (const s of states) for (const c of s.channels) channels.set(c.name, (channels.get(c.name) ?? 0) + c.subscribers);
  const notifies = states.map((s) => s.notify);
  const notify = notifies.includes(undefined) ? undefined : notifies.find((n) => !/[KE]/.test(n!)) ?? notifies[0];
  return {
    server: states[0]?.server ?? "unknown server",
    roundTripMs: Math.max(0, ...states.map((s) => s.roundTripMs)),
    memory: states.map((s) => s.memory).join(" · "),
    clients: states.reduce((n, s) => n + s.clients, 0),
    channels: [...channels].map(([name, subscribers]) => ({ name, subscribers }))
      .sort((a, b) => b.subscribers - a.subscribers || a.name.localeCompare(b.name)).slice(0, MAX_LISTED),
    activeChannels: states.reduce((n, s) => n + s.activeChannels, 0),
    patterns: Math.max(0, states.reduce((n, s) => n + s.patterns, 0) - Math.max(0, states.length - 1)),
    ...(notify !== undefined ? { notify } : {}),
    stored: [],
    streams: states.flatMap((s) => s.streams).slice(0, MAX_LISTED),
    nodes: states.map((s, i) => ({
      address: nodes[i]!,
      slots: describeSlots(rangesOf(cluster.owners, nodes[i]!)),
      roundTripMs: s.roundTripMs,
      memory: s.memory,
      clients: s.clients,
      ...(s.notify !== undefined ? { notify: s.notify } : {}),
    })),
  };
}

/** How long the sampler keeps taking messages from one master before it checks that it is still the first live one. */
const PRIMARY_MS = 250;

/**
 * The sampler on a cluster: a `*` subscriber on every master. A plain
 * PUBLISH reaches every node, so messages are taken from the first master's
 * subscriber only; keyspace events come from the node that owns the key, so
 * those are taken from each.
 */
export class ClusterSampler implements SamplerSource {
  readonly address: string;
  readonly #subs: PerMaster<SubscriberConnection>;
  #primary: string | undefined;
  #primaryAt = -Infinity;

  private constructor(cluster: ClusterConnection, sampler: MessageSampler, reporter: Reporter) {
    this.address = cluster.address;
    // A `*` subscriber on every master: every master's key events count, the messages of one master only.
    this.#subs = new PerMaster(cluster, {
      open: async (node, url) => {
        const sub = await SubscriberConnection.open({
          url,
          reporter,
          clusterNode: true,
          lossNote: `Messages and key events of ${node} until it is back are not counted.`,
        });
        sub.redis.on("pmessageBuffer", (_pattern: unknown, channel: Uint8Array, payload: Uint8Array) => {
          if (this.#first() === node || isKeyspaceChannel(channel)) sampler.add(channel, payload);
        });
        await sub.subscribe([{ kind: "pattern", name: "*" }]);
        return sub;
      },
    }, reporter);
  }

  /**
   * Subscribes on every master and follows the slot map.
   *
   * @param cluster the dashboard's cluster connection
   * @param sampler where messages go
   * @param reporter where the subscribers report trouble
   * @returns the sampler's source
   */
  static async open(cluster: ClusterConnection, sampler: MessageSampler, reporter: Reporter): Promise<ClusterSampler> {
    const source = new ClusterSampler(cluster, sampler, reporter);
    await source.#subs.sync();
    cluster.onTopologyChange(() => void source.#subs.sync());
    return source;
  }

  /**
   * The master whose subscriber's messages count: the first live one, in slot order. Asked for every message, so
   * looked up again at most every {@linkcode PRIMARY_MS} (a switch then loses or repeats that long of messages).
   */
  #first(): string | undefined {
    const now = Date.now();
    if (now - this.#primaryAt >= PRIMARY_MS) {
      this.#primary = this.#subs.entries().find(([, s]) => s.ready)?.[0];
      this.#primaryAt = now;
    }
    return this.#primary;
  }

  get ready(): boolean {
    const subs = this.#subs.entries();
    return subs.length > 0 && subs.every(([, s]) => s.ready);
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
    return this.#subs.all().reduce((n, s) => n + count(s), 0);
  }

  outageSummary(cost: string): string | undefined {
    const outages = this.outages;
    return outages === 0 ? undefined : `The sampler's subscribers lost their node ${outages} time(s): ${cost}`;
  }

  async close(): Promise<void> {
    for (const [, sub] of this.#subs.entries()) await sub.unsubscribe().catch(() => {});
    await this.#subs.close();
  }
}

/** Everything the dashboard reads from: the same for one server and for a cluster. */
export interface DashboardSources {
  /** The address shown on the page (password hidden). */
  address: string;
  /** Whether the command side is connected. */
  readonly readsReady: boolean;
  /** Reads the server's (or every master's) state. */
  readState(options: StateOptions): Promise<ServerState>;
  /** What the publish form publishes with. */
  publisher: PublishContext["redis"];
  /** The sampler's subscriber(s). */
  sampler: SamplerSource;
  /** Resolves with the error to stop with when the server refuses every subscription (never, on a cluster). */
  failed: Promise<CliError>;
  /** Closes everything. */
  close(): Promise<void>;
}

/**
 * Connects the dashboard: on one server a command connection and a `*`
 * subscriber; on a cluster the cluster client (for publishing), a command
 * connection and a `*` subscriber per master.
 *
 * @param target one server or a cluster's seeds
 * @param sampler where messages go
 * @param log the dashboard's log
 * @param signal Ctrl+C, to stop while connecting
 * @returns the sources
 * @throws {CliError} when the server or cluster cannot be reached
 */
export async function openSources(
  target: Target,
  sampler: MessageSampler,
  log: Logger,
  signal: AbortSignal,
): Promise<DashboardSources> {
  if (target.cluster) return await openCluster(target.urls, sampler, log, signal);
  const reads = await Connection.open({
    url: target.url,
    signal,
    reporter: log.reporter("reads: "),
    commandTimeoutMs: 2000,
  });
  let sub: SubscriberConnection;
  try {
    sub = await SubscriberConnection.open({
      url: target.url,
      signal,
      reporter: log.reporter("sampler: "),
      lossNote: "Messages published until it is back are not counted.",
    });
  } catch (err) {
    await reads.close();
    throw err;
  }
  sub.redis.on(
    "pmessageBuffer",
    (_pattern: unknown, channel: Uint8Array, payload: Uint8Array) => sampler.add(channel, payload),
  );
  const source = singleSampler(sub);
  try {
    await sub.subscribe([{ kind: "pattern", name: "*" }]);
  } catch (err) {
    await source.close();
    await reads.close();
    throw err;
  }
  return {
    address: reads.address,
    get readsReady() {
      return reads.ready;
    },
    readState: (options) => readServerState(reads.redis, options),
    publisher: reads.redis,
    sampler: source,
    failed: sub.failed,
    close: async () => {
      await source.close();
      await reads.close();
    },
  };
}

async function openCluster(
  urls: string[],
  sampler: MessageSampler,
  log: Logger,
  signal: AbortSignal,
): Promise<DashboardSources> {
  const cluster = await ClusterConnection.open({
    urls,
    signal,
    reporter: log.reporter("cluster: "),
    commandTimeoutMs: 2000,
  });
  let reads: ClusterReads | undefined;
  try {
    reads = await ClusterReads.open(cluster, log.reporter("reads: "));
    const source = await ClusterSampler.open(cluster, sampler, log.reporter("sampler: "));
    const opened = reads;
    return {
      address: cluster.address,
      get readsReady() {
        return opened.ready;
      },
      readState: (options) => opened.read(options),
      publisher: cluster.cluster,
      sampler: source,
      failed: new Promise<CliError>(() => {}),
      close: async () => {
        await source.close();
        await opened.close();
        await cluster.close();
      },
    };
  } catch (err) {
    await reads?.close();
    await cluster.close();
    throw err;
  }
}
