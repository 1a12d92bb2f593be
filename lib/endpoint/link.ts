/**
 * A command link to a server or a cluster: what every script sends its
 * commands through, the same whatever the target, with the same outage
 * reporting.
 *
 * @module
 */
import type { Redis, RedisCommander } from "ioredis";
import type { Reporter } from "../core/output.ts";
import type { Closable, LinkedNode, NodeHooks, NodeLinkOptions, NodeSet } from "./node_set.ts";

/**
 * The commands a link sends: those of one ioredis connection, which a
 * cluster client routes by slot. Both `Redis` and `Cluster` are this type.
 */
export type Commands = RedisCommander<{ type: "default"; mapping: "resp2" }> & Pick<Redis, "pipeline" | "multi">;

/** How a {@linkcode Link} behaves. */
export interface LinkOptions {
  /** Where outages and reconnections are reported. */
  reporter: Reporter;
  /** Queue commands while the server (or a slot's node) is away and send them when it is back (default false: fail). */
  offlineQueue?: boolean;
  /** After the first connect, reconnect when the server goes away (default true; a cluster always does). */
  reconnect?: boolean;
  /** What an outage costs, added to the "lost" line. */
  lossNote?: string;
  /** How long the first connect may take, in ms (default 5000). */
  connectTimeoutMs?: number;
  /** Fail a command that gets no reply within this many ms (default: wait as long as it takes). */
  commandTimeoutMs?: number;
  /** Send the commands of one turn of the event loop in one write (per node). */
  autoPipelining?: boolean;
  /** Stops the first connect at once (Ctrl+C): opening then throws a CliError with code 0. */
  signal?: AbortSignal;
  /** The database its commands go to, on one server (a cluster has only database 0); default: the URL's. */
  db?: number;
  /**
   * Where a cluster's own events (a node lost or back, slots moved) are reported, and what losing one of its nodes
   * costs, when not as `reporter` and `lossNote` say; one server has no such events.
   */
  topology?: { reporter?: Reporter; lossNote?: string };
}

/** The outage fields of a summary, for a link. */
export interface LinkOutageFields {
  /** How many times the server (or a node) was lost. */
  outages: number;
  /** How long, in seconds rounded to the millisecond. */
  disconnected_seconds: number;
  /** On a cluster: how many times the slot map changed (a failover, a resharding). */
  slot_map_changes?: number;
}

/** A connection for commands: one server's, or a cluster's (routed by slot). */
export interface Link {
  /** The address, password hidden, for every message: `redis://…`, or `cluster redis://…`. */
  readonly address: string;
  /** The commands. */
  readonly redis: Commands;
  /** Whether commands can be sent now (the server connected; on a cluster, every slot served). */
  readonly ready: boolean;
  /** How many times the server (or a node) was lost after the first connect. */
  readonly outages: number;
  /** How long it was lost, in ms (an outage still going on counts up to now). */
  readonly downMs: number;
  /**
   * Calls `listener` when the link is usable again after an outage (a server back; on a cluster, the slot map changed:
   * a replica took over, slots moved).
   *
   * @returns a function that removes the listener
   */
  onRestored(listener: () => void): () => void;
  /**
   * Calls `listener` when a cluster node (`host:port`) is no longer a master and its slots went to `successor` (a
   * failover; `""` when no single node took them): what it acknowledged and had not yet passed to its replica may be
   * lost. Never called on one server.
   *
   * @returns a function that removes the listener
   */
  onNodeReplaced(listener: (node: string, successor: string) => void): () => void;
  /**
   * Calls `listener` when writes the server confirmed may since be gone: one server's connection closed (it may come
   * back without its data, or a replica answer at its address); on a cluster, the slot map changed (a replica that took
   * over may lack its master's last writes, replication being asynchronous).
   *
   * @returns a function that removes the listener
   */
  onWritesAtRisk(listener: () => void): () => void;
  /**
   * Whether a command failed for want of the server rather than because it refused it: the link not ready, the
   * connection lost; on a cluster also a slot without a master (`CLUSTERDOWN`, `TRYAGAIN`, `MASTERDOWN`) or a node's
   * connection gone. An outage is to be waited out; a refusal, reported.
   *
   * @param err what the command failed with
   */
  isOutage(err: unknown): boolean;
  /**
   * Runs `command`; on a cluster again every 200 ms (for at most 30 s) while it fails because its slot's master is
   * gone and a replica is taking over — a write retried so may be stored twice. On one server it runs once: with the
   * offline queue on, a command waits there for the server instead.
   *
   * @param command the command to send
   * @returns its reply
   */
  throughFailover<T>(command: () => Promise<T>): Promise<T>;
  /**
   * Whether an outage may end without {@linkcode onRestored} firing: on a cluster a node back with the slots it had
   * changes no slot map, so whoever waits tries again now and then. False on one server, whose return always fires it.
   */
  readonly restoresQuietly: boolean;
  /** Who goes away in an outage, for a message: `the server`, or `a cluster node`. */
  readonly outageSubject: string;
  /**
   * Whether PUBLISH's reply counts every subscriber (one server), or only those of the node that took it (a cluster:
   * the message reaches the subscribers of every node, but each node counts its own).
   */
  readonly publishCountsAll: boolean;
  /**
   * The ioredis client of the link's sole server — the options it resolved from the URL, and its status — for a
   * socket of a caller's own to the same server that follows the link's outages (the publish lane,
   * lib/pubsub/publish_lane.ts); undefined on a cluster, whose commands go to many nodes.
   */
  readonly soleServer: Pick<Redis, "options" | "status"> | undefined;
  /** The node (`host:port`) serving `key` now, or undefined on one server (which serves every key). */
  nodeOf(key: string): string | undefined;
  /** Where its commands go, in words for a message: `on redis://…` (one server) or `through the cluster`. */
  readonly via: string;
  /**
   * Whether one command (a script, MULTI, MGET) may touch every one of `keys`: always on one server; on a cluster,
   * when they hash to one slot.
   */
  combinable(keys: readonly string[]): boolean;
  /**
   * The string values of `keys`, in order (null for a key that is absent): one MGET on one server; on a cluster, a
   * GET per key, each on the master serving it.
   */
  getMany(keys: readonly string[]): Promise<(string | null)[]>;
  /**
   * Opens one `T` per node that holds data, each given a command connection to its node, and follows the nodes as
   * this link sees them (no connection of the set's own to watch them): on one server, the server with this link's
   * own connection (left open when the set closes); on a cluster, each master (only the one serving
   * `options.holding`, when given) with a connection opened as `options` say, closed after its `T`.
   *
   * @throws what `hooks.open` threw for a node at the start
   */
  nodes<T extends Closable>(hooks: NodeHooks<T, LinkedNode>, options: NodeLinkOptions): Promise<NodeSet<T>>;
  /**
   * One line for a summary about the outages, or undefined when there was none.
   *
   * @param cost what an outage cost, e.g. `messages published then were not received.`
   */
  outageSummary(cost: string): string | undefined;
  /** The outage fields of a JSON summary. */
  outageJson(): LinkOutageFields;
  /** Closes it, leaving nothing behind. */
  close(): Promise<void>;
}
