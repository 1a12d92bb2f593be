/**
 * Keyspace notifications heard from every node that holds keys: each
 * announces only the changes to its own keys (one server: all of them; a
 * cluster's master: those of its slots), so the listener subscribes on each,
 * with its notifications checked or turned on first. The nodes are followed
 * as the Endpoint's link sees them: a replica promoted or a master added is
 * subscribed on, a node that serves no slots any more is dropped, with what
 * may have been missed in between.
 *
 * @module
 */
import { CliError, ExitCode } from "../core/exit_codes.ts";
import { clock, type Reporter } from "../core/output.ts";
import type { Link } from "../endpoint/link.ts";
import type { LinkedNode, NodeSet } from "../endpoint/node_set.ts";
import type { PubSubMessage, Subscription } from "../pubsub/subscribe.ts";
import { type OutageFields, SubscriberConnection } from "../pubsub/subscriptions.ts";
import { NotifyingNode } from "./notifying_node.ts";

/** A node subscribed on, or dropped, as {@linkcode NodeListeners} tells it (on a cluster: one server has one node). */
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

/** How {@linkcode NodeListeners} listens. */
export interface NodeListenOptions {
  /** The link whose nodes are listened to. */
  link: Link;
  /** The keyspace/keyevent channels and patterns, subscribed on every node. */
  subscriptions: readonly Subscription[];
  /** The database watched. */
  db: number;
  /** The `notify-keyspace-events` letters they need. */
  needed: string;
  /** false (`--no-config`): read the setting and warn, change nothing. */
  change: boolean;
  /** `--restore-config`: put each node's setting back when it is left. */
  restore: boolean;
  /** Where a probe writes its keys when the server is a read-only replica (`--write-url`). */
  writeUrl?: string;
  /** Where nodes' troubles and changes are reported. */
  reporter: Reporter;
  /** What an outage of a node's subscriber costs. */
  lossNote: string;
  /** Stops the connects (Ctrl+C). */
  signal?: AbortSignal;
  /** Messages received and not handled yet (for the backlog watch). */
  pending?: () => number;
  /** Each message, with the node it came from when there are several (its label). */
  onMessage: (message: PubSubMessage, node: string | undefined) => void;
  /** A node of several subscribed on or dropped (after it is reported on stderr). */
  onNode?: (change: NodeChange) => void;
  /** A node's subscriptions are back after an outage, or a new master is listened to: events were missed. */
  onResumed?: () => void;
  /** Something that ends the run: every subscription refused, notifications that cannot be had on a new node. */
  onFatal: (err: CliError) => void;
}

/** One node listened to: its notifications and its subscriber. */
interface Listened {
  sub: SubscriberConnection;
  /** The node's command connection, and whether it is a cluster node. */
  node: LinkedNode;
  /** Stops delivering its messages and unsubscribes (once). */
  leave(): Promise<void>;
  /** Leaves the node: unsubscribes, closes the subscriber, says or undoes what was changed. */
  close(): Promise<void>;
  /** When its subscriber connection was last lost (epoch ms), until it is back. */
  lostAt?: number;
}

/**
 * A {@linkcode SubscriberConnection} on every node that holds keys, with its
 * notifications checked as on one server, following the nodes.
 *
 * @example
 * ```ts ignore
 * const listeners = await NodeListeners.start({ link, subscriptions, db: 0, needed: "K$", change: true,
 *   restore: false, reporter, lossNote: "", onMessage: (m, node) => console.log(node, m.channel), onFatal: console.error });
 * await listeners.close();
 * ```
 */
export class NodeListeners {
  #nodes: NodeSet<Listened> | undefined;

  private constructor(private readonly options: NodeListenOptions) {}

  /**
   * Subscribes on every node and starts following them.
   *
   * @param options the link, the subscriptions, the letters and the handlers
   * @returns the listeners, subscribed on every node
   * @throws {CliError} when a node cannot be reached or its notifications cannot be had
   */
  static async start(options: NodeListenOptions): Promise<NodeListeners> {
    const self = new NodeListeners(options);
    const { reporter } = options;
    self.#nodes = await options.link.nodes({
      open: (node) => self.#add(node),
      openFailed: (node, err, first) => {
        if (first) throw err; // at the start every node must be listened to
        if (err instanceof CliError && err.exitCode !== ExitCode.Connect) return options.onFatal(err);
        reporter.warn(
          `Could not listen on the new master ${node.id} (${err.message.split("\n")[0]}): events of its keys ` +
            `(slots ${node.slots}) are not received.`,
        );
      },
      opened: (node, _listened, first) => {
        if (node.label === undefined) return;
        if (!first) reporter.ok(`Listening on ${node.label} too now (master of slots ${node.slots}).`);
        if (!first) options.onResumed?.();
        options.onNode?.({ node: node.label, change: "subscribed", slots: node.slots });
      },
      dropped: (node, listened, slots, to) => self.#dropped(node, listened, slots, to),
    }, { reporter, offlineQueue: true, ...(options.signal ? { signal: options.signal } : {}) });
    return self;
  }

  /** Notifications checked on `node`, then a subscriber there. */
  async #add(node: LinkedNode): Promise<Listened> {
    const { reporter, restore, signal, pending, onFatal } = this.options;
    const notify = await NotifyingNode.open({
      node,
      db: this.options.db,
      needed: this.options.needed,
      change: this.options.change,
      reporter,
      ...(this.options.writeUrl ? { writeUrl: this.options.writeUrl } : {}),
    });
    let entry: Listened | undefined; // set below, once subscribing starts
    let sub: SubscriberConnection;
    try {
      sub = await SubscriberConnection.open({
        url: node.url,
        clusterNode: node.clusterNode,
        reporter,
        lossNote: this.options.lossNote,
        ...(signal ? { signal } : {}),
        ...(pending ? { pending } : {}),
        onRestored: () => {
          if (entry) delete entry.lostAt;
          this.options.onResumed?.();
          void notify.ensure().catch((err) => err instanceof CliError ? onFatal(err) : undefined);
        },
      });
    } catch (err) {
      await notify.settle(restore);
      throw err;
    }
    const stop = sub.listen((m) => this.options.onMessage(m, node.label));
    let left: Promise<void> | undefined;
    const leave = () => {
      stop();
      return left ??= sub.unsubscribe();
    };
    const listened: Listened = entry = {
      sub,
      node,
      leave,
      close: async () => {
        await leave();
        await sub.close();
        await notify.settle(restore);
      },
    };
    sub.redis.on("close", () => (listened.lostAt ??= Date.now()));
    sub.failed.then(onFatal);
    try {
      await sub.subscribe(this.options.subscriptions);
    } catch (err) {
      await listened.close();
      throw err;
    }
    return listened;
  }

  /** Says that `node` is no longer listened to, where its slots went, and what may have been missed. */
  #dropped(node: string, entry: Listened, slots: string, to: readonly string[]): void {
    const missedMs = entry.lostAt !== undefined ? Date.now() - entry.lostAt : undefined;
    const missed = missedMs !== undefined
      ? `events of those keys from ${clock(new Date(entry.lostAt!))}, when it was lost, until now ` +
        `(${(missedMs / 1000).toFixed(1)} s) were missed: notifications are not kept for absent listeners`
      : "events of keys written while the slots moved may have been missed";
    this.options.reporter.warn(
      `No longer listening on ${node}: it serves no slots any more (slots ${slots} are on ` +
        `${to.join(", ") || "no node"} now); ${missed}.`,
    );
    this.options.onNode?.({ node, change: "dropped", slots, ...(missedMs !== undefined ? { missedMs } : {}) });
  }

  /** Stops delivering messages and leaves every subscription. */
  /** The command connections of the nodes listened to now, for a SCAN of their keys. */
  scanNodes(): { redis: LinkedNode["redis"]; perSlot: boolean }[] {
    return (this.#nodes?.entries() ?? []).map(([, l]) => ({ redis: l.node.redis, perSlot: l.node.clusterNode }));
  }

  async unsubscribe(): Promise<void> {
    await Promise.all((this.#nodes?.entries() ?? []).map(([, listened]) => listened.leave()));
  }

  /**
   * The outage fields of a JSON summary, summed over every node listened to (dropped ones too).
   *
   * @returns the fields, as {@linkcode SubscriberConnection.outageJson} gives them for one server
   */
  outageJson(): OutageFields {
    const all = (this.#nodes?.all() ?? []).map((e) => e.sub.outageJson());
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

  /**
   * The summary's lines about outages: one node's subscriber's own lines when one node was ever listened to; for
   * several, what `several` says (the link's line about the nodes lost and the slot map).
   *
   * @param cost what an outage of the one node cost
   * @param several the lines for several nodes
   * @returns the lines, or undefined when there was no outage
   */
  outageSummary(cost: string, several: () => string | undefined): string | undefined {
    const all = this.#nodes?.all() ?? [];
    return all.length === 1 ? all[0]!.sub.outageSummary(cost) : several();
  }

  /** Leaves every node (putting notifications back with `restore`), once the changes being followed are done. */
  async close(): Promise<void> {
    await this.#nodes?.close();
  }
}
