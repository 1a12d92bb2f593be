/**
 * Plain (broadcast) channels on a cluster: one subscription anywhere in the
 * cluster hears every PUBLISH, so ioredis's `Cluster` keeps one subscriber
 * connection to one node and moves it to another node when that one is lost.
 * {@linkcode ClusterSubscription} reports those gaps — updates published
 * meanwhile are not received — the way {@linkcode SubscriberConnection}
 * reports a single server's outages.
 *
 * @module
 */
import type { Cluster, Redis } from "ioredis";
import type { CliError } from "../core/exit_codes.ts";
import { plainSubscriberOf } from "../core/ioredis_guard.ts";
import { toSeconds } from "../core/json_event.ts";
import type { Reporter } from "../core/output.ts";
import { subscribeAll, type Subscription, unsubscribeAll } from "../pubsub/subscribe.ts";
import type { OutageFields } from "../pubsub/subscriptions.ts";
import type { ClusterConnection } from "./cluster_connection.ts";
import { announceClosed, announceOpened, connectionView, type WatchedConnection } from "../core/connection_watch.ts";

/** The gaps of a cluster's plain subscription so far. */
export interface SubscriptionGaps {
  /** The node it is (or was last) subscribed on. */
  node: string;
  /** When the gap going on began, or undefined while subscribed. */
  since: number | undefined;
  /** How many gaps. */
  count: number;
  /** How long the gaps that are over took, in ms. */
  pastMs: number;
}

/**
 * The view of a cluster's plain subscription for the watchers of connections (lib/ops): not ready during a gap.
 *
 * @param gaps its gaps now
 * @returns the view to announce
 */
export function plainSubscriptionView(gaps: () => SubscriptionGaps): WatchedConnection {
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

/** How often the subscriber connection is looked at, in ms: a gap is reported within this. */
const WATCH_MS = 100;

/**
 * Subscriptions to plain channels and patterns through a cluster client,
 * with each gap (the subscriber node lost, until ioredis subscribed again on
 * another node) reported and counted.
 *
 * @example
 * ```ts ignore
 * const sub = new ClusterSubscription(conn, log.reporter("subscription: "), "Updates published meanwhile are lost.");
 * await sub.subscribe([{ kind: "channel", name: "update" }]);
 * onMessage(sub.redis, (m) => console.log(m.channel));
 * ```
 */
export class ClusterSubscription {
  /** How many times the subscription was lost. */
  outages = 0;
  /** Never settles: the cluster client keeps looking for a node to subscribe on (the same shape as a single server's). */
  readonly failed: Promise<CliError | undefined> = new Promise(() => {});
  #wanted: Subscription[] = [];
  #timer: ReturnType<typeof setInterval> | undefined;
  #closed = false;
  #node = "";
  #downSince: number | undefined;
  #downMs = 0;
  /** What the watchers of connections see, from the first subscribe until the close. */
  #watched: WatchedConnection | undefined;

  /**
   * Creates a ClusterSubscription over a connected cluster.
   *
   * @param conn the cluster (its client also serves commands: ioredis subscribes on a connection of its own)
   * @param reporter where gaps are reported
   * @param lossNote what a gap costs, said with each loss
   * @param onRestored called when the subscription is back after a gap
   */
  constructor(
    private readonly conn: ClusterConnection,
    private readonly reporter: Reporter,
    private readonly lossNote: string,
    private readonly onRestored: () => void = () => {},
  ) {}

  /** The cluster client: listen to its messages with `onMessage`. */
  get redis(): Cluster {
    return this.conn.cluster;
  }

  /** The cluster's redacted address. */
  get address(): string {
    return this.conn.address;
  }

  /** The node (`host:port`) the subscription is on now, or `""`. */
  get node(): string {
    return this.#node;
  }

  /** Whether the subscriber connection is up. */
  get ready(): boolean {
    return this.#instance()?.status === "ready";
  }

  /**
   * Subscribes, then watches the subscriber connection.
   *
   * @param subscriptions channels and patterns
   */
  async subscribe(subscriptions: readonly Subscription[]): Promise<void> {
    this.#wanted.push(...subscriptions);
    await subscribeAll(this.conn.cluster as unknown as Redis, subscriptions, () => {});
    this.#node = this.#instanceKey();
    if (this.#closed) return; // not watched when closed meanwhile
    this.#timer ??= setInterval(() => this.#watch(), WATCH_MS);
    if (!this.#watched) {
      const gaps = () => ({ node: this.#node, since: this.#downSince, count: this.outages, pastMs: this.#downMs });
      announceOpened(this.#watched = plainSubscriptionView(gaps));
    }
  }

  #instance(): Redis | undefined {
    return plainSubscriberOf(this.conn.cluster);
  }

  #instanceKey(): string {
    const instance = this.#instance();
    return instance ? `${instance.options.host}:${instance.options.port}` : "";
  }

  #watch(): void {
    const up = this.ready;
    if (!up && this.#downSince === undefined) {
      this.#downSince = Date.now();
      this.outages++;
      this.reporter.warn(`Subscription lost on cluster node ${this.#node || "?"}. ${this.lossNote}`);
    } else if (up && this.#downSince !== undefined) {
      const ms = Date.now() - this.#downSince;
      this.#downMs += ms;
      this.#downSince = undefined;
      this.#node = this.#instanceKey();
      this.reporter.ok(`Subscribed again on cluster node ${this.#node} after ${(ms / 1000).toFixed(1)} s.`);
      this.onRestored();
    }
  }

  /** Leaves the channels and patterns (at most a second) and stops watching. */
  async unsubscribe(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    const instance = this.#instance();
    if (instance) await unsubscribeAll(this.conn.cluster as unknown as Redis, this.#wanted);
  }

  /**
   * The summary's line about gaps, or undefined when there was none.
   *
   * @param cost what the gaps cost, e.g. `updates published then were not received.`
   * @returns the line, or undefined
   */
  outageSummary(cost: string): string | undefined {
    if (this.outages === 0) return undefined;
    return `Subscription lost ${this.outages} time(s) (${toSeconds(this.#totalDownMs())} s in all): ${cost}`;
  }

  /**
   * The outage fields of a JSON summary, as a single server's.
   *
   * @returns `outages`, `disconnected_seconds`, `fell_behind` (0), `server_restarts` (0)
   */
  outageJson(): OutageFields {
    return {
      outages: this.outages,
      disconnected_seconds: toSeconds(this.#totalDownMs()),
      fell_behind: 0,
      server_restarts: 0,
    };
  }

  #totalDownMs(): number {
    return this.#downMs + (this.#downSince === undefined ? 0 : Date.now() - this.#downSince);
  }

  /** Stops watching (the cluster's connection is closed by its owner). */
  close(): Promise<void> {
    if (this.#watched && !this.#closed) announceClosed(this.#watched);
    this.#closed = true;
    clearInterval(this.#timer);
    this.#timer = undefined;
    return Promise.resolve();
  }
}
