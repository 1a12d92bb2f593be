/**
 * One of something per node that holds data — a connection, a subscriber for
 * the node's keyspace notifications — for the features that need every
 * node: each master of a cluster, followed through failovers and
 * reshardings, or the one server.
 *
 * @module
 */

/** A node to open something on. */
export interface NodeRef {
  /** Its `host:port`. */
  id: string;
  /** Its URL, with the target's scheme, credentials (and, on one server, database). */
  url: string;
  /** Whether it is a node of a cluster (a connection of its own to it must not refuse that). */
  clusterNode: boolean;
  /** The slots it serves, in words (`0-5460`), or `all` on one server. */
  slots: string;
}

/** What to open on each node, and what to be told. */
export interface NodeHooks<T> {
  /** Opens what `node` needs. */
  open(node: NodeRef): Promise<T>;
  /**
   * `open` failed for `node`; `first`: at the start. Throwing at the start fails it; later, the default is a warning
   * and another try at the next change of the cluster's slot map.
   */
  openFailed?(node: NodeRef, err: Error, first: boolean): void;
  /** Opened on `node`; `first`: at the start. */
  opened?(node: NodeRef, value: T, first: boolean): void;
  /** Closed on `node` (`host:port`), which serves no slots now; `slots` are those it served. */
  dropped?(node: string, value: T, slots: string): void;
}

/** Something that closes. */
export interface Closable {
  /** Closes it. */
  close(): Promise<void>;
}

/** One `T` per node, kept in step with the nodes. */
export interface NodeSet<T extends Closable> {
  /** The open ones by node (`host:port`), in slot order. */
  entries(): [string, T][];
  /** Every one opened so far, those of nodes dropped included (for counts over all of them). */
  all(): T[];
  /** Resolves once the changes of nodes seen so far have been followed. */
  settled(): Promise<void>;
  /** Closes every open one, and what the set itself opened. */
  close(): Promise<void>;
}
