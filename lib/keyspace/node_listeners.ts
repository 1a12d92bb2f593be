/**
 * Keyspace notifications on a cluster: each master announces only the changes
 * to the keys of its own slots, so a listener subscribes on every master, and
 * the writer watches its handshake key on the node that owns it. Each node
 * gets its notifications checked or turned on (a probe key with a hash tag of
 * its slots where CONFIG is refused), and both follow the slot map: a replica
 * promoted or a master added is subscribed on, a node that serves no slots any
 * more is dropped, with what may have been missed in between.
 *
 * @module
 */
import { CliError, ExitCode } from "../core/exit_codes.ts";
import { Connection } from "../core/client.ts";
import { redactUrl } from "../core/config.ts";
import { clock, type Reporter } from "../core/output.ts";
import type { ClusterConnection } from "../cluster/cluster_connection.ts";
import { PerMaster } from "../cluster/per_master.ts";
import { describeSlots, hashTagOn, rangesOf, type SlotOwners, topologyChanges } from "../cluster/topology.ts";
import { onMessage, type PubSubMessage, type Subscription } from "../pubsub/subscribe.ts";
import { type OutageFields, SubscriberConnection } from "../pubsub/subscriptions.ts";
import { ensureNotifications, type EnsureOutcome, NotifyChanges } from "./notifications.ts";

/** Which node of a cluster, and what it must announce. */
export interface NotifyingNodeOptions {
  /** The cluster. */
  conn: ClusterConnection;
  /** The master, `host:port`. */
  node: string;
  /** The `notify-keyspace-events` letters needed, e.g. `K$`. */
  needed: string;
  /** false (`--no-config`): read the setting and warn, change nothing. */
  change: boolean;
  /** Where the outcome is reported. */
  reporter: Reporter;
  /** Stops the connect (Ctrl+C). */
  signal?: AbortSignal;
}

/**
 * A command connection to one master of a cluster whose notifications were
 * checked or turned on (as {@linkcode ensureNotifications} does for one
 * server); what it changed is reported or undone by {@linkcode close}.
 *
 * @example
 * ```ts ignore
 * const node = await NotifyingNode.open({ conn, node: "127.0.0.1:7001", needed: "K$", change: true, reporter });
 * await node.close(true); // puts notify-keyspace-events back
 * ```
 */
export class NotifyingNode {
  /** What this run changed in the node's `notify-keyspace-events`. */
  readonly changes: NotifyChanges = new NotifyChanges();

  private constructor(
    private readonly options: NotifyingNodeOptions,
    /** The node's URL, with the seeds' credentials. */
    readonly url: string,
    /** The command connection. */
    readonly cmd: Connection,
  ) {}

  /** The node, `host:port`. */
  get node(): string {
    return this.options.node;
  }

  /**
   * Connects to the node and makes sure it sends the events needed.
   *
   * @param options the cluster, the node, the letters and how to report
   * @returns the node, checked
   * @throws {CliError} when the node cannot be reached (3) or the events cannot be had (5)
   */
  static async open(options: NotifyingNodeOptions): Promise<NotifyingNode> {
    const url = options.conn.nodeUrl(options.node);
    const cmd = await Connection.open({
      url,
      reporter: options.reporter,
      offlineQueue: true,
      clusterNode: true,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    const self = new NotifyingNode(options, url, cmd);
    try {
      await self.ensure();
    } catch (err) {
      await cmd.close();
      throw err;
    }
    return self;
  }

  /**
   * Checks (or turns on) the node's notifications again, e.g. after it restarted.
   *
   * @returns what was found and done
   */
  ensure(): Promise<EnsureOutcome> {
    const { conn, node } = this.options;
    return ensureNotifications({
      redis: this.cmd.redis,
      url: this.url,
      db: 0,
      needed: this.options.needed,
      change: this.options.change,
      reporter: this.options.reporter,
      address: redactUrl(this.url),
      changes: this.changes,
      cluster: { keyTag: hashTagOn(conn.owners, node) ?? "" },
    });
  }

  /**
   * Says what stays changed on the node (or, with `restore`, puts it back) and closes the connection.
   *
   * @param restore `--restore-config`
   * @returns when closed
   */
  async close(restore: boolean): Promise<void> {
    const address = redactUrl(this.url);
    await this.changes.settle({ redis: this.cmd.redis, restore, reporter: this.options.reporter, address });
    await this.cmd.close();
  }
}

/** A node subscribed on, or dropped, as {@linkcode ClusterListeners} tells it. */
export interface NodeChange {
  /** The master, `host:port`. */
  node: string;
  /** `subscribed`: listening there now; `dropped`: it serves no slots any more, no longer listened to. */
  change: "subscribed" | "dropped";
  /** The slots it serves (subscribed) or served (dropped), e.g. `0-5460`. */
  slots: string;
  /** For a dropped node that was lost: how long its events went unheard until the new owners were listened to, in ms. */
  missedMs?: number;
}

/** How {@linkcode ClusterListeners} listens. */
export interface ClusterListenOptions {
  /** The cluster (its slot map decides which nodes are listened to). */
  conn: ClusterConnection;
  /** The keyspace/keyevent channels and patterns, subscribed on every master. */
  subscriptions: readonly Subscription[];
  /** The `notify-keyspace-events` letters they need. */
  needed: string;
  /** false (`--no-config`): read the setting and warn, change nothing. */
  change: boolean;
  /** `--restore-config`: put each node's setting back when it is left. */
  restore: boolean;
  /** Where nodes' troubles and changes are reported. */
  reporter: Reporter;
  /** What an outage of a node costs. */
  lossNote: string;
  /** Stops the connects (Ctrl+C). */
  signal?: AbortSignal;
  /** Messages received and not handled yet (for the backlog watch). */
  pending?: () => number;
  /** Each message, with the node it came from. */
  onMessage: (message: PubSubMessage, node: string) => void;
  /** A node subscribed on or dropped (after it is reported on stderr). */
  onNode?: (change: NodeChange) => void;
  /** Something that ends the run: every subscription refused, notifications that cannot be had on a new master. */
  onFatal: (err: CliError) => void;
}

/** One master listened to: its subscriber; closing it leaves the node (notifications put back with `restore`). */
interface Listened {
  sub: SubscriberConnection;
  close(): Promise<void>;
  /** When its subscriber connection was last lost (epoch ms), until it is back. */
  lostAt?: number;
}

/**
 * Subscribes on every master of a cluster (a {@linkcode SubscriberConnection}
 * per master, with its notifications checked as on one server) and follows
 * the slot map: a promoted replica or a new master is subscribed on, a node
 * that serves no slots any more is dropped, and what may have been missed in
 * between is said.
 *
 * @example
 * ```ts ignore
 * const listeners = await ClusterListeners.start({ conn, subscriptions, needed: "K$", change: true, restore: false,
 *   reporter, lossNote: "", onMessage: (m, node) => console.log(node, m.channel), onFatal: console.error });
 * await listeners.close();
 * ```
 */
export class ClusterListeners {
  readonly #nodes: PerMaster<Listened>;
  #untrack: () => void = () => {};

  private constructor(private readonly options: ClusterListenOptions) {
    const { reporter, conn } = options;
    this.#nodes = new PerMaster(conn, {
      open: (node) => this.#add(node),
      openFailed: (node, err, first) => {
        if (first) throw err; // at the start every master must be listened to
        if (err instanceof CliError && err.exitCode !== ExitCode.Connect) return options.onFatal(err);
        reporter.warn(
          `Could not listen on the new master ${node} (${err.message.split("\n")[0]}): events of its keys ` +
            `(slots ${describeSlots(rangesOf(conn.owners, node))}) are not received.`,
        );
      },
      opened: (node, _listened, first) => {
        const slots = describeSlots(rangesOf(conn.owners, node));
        if (!first) reporter.ok(`Listening on ${node} too now (master of slots ${slots}).`);
        options.onNode?.({ node, change: "subscribed", slots });
      },
      dropped: (node, listened, before) => this.#dropped(node, listened, before),
    }, reporter);
  }

  /**
   * Subscribes on every master and starts following the slot map.
   *
   * @param options the cluster, the subscriptions, the letters and the handlers
   * @returns the listeners, subscribed on every master
   * @throws {CliError} when a master cannot be reached or its notifications cannot be had
   */
  static async start(options: ClusterListenOptions): Promise<ClusterListeners> {
    const self = new ClusterListeners(options);
    try {
      await self.#nodes.sync();
    } catch (err) {
      await self.close();
      throw err;
    }
    self.#untrack = options.conn.onTopologyChange(() => void self.#nodes.sync());
    return self;
  }

  /** The masters listened to now, `host:port`, in slot order. */
  get nodes(): string[] {
    return this.#nodes.entries().map(([node]) => node);
  }

  /** Resolves when the slot map changes seen so far have been followed (subscriptions made, nodes dropped). */
  settled(): Promise<void> {
    return this.#nodes.settled();
  }

  /** Notifications checked on `node`, then a subscriber there; closing it leaves the node. */
  async #add(node: string): Promise<Listened> {
    const { reporter, restore } = this.options;
    const notify = await NotifyingNode.open({
      conn: this.options.conn,
      node,
      needed: this.options.needed,
      change: this.options.change,
      reporter,
      ...(this.options.signal ? { signal: this.options.signal } : {}),
    });
    let entry: Listened | undefined; // set below, once subscribing starts
    let sub: SubscriberConnection;
    try {
      sub = await SubscriberConnection.open({
        url: notify.url,
        clusterNode: true,
        reporter,
        lossNote: this.options.lossNote,
        ...(this.options.signal ? { signal: this.options.signal } : {}),
        ...(this.options.pending ? { pending: this.options.pending } : {}),
        onRestored: () => {
          if (entry) delete entry.lostAt;
          void notify.ensure().catch((err) => err instanceof CliError ? this.options.onFatal(err) : undefined);
        },
      });
    } catch (err) {
      await notify.close(restore);
      throw err;
    }
    const stop = onMessage(sub.redis, (m) => this.options.onMessage(m, node));
    const listened: Listened = entry = {
      sub,
      close: async () => {
        stop();
        await sub.unsubscribe();
        await sub.close();
        await notify.close(restore);
      },
    };
    sub.redis.on("close", () => (listened.lostAt ??= Date.now()));
    sub.failed.then((err) => this.options.onFatal(err));
    try {
      await sub.subscribe(this.options.subscriptions);
    } catch (err) {
      await listened.close();
      throw err;
    }
    return listened;
  }

  /** Says that `node` is no longer listened to, where its slots went, and what may have been missed. */
  #dropped(node: string, entry: Listened, before: SlotOwners): void {
    const owners = this.options.conn.owners;
    const moves = topologyChanges(before, owners).filter((m) => m.from === node);
    const slots = describeSlots(rangesOf(before, node));
    const to = [...new Set(moves.map((m) => m.to).filter((t) => t !== ""))].join(", ") || "no node";
    const missedMs = entry.lostAt !== undefined ? Date.now() - entry.lostAt : undefined;
    const missed = missedMs !== undefined
      ? `events of those keys from ${clock(new Date(entry.lostAt!))}, when it was lost, until now ` +
        `(${(missedMs / 1000).toFixed(1)} s) were missed: notifications are not kept for absent listeners`
      : "events of keys written while the slots moved may have been missed";
    this.options.reporter.warn(
      `No longer listening on ${node}: it serves no slots any more (slots ${slots} are on ${to} now); ${missed}.`,
    );
    this.options.onNode?.({ node, change: "dropped", slots, ...(missedMs !== undefined ? { missedMs } : {}) });
  }

  /**
   * The outage fields of a JSON summary, summed over every node listened to (dropped ones too).
   *
   * @returns the fields, as {@linkcode SubscriberConnection.outageJson} gives them for one server
   */
  outageJson(): OutageFields {
    const all = this.#nodes.all().map((e) => e.sub.outageJson());
    const sum = (f: (o: OutageFields) => number) => all.reduce((t, o) => t + f(o), 0);
    const known = all.every((o) => o.discarded_at_least !== undefined);
    return {
      outages: sum((o) => o.outages),
      disconnected_seconds: Math.round(sum((o) => o.disconnected_seconds) * 1000) / 1000,
      fell_behind: sum((o) => o.fell_behind),
      server_restarts: sum((o) => o.server_restarts),
      ...(known ? { discarded_at_least: sum((o) => o.discarded_at_least ?? 0) } : {}),
    };
  }

  /** Leaves every node (putting notifications back with `restore`), once the changes being followed are done. */
  async close(): Promise<void> {
    this.#untrack();
    await this.#nodes.close();
  }
}
