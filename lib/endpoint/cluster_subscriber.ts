/**
 * Subscribing on a cluster: plain channels and patterns on one connection
 * (a PUBLISH reaches every node over the cluster bus, so one subscription
 * hears it once), sharded channels through ioredis's per-shard subscribers
 * (`shardedSubscribers`: one connection per master that serves a subscribed
 * slot, subscribed again on the new master after a failover or a slot
 * migration) — and each move of a sharded channel reported with what it cost.
 *
 * @module
 */
import type { Buffer } from "node:buffer";
import { type Redis, ReplyError } from "ioredis";
import { ClusterConnection } from "../cluster/cluster_connection.ts";
import { slotOf, type SlotOwners } from "../cluster/topology.ts";
import { CliError, ExitCode } from "../core/exit_codes.ts";
import { escapeControl, type Reporter } from "../core/output.ts";
import { delay, withTimeout } from "../core/timing.ts";
import { plainSubscriberOf } from "../core/ioredis_guard.ts";
import { toSeconds } from "../core/json_event.ts";
import { announceClosed, announceOpened, connectionView, type WatchedConnection } from "../core/connection_watch.ts";
import type { ShardMove, Subscriber, SubscriberOutageFields } from "./subscriber.ts";
import { noShardedPubSub, shardedUnsupported } from "../pubsub/sharded.ts";
import {
  type Confirmation,
  leaveAll,
  type PubSubMessage,
  subscribeOne,
  type Subscription,
} from "../pubsub/subscribe.ts";

/** The gaps of a cluster's plain subscription so far. */
interface SubscriptionGaps {
  /** The node it is (or was last) subscribed on. */
  node: string;
  /** When the gap going on began, or undefined while subscribed. */
  since: number | undefined;
  /** How many gaps. */
  count: number;
  /** How long the gaps that are over took, in ms. */
  pastMs: number;
}

/** The view of a cluster's plain subscription for the watchers of connections (lib/ops): not ready during a gap. */
function plainSubscriptionView(gaps: () => SubscriptionGaps): WatchedConnection {
  return connectionView("subscriber", {
    trouble: () => {
      const g = gaps();
      return g.since === undefined ? undefined : `the subscription on cluster node ${g.node || "?"} is lost`;
    },
    outages: () => gaps().count,
    downMs: () => {
      const g = gaps();
      return g.pastMs + (g.since === undefined ? 0 : Date.now() - g.since);
    },
  });
}

/** The longest backoff (with jitter) ioredis 6.0.0 waits before retrying a per-shard subscriber: 2 s + 25 %. */
export const SUBSCRIBER_RETRY_MS = 2600;

/** How a {@linkcode ClusterSubscriber} connects. */
export interface ClusterSubscriberOptions {
  /** Seed node URLs. */
  urls: string[];
  /** Where lost nodes, moved slots and moved channels are reported. */
  reporter: Reporter;
  /** Stops the first connect (Ctrl+C). */
  signal?: AbortSignal;
  /** What losing a node costs, added to the "Lost cluster node" line, and losing the subscription. */
  lossNote?: string;
  /** Called when the plain subscription is back on a node after a gap. */
  onRestored?: () => void;
  /** Count and say only the gaps of the plain subscription, not the nodes lost (see SubscriberOptions.gapsOnly). */
  gapsOnly?: boolean;
}

/** How often the connection plain channels and patterns are subscribed on is looked at, in ms: a gap is said within it. */
const WATCH_MS = 100;

/**
 * The subscriptions of one script on a cluster: plain channels and patterns
 * on the one node ioredis subscribes them on (each gap, that node lost until
 * ioredis subscribed again on another, said and counted), sharded channels
 * on the master of their slot (each move said).
 *
 * @example
 * ```ts ignore
 * const sub = await ClusterSubscriber.open({ urls: ["redis://127.0.0.1:7000"], reporter });
 * const stop = sub.listen((m) => console.log(m.channel, m.node));
 * await sub.subscribe([{ kind: "shard", name: "orders" }], (c) => console.log(c.node));
 * ```
 */
export class ClusterSubscriber implements Subscriber {
  /** Never resolves: a cluster subscriber stops only on an error thrown by {@linkcode subscribe}. */
  readonly failed: Promise<CliError> = new Promise(() => {});
  /** Sharded messages received per node (`host:port`). */
  readonly byNode = new Map<string, number>();
  /** How many times a subscribed sharded channel moved to another master. */
  moves = 0;
  readonly #wanted: Subscription[] = [];
  /** The node each subscribed sharded channel lives on, as last read. */
  readonly #shardNode = new Map<string, string>();
  readonly #moveListeners = new Set<(move: ShardMove) => void>();
  readonly #restored = new Set<() => void>();

  /** When ioredis last failed to connect a per-shard subscriber (it then arms a timer to refresh the slot map). */
  #subscriberFailedAt: number | undefined;
  /** Gaps in the plain subscription: how many, since when (the one going on), how long the ended ones took. */
  #gaps = 0;
  #gapSince: number | undefined;
  #gapMs = 0;
  #node = "";
  #timer: ReturnType<typeof setInterval> | undefined;
  #closed = false;
  /** What the watchers of connections see of the plain subscription, from its start until the close. */
  #watched: WatchedConnection | undefined;

  private constructor(
    readonly conn: ClusterConnection,
    private readonly reporter: Reporter,
    private readonly lossNote = "",
    private readonly whenRestored: () => void = () => {},
    private readonly gapsOnly = false,
  ) {
    conn.onTopologyChange((owners) => this.#topologyChanged(owners));
    // ioredis emits "error" on the cluster only for a per-shard subscriber that could not connect.
    conn.cluster.on("error", () => (this.#subscriberFailedAt = Date.now()));
    conn.cluster.on("node error", (_err: Error, key: string) => this.#lost.add(key));
  }

  /** Nodes whose connection failed and has not been seen ready since. */
  readonly #lost = new Set<string>();

  /**
   * Whether `key` is a node lost and not back: a slot map read from a node that has not heard of the failover
   * yet still names it, and the channel has not really moved back.
   */
  #stillLost(key: string): boolean {
    if (!this.#lost.has(key)) return false;
    const node = this.conn.cluster.nodes("all").find((n) => `${n.options.host}:${n.options.port}` === key);
    if (node?.status === "ready") this.#lost.delete(key);
    return this.#lost.has(key);
  }

  /**
   * Connects to the cluster (as {@linkcode ClusterConnection.open}, with per-shard subscribers).
   *
   * @param options the seeds and where to report
   * @returns the subscriber, nothing subscribed yet
   * @throws {CliError} when the cluster cannot be used
   */
  static async open(options: ClusterSubscriberOptions): Promise<ClusterSubscriber> {
    const conn = await ClusterConnection.open({
      urls: options.urls,
      reporter: options.reporter,
      shardedSubscribers: true,
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.lossNote ? { lossNote: options.lossNote } : {}),
    });
    return new ClusterSubscriber(conn, options.reporter, options.lossNote, options.onRestored, options.gapsOnly);
  }

  /** The cluster's address, password hidden. */
  get address(): string {
    return this.conn.address;
  }

  /** Whether plain subscriptions (if any) are on a connected node and every slot is served. */
  get ready(): boolean {
    return this.conn.ready && (this.#timer === undefined || this.#instance()?.status === "ready");
  }

  /** The node (`host:port`) plain channels and patterns are subscribed on now, or undefined before any is. */
  get node(): string | undefined {
    return this.#node || undefined;
  }

  #instance(): Redis | undefined {
    return plainSubscriberOf(this.conn.cluster);
  }

  #instanceKey(): string {
    const instance = this.#instance();
    return instance ? `${instance.options.host}:${instance.options.port}` : "";
  }

  /** Says when the plain subscription is lost, and when ioredis has subscribed again on another node. */
  #watch(): void {
    const up = this.#instance()?.status === "ready";
    if (!up && this.#gapSince === undefined) {
      this.#gapSince = Date.now();
      this.#gaps++;
      this.reporter.warn(`Subscription lost on cluster node ${this.#node || "?"}. ${this.lossNote}`.trimEnd());
    } else if (up && this.#gapSince !== undefined) {
      const ms = Date.now() - this.#gapSince;
      this.#gapMs += ms;
      this.#gapSince = undefined;
      this.#node = this.#instanceKey();
      this.reporter.ok(`Subscribed again on cluster node ${this.#node} after ${(ms / 1000).toFixed(1)} s.`);
      this.whenRestored();
      for (const listener of this.#restored) listener();
    }
  }

  /** The master serving a sharded channel now, from the slot map (`""` while none does). */
  nodeOf(channel: string): string {
    return this.conn.owners[slotOf(channel)] ?? "";
  }

  /**
   * Delivers every message to `handler`; a sharded one carries the node it
   * came from (the master serving its slot).
   *
   * @param handler called for each message
   * @returns a function that removes the listeners
   */
  listen(handler: (message: PubSubMessage) => void): () => void {
    const cluster = this.conn.cluster;
    const direct = (channel: Buffer, payload: Buffer) => handler({ channel: channel.toString(), payload });
    const viaPattern = (pattern: string, channel: Buffer, payload: Buffer) =>
      handler({ pattern, channel: channel.toString(), payload });
    const sharded = (channelBytes: Buffer, payload: Buffer) => {
      const channel = channelBytes.toString();
      const node = this.#shardNode.get(channel) ?? this.nodeOf(channel);
      this.byNode.set(node, (this.byNode.get(node) ?? 0) + 1);
      handler({ channel, payload, sharded: true, node });
    };
    cluster.on("messageBuffer", direct);
    cluster.on("pmessageBuffer", viaPattern);
    cluster.on("smessageBuffer", sharded);
    return () => {
      cluster.off("messageBuffer", direct);
      cluster.off("pmessageBuffer", viaPattern);
      cluster.off("smessageBuffer", sharded);
    };
  }

  /**
   * Calls `listener` when a subscribed sharded channel moves to another master (after saying so on stderr).
   *
   * @param listener what to do with the move
   */
  onMove(listener: (move: ShardMove) => void): void {
    this.#moveListeners.add(listener);
  }

  /**
   * Calls `listener` when plain subscriptions are back on a node after a gap, and when a sharded channel moved to
   * another master (after its move listeners).
   *
   * @param listener what to do
   * @returns a function that removes it
   */
  onRestored(listener: () => void): () => void {
    this.#restored.add(listener);
    return () => this.#restored.delete(listener);
  }

  /**
   * Subscribes to each channel, pattern and sharded channel on its own
   * (sharded ones on the master serving their slot).
   *
   * @param subscriptions what to subscribe to
   * @param onConfirm called for each confirmation, with the node of a sharded channel
   * @throws {CliError} exit code 2 when the cluster has no sharded pub/sub, 8 when every subscription is refused
   */
  async subscribe(
    subscriptions: readonly Subscription[],
    onConfirm: (confirmation: Confirmation) => void = () => {},
  ): Promise<void> {
    this.#wanted.push(...subscriptions);
    const results = await Promise.allSettled(subscriptions.map((s) => subscribeOne(this.conn.cluster, s)));
    const refused: string[] = [];
    results.forEach((r, i) => {
      const s = subscriptions[i]!;
      if (r.status === "fulfilled") {
        if (s.kind !== "shard") return onConfirm({ ...s, active: r.value });
        const node = this.nodeOf(s.name);
        this.#shardNode.set(s.name, node);
        return onConfirm({ ...s, active: r.value, node });
      }
      if (s.kind === "shard" && noShardedPubSub(r.reason)) throw shardedUnsupported(this.address, "SSUBSCRIBE");
      if (!(r.reason instanceof ReplyError)) throw r.reason;
      refused.push(s.name);
      this.reporter.error(
        `The cluster refuses ${s.kind} "${escapeControl(s.name)}" (${escapeControl(r.reason.message)}): ask its ` +
          `administrator to allow it (ACL on every node). Going on without it.`,
      );
    });
    if (subscriptions.some((s) => s.kind !== "shard") && !this.#closed) {
      this.#node = this.#instanceKey();
      this.#timer ??= setInterval(() => this.#watch(), WATCH_MS);
      if (!this.#watched) {
        const gaps = () => ({ node: this.#node, since: this.#gapSince, count: this.#gaps, pastMs: this.#gapMs });
        announceOpened(this.#watched = plainSubscriptionView(gaps));
      }
    }
    if (refused.length === subscriptions.length) {
      throw new CliError(
        ExitCode.NoSubscription,
        `The cluster at ${this.address} refuses every channel and pattern asked for: ask its administrator to ` +
          `allow them (ACL on every node).`,
      );
    }
  }

  /** Sharded channels whose master changed: said once each, with what may have been lost. */
  #topologyChanged(owners: SlotOwners): void {
    for (const [channel, from] of this.#shardNode) {
      const slot = slotOf(channel);
      const to = owners[slot] ?? "";
      if (to === from || to === "" || this.#stillLost(to)) continue;
      this.#shardNode.set(channel, to);
      this.moves++;
      this.reporter.warn(
        `Sharded channel "${escapeControl(channel)}" (slot ${slot}) moved from ${from || "no node"} to ${to}: ` +
          `subscribed again there. Messages SPUBLISHed to it while ${from || "its slot"} was unreachable or the ` +
          `slot was moving were lost: pub/sub keeps nothing for absent subscribers.`,
      );
      for (const listener of this.#moveListeners) listener({ channel, slot, from, to });
      for (const listener of this.#restored) listener();
    }
  }

  /** Leaves every channel, pattern and sharded channel, waiting at most a second. */
  async unsubscribe(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    if (!this.conn.ready || this.#wanted.length === 0) return;
    const leaving = leaveAll(this.conn.cluster, this.#wanted);
    await withTimeout(leaving, 1000, () => new Error("UNSUBSCRIBE unanswered")).catch(() => {});
  }

  /**
   * The summary's line about the subscription's gaps (the node plain channels were subscribed on lost), or else about
   * lost nodes and moved slots.
   *
   * @param cost what an outage cost
   * @returns the line, or undefined when nothing happened
   */
  outageSummary(cost: string): string | undefined {
    if (this.#gaps === 0) return this.gapsOnly ? undefined : this.conn.outageSummary(cost);
    return `Subscription lost ${this.#gaps} time(s) (${toSeconds(this.#gapTotalMs())} s in all): ${cost}`;
  }

  #gapTotalMs(): number {
    return this.#gapMs + (this.#gapSince === undefined ? 0 : Date.now() - this.#gapSince);
  }

  /**
   * The cluster fields of a JSON summary: those of every subscriber's summary, then the cluster's own.
   *
   * @returns `outages` (nodes lost; with `gapsOnly`, the gaps), `disconnected_seconds` (how long, see
   *   {@linkcode ClusterConnection.downMs}), `fell_behind` and `server_restarts` (0: not told apart on a cluster),
   *   `topology_changes`, `shard_moves` and `nodes` (sharded messages per node)
   */
  outageJson(): SubscriberOutageFields {
    return {
      outages: this.gapsOnly ? this.#gaps : this.conn.outages,
      disconnected_seconds: toSeconds(this.gapsOnly ? this.#gapTotalMs() : this.conn.downMs),
      fell_behind: 0,
      server_restarts: 0,
      topology_changes: this.conn.topologyChanges,
      shard_moves: this.moves,
      nodes: Object.fromEntries(this.byNode),
    };
  }

  /**
   * Closes every connection. After a per-shard subscriber failed to connect (a node lost), ioredis 6.0.0 has armed
   * a timer of up to {@linkcode SUBSCRIBER_RETRY_MS} to refresh the slot map, which nothing can cancel: let it run
   * out, so that nothing is left behind.
   */
  async close(): Promise<void> {
    if (this.#watched && !this.#closed) announceClosed(this.#watched);
    this.#closed = true;
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.conn.close();
    const failedAt = this.#subscriberFailedAt;
    if (failedAt !== undefined) await delay(Math.max(0, failedAt + SUBSCRIBER_RETRY_MS - Date.now()));
  }
}
