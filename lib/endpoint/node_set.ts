/**
 * One of something per node that holds data — a connection, a subscriber for
 * the node's keyspace notifications — for the features that need every
 * node: each master of a cluster, followed through failovers and
 * reshardings, or the one server.
 *
 * @module
 */
import type { Redis } from "ioredis";
import type { Connection } from "../core/client.ts";
import type { Reporter } from "../core/output.ts";

/** A node to open something on. */
export interface NodeRef {
  /** Its `host:port`. */
  id: string;
  /** Its URL, with the target's scheme, credentials (and, on one server, database). */
  url: string;
  /** Whether it is a node of a cluster (a connection of its own to it must not refuse that). */
  clusterNode: boolean;
  /** The slots it serves, in words (`0-5460`), or `all` on one server. */
  readonly slots: string;
  /** A hash tag (`{12}`) that puts a key on the slots it serves now; `""` on one server, which holds every key. */
  readonly keyTag: string;
  /** Its `host:port` where output names the node among several (a cluster's masters); undefined on one server. */
  readonly label: string | undefined;
}

/** A node with a command connection to it, as {@linkcode Link.nodes} gives it. */
export interface LinkedNode extends NodeRef {
  /**
   * Commands to the node itself (CONFIG, INFO, PUBSUB, a SCAN of its keys): on one server, the link's own
   * connection; on a cluster, a connection to this master.
   */
  readonly redis: Redis;
  /** Whether that connection is up now. */
  readonly ready: boolean;
  /** Resolves when that connection is up (at once if it is). */
  whenReady(): Promise<void>;
}

/** What to open on each node, and what to be told. */
export interface NodeHooks<T, R extends NodeRef = NodeRef> {
  /** Opens what `node` needs. */
  open(node: R): Promise<T>;
  /**
   * `open` failed for `node`; `first`: at the start. Throwing at the start fails it; later, the default is a warning
   * and another try at the next change of the cluster's slot map.
   */
  openFailed?(node: NodeRef, err: Error, first: boolean): void;
  /** Opened on `node`; `first`: at the start. */
  opened?(node: R, value: T, first: boolean): void;
  /**
   * Closed on `node` (`host:port`), which serves no slots now (or not the key followed); `slots` are those it served,
   * `to` the nodes that serve them now.
   */
  dropped?(node: string, value: T, slots: string, to: readonly string[]): void;
}

/** How {@linkcode Link.nodes} opens its nodes' connections, and which nodes. */
export interface NodeLinkOptions {
  /** Where each node's connection reports its outages, and where a node that cannot be opened is reported. */
  reporter: Reporter;
  /** Queue a node's commands while its connection is down (default false: fail). */
  offlineQueue?: boolean;
  /** Fail a node's command that gets no reply within this many ms (default: wait as long as it takes). */
  commandTimeoutMs?: number;
  /** Stops the connects at the start (Ctrl+C). */
  signal?: AbortSignal;
  /** Only the node serving this key (followed as the key's slot moves), not every one. */
  holding?: string;
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

/**
 * The node of one server at `url`.
 *
 * @param url the server's URL
 * @returns the node: every slot, no hash tag needed, no label
 * @example
 * ```ts
 * import { serverNode } from "./node_set.ts";
 * import assert from "node:assert/strict";
 * const node = serverNode("redis://:pw@127.0.0.1:6380/2");
 * assert.equal(node.id, "127.0.0.1:6380");
 * assert.equal(node.slots, "all");
 * assert.equal(node.label, undefined);
 * ```
 */
export function serverNode(url: string): NodeRef {
  const parsed = new URL(url);
  return {
    id: `${parsed.hostname}:${parsed.port || 6379}`,
    url,
    clusterNode: false,
    slots: "all",
    keyTag: "",
    label: undefined,
  };
}

/**
 * The set of one server's one `T`: opened now, never changing.
 *
 * @param node the server
 * @param hooks what to open on it
 * @returns the set
 * @throws what `hooks.open` threw
 */
export async function oneNode<T extends Closable, R extends NodeRef>(
  node: R,
  hooks: NodeHooks<T, R>,
): Promise<NodeSet<T>> {
  const value = await hooks.open(node);
  hooks.opened?.(node, value, true);
  let closed = false;
  return {
    entries: () => closed ? [] : [[node.id, value]],
    all: () => [value],
    settled: () => Promise.resolve(),
    close: async () => {
      if (closed) return;
      closed = true;
      await value.close();
    },
  };
}

/**
 * A node with `conn` as its command connection.
 *
 * @param ref the node
 * @param conn a connection to it
 * @returns the node with its connection
 */
export function linkedNode(ref: NodeRef, conn: Connection): LinkedNode {
  return {
    id: ref.id,
    url: ref.url,
    clusterNode: ref.clusterNode,
    get slots() {
      return ref.slots;
    },
    get keyTag() {
      return ref.keyTag;
    },
    label: ref.label,
    redis: conn.redis,
    get ready() {
      return conn.ready;
    },
    whenReady: () =>
      conn.ready ? Promise.resolve() : new Promise((resolve) => conn.redis.once("ready", () => resolve())),
  };
}
