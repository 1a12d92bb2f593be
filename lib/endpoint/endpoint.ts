/**
 * An Endpoint: what a script connects to, a server or a cluster, behind one
 * interface — command links, subscribers, and one of something per node.
 * {@linkcode endpointFor} is the one place that asks which kind a target is;
 * everything else takes an Endpoint and never asks.
 *
 * @module
 */
import type { Target } from "../cluster/target.ts";
import type { LocalServer } from "../core/local_server.ts";
import { clusterEndpoint } from "./cluster_endpoint.ts";
import type { Link, LinkOptions } from "./link.ts";
import type { Closable, NodeHooks, NodeSet } from "./node_set.ts";
import { serverEndpoint } from "./server_endpoint.ts";
import type { Subscriber, SubscriberOptions } from "./subscriber.ts";

/** How a {@linkcode NodeSet} is opened. */
export interface NodeSetOptions {
  /** Where nodes lost, moved slots and nodes that cannot be opened are reported. */
  reporter: import("../core/output.ts").Reporter;
  /** What losing a node costs, added to the "lost" line. */
  lossNote?: string;
  /** Stops the first connect at once (Ctrl+C). */
  signal?: AbortSignal;
}

/** How {@linkcode Endpoint.standIn} decides and starts. */
export interface StandInOptions {
  /** Start one even when a server answers (`--local`). */
  always: boolean;
  /** Where the connection that tries the address reports trouble. */
  reporter: import("../core/output.ts").Reporter;
  /** `notify-keyspace-events` of the server started. */
  notifications?: string;
  /** The message of the usage error a cluster refuses with: what to run instead. */
  onCluster: string;
}

/**
 * The connection doctor's checks (lib/doctor), one kind for each: a server's, and a cluster's (its state, every node,
 * the slots). The Endpoint runs the kind that fits it.
 */
export interface Checkup<R> {
  /** Checks the server at `url`. */
  server(url: string): Promise<R>;
  /** Checks the cluster whose seeds are `urls`. */
  cluster(urls: string[]): Promise<R>;
}

/** A server or a cluster, to open links, subscribers and per-node sets on. */
export interface Endpoint {
  /** The address, password hidden: `redis://…`, or `cluster redis://…` (the first seed's). */
  readonly address: string;
  /**
   * The database a script works on: `requested` if given, else the URL's, else 0.
   *
   * @param requested the database asked for (`--db`), if any
   * @throws {UsageError} when it has no such database: a cluster has only database 0
   */
  database(requested?: number): number;
  /**
   * The Endpoint of another server that writes go to instead of this one, e.g. the primary of a read-only replica
   * (`--write-url`).
   *
   * @param url that server's URL
   * @param flag the option that named it, for the error
   * @param what what would be written there, for the error, e.g. `the handshake`
   * @throws {UsageError} on a cluster, whose client writes each key on the master serving it
   */
  writesTo(url: string, flag: string, what: string): Endpoint;
  /**
   * Opens a link for commands.
   *
   * @throws {CliError} when the server or cluster cannot be used
   */
  link(options: LinkOptions): Promise<Link>;
  /**
   * Opens a subscriber (nothing subscribed yet).
   *
   * @throws {CliError} when the server or cluster cannot be used
   */
  subscriber(options: SubscriberOptions): Promise<Subscriber>;
  /**
   * Opens one `T` per node that holds data (the server; each master of a cluster, followed as they change).
   *
   * @throws what `hooks.open` threw for a node at the start, or a CliError when the cluster cannot be used
   */
  nodes<T extends Closable>(hooks: NodeHooks<T>, options: NodeSetOptions): Promise<NodeSet<T>>;
  /**
   * A throw-away local server to stand in for this one, for a lab run that named no server of its own (the demo):
   * started with `always`, or when nothing listens at the address (connection refused).
   *
   * @returns the server started (stop it at the end), or undefined when a server answers at the address
   * @throws {UsageError} on a cluster, which no script starts in passing (`onCluster` says what to run instead)
   * @throws {CliError} when the address cannot be tried, or no server binary is installed
   */
  standIn(options: StandInOptions): Promise<LocalServer | undefined>;
  /**
   * Runs the connection doctor's checks that fit this endpoint.
   *
   * @param checkup the checks of each kind
   * @returns what the checks that ran returned
   */
  checkup<R>(checkup: Checkup<R>): Promise<R>;
}

/**
 * The Endpoint of a target.
 *
 * @param target one server, or the seeds of a cluster
 * @returns its Endpoint (nothing is connected yet)
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { endpointFor } from "./endpoint.ts";
 * assert.equal(endpointFor({ cluster: false, url: "redis://:pw@127.0.0.1:6380" }).address, "redis://:***@127.0.0.1:6380");
 * assert.equal(endpointFor({ cluster: true, urls: ["redis://127.0.0.1:7000"] }).address, "cluster redis://127.0.0.1:7000");
 * ```
 */
export function endpointFor(target: Target): Endpoint {
  return target.cluster ? clusterEndpoint(target.urls) : serverEndpoint(target.url);
}
