/**
 * Something of one's own on every master of a cluster — a connection, a
 * subscriber — opened and closed as the slot map changes: a promoted
 * replica or a new master gets one, a node that serves no slots any more
 * has its one closed (and kept, for the counts it holds).
 *
 * @module
 */
import type { Reporter } from "../core/output.ts";
import type { ClusterConnection } from "./cluster_connection.ts";
import { mastersOf, type SlotOwners } from "./topology.ts";

/** What a {@linkcode PerMaster} opens on a master, and what it is told as masters come and go. */
export interface PerMasterHooks<T> {
  /** Opens what the master `node` (`host:port`, reached at `url`) needs. */
  open(node: string, url: string): Promise<T>;
  /**
   * `open` failed for `node`; `first`: in the first sync. Throwing fails that sync (the masters after it are not
   * opened). Default: a warning on the reporter, and the next change of the slot map tries again.
   */
  openFailed?(node: string, err: Error, first: boolean): void;
  /** Opened on `node`; `first`: in the first sync. */
  opened?(node: string, conn: T, first: boolean): void;
  /** Closed on `node`, which serves no slots now; `before` is the slot map it last served in. */
  dropped?(node: string, conn: T, before: SlotOwners): void;
}

/**
 * One `T` per master, kept in step with the slot map by {@linkcode sync}:
 * new masters are opened first, then the nodes that serve nothing are
 * closed (so that nothing of theirs goes unheard meanwhile). Syncs run one
 * after another.
 *
 * @example
 * ```ts ignore
 * const subs = new PerMaster(cluster, { open: (node, url) => SubscriberConnection.open({ url, reporter }) }, reporter);
 * await subs.sync();
 * cluster.onTopologyChange(() => void subs.sync());
 * ```
 */
export class PerMaster<T extends { close(): Promise<void> }> {
  readonly #open = new Map<string, T>();
  /** Those closed because their node serves no slots any more, kept for their counts. */
  readonly #retired: T[] = [];
  /** The slot map of the last sync (undefined before the first). */
  #owners: SlotOwners | undefined;
  #syncing: Promise<void> = Promise.resolve();
  #closed = false;

  /**
   * @param cluster the cluster followed
   * @param hooks what to open on each master, and what to be told
   * @param reporter where a master that cannot be opened is reported (by default)
   * @param select the masters to open one on, from the slot map (default: every one)
   */
  constructor(
    private readonly cluster: ClusterConnection,
    private readonly hooks: PerMasterHooks<T>,
    private readonly reporter: Reporter,
    private readonly select: (owners: SlotOwners) => string[] = mastersOf,
  ) {}

  /**
   * Opens one on each master that has none, then closes those of nodes that serve no slots now.
   *
   * @returns when done (after the syncs asked for before it)
   * @throws what `openFailed` threw
   */
  sync(): Promise<void> {
    this.#syncing = this.#syncing.catch(() => {}).then(() => this.#sync());
    return this.#syncing;
  }

  /** Resolves once the syncs asked for so far are done (failed ones too). */
  settled(): Promise<void> {
    return this.#syncing.catch(() => {});
  }

  async #sync(): Promise<void> {
    if (this.#closed) return;
    const first = this.#owners === undefined;
    const before = this.#owners ?? this.cluster.owners;
    const owners = this.#owners = this.cluster.owners;
    const masters = this.select(owners);
    for (const node of masters.filter((m) => !this.#open.has(m))) {
      let conn: T;
      try {
        conn = await this.hooks.open(node, this.cluster.nodeUrl(node));
      } catch (err) {
        if (this.hooks.openFailed) this.hooks.openFailed(node, err as Error, first);
        else this.reporter.warn(`Cannot reach cluster node ${node} yet: ${(err as Error).message.split("\n")[0]}`);
        continue;
      }
      if (this.#closed) {
        await conn.close();
        return;
      }
      this.#open.set(node, conn);
      this.hooks.opened?.(node, conn, first);
    }
    for (const [node, conn] of [...this.#open].filter(([n]) => !masters.includes(n))) {
      this.#open.delete(node);
      this.#retired.push(conn);
      await conn.close();
      this.hooks.dropped?.(node, conn, before);
    }
  }

  /** The open ones, by master (`host:port`), in slot order. */
  entries(): [string, T][] {
    const order = mastersOf(this.cluster.owners);
    return [...this.#open].sort(([a], [b]) => order.indexOf(a) - order.indexOf(b));
  }

  /** Every one opened so far: those of nodes dropped, then the open ones (for counts over all of them). */
  all(): T[] {
    return [...this.#retired, ...this.#open.values()];
  }

  /** Closes every open one, once the syncs under way are done; no more are opened. */
  async close(): Promise<void> {
    this.#closed = true;
    await this.settled();
    for (const conn of this.#open.values()) await conn.close();
    this.#open.clear();
  }
}
