/**
 * A node whose keyspace notifications were checked or turned on, as
 * {@linkcode ensureNotifications} does, through the command connection the
 * Endpoint gives it; what this run changed there is reported or undone at the
 * end. On a cluster, where CONFIG is refused, the probe key carries a hash
 * tag of the node's own slots.
 *
 * @module
 */
import { redactUrl } from "../core/config.ts";
import type { Reporter } from "../core/output.ts";
import type { LinkedNode } from "../endpoint/node_set.ts";
import { ensureNotifications, type EnsureOutcome, NotifyChanges } from "./notifications.ts";

/** Which node, and what it must announce. */
export interface NotifyingNodeOptions {
  /** The node, with its command connection. */
  node: LinkedNode;
  /** The database watched. */
  db: number;
  /** The `notify-keyspace-events` letters needed, e.g. `K$`. */
  needed: string;
  /** false (`--no-config`): read the setting and warn, change nothing. */
  change: boolean;
  /** Where the outcome is reported. */
  reporter: Reporter;
  /** Where a probe writes its keys when the node is a read-only replica (`--write-url`). */
  writeUrl?: string;
}

/**
 * A node checked to send the events needed.
 *
 * @example
 * ```ts ignore
 * const notify = await NotifyingNode.open({ node, db: 0, needed: "K$", change: true, reporter });
 * await notify.settle(true); // puts notify-keyspace-events back
 * ```
 */
export class NotifyingNode {
  /** What this run changed in the node's `notify-keyspace-events`. */
  readonly changes: NotifyChanges = new NotifyChanges();

  private constructor(private readonly options: NotifyingNodeOptions) {}

  /**
   * Makes sure the node sends the events needed.
   *
   * @param options the node, the letters and how to report
   * @returns the node, checked
   * @throws {CliError} when the events cannot be had (exit code 5)
   */
  static async open(options: NotifyingNodeOptions): Promise<NotifyingNode> {
    const self = new NotifyingNode(options);
    await self.ensure();
    return self;
  }

  /** The node's address for messages (password hidden). */
  get address(): string {
    return redactUrl(this.options.node.url);
  }

  /**
   * Checks (or turns on) the node's notifications again, e.g. after it restarted.
   *
   * @returns what was found and done
   */
  ensure(): Promise<EnsureOutcome> {
    const { node, db, needed, change, reporter, writeUrl } = this.options;
    return ensureNotifications({
      redis: node.redis,
      url: node.url,
      ...(writeUrl ? { writeUrl } : {}),
      db,
      needed,
      change,
      reporter,
      address: this.address,
      changes: this.changes,
      clusterNode: node.clusterNode,
      keyTag: node.keyTag,
    });
  }

  /**
   * Says what stays changed on the node, or, with `restore`, puts it back.
   *
   * @param restore `--restore-config`
   * @returns when done (never throws)
   */
  settle(restore: boolean): Promise<void> {
    const { node, reporter } = this.options;
    return this.changes.settle({ redis: node.redis, restore, reporter, address: this.address });
  }
}
