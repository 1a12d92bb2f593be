/**
 * Who connects where in a benchmark run: on one server, every connection
 * goes to it; on a cluster ({@linkcode clusterWiring} in cluster_wiring.ts),
 * to the masters, as the mode needs. {@linkcode runBench} asks the wiring
 * where each subscriber's and publisher's connections go (plain data, for
 * the worker that opens them) and never cares which.
 *
 * @module
 */
import { Connection } from "../core/client.ts";
import { redactUrl } from "../core/config.ts";
import { UsageError } from "../core/exit_codes.ts";
import type { Reporter } from "../core/output.ts";
import { isLoopback } from "./loopback.ts";
import { channelNames } from "./modes.ts";

/** A node the run uses, with a command connection of its own (for CLIENT LIST, INFO, cleanup). */
export interface WiredNode {
  /** Its name: `host:port` on a cluster, the redacted URL on one server. */
  node: string;
  /** A command connection to it. */
  cmd: Connection;
}

/** Where one connection goes. */
export interface ConnPlan {
  /** The URL to open. */
  url: string;
  /** The node's name: `host:port` on a cluster, the redacted URL on one server. */
  node: string;
  /** A node of a cluster (its own connection to that node, as `Connection.open` takes it). */
  clusterNode: boolean;
}

/** One connection of a subscriber: where it goes and the names it takes there. */
export interface LegPlan extends ConnPlan {
  /** The channels (or streams) it subscribes to (or reads) on that node. */
  names: string[];
}

/** One publisher's connections: one, or one per node it sends to, and which sends to each name. */
export interface PublisherPlan {
  /** The connections. */
  conns: ConnPlan[];
  /** For each of the run's names, the index in `conns` that sends to it (undefined: all on the first). */
  route?: number[];
}

/** Where the run's channels live on a cluster, and who connected where, for the report. */
export interface ClusterLayout {
  /** The masters (`host:port`), in slot order. */
  masters: string[];
  /** The node serving each channel (or stream), by name. */
  channels: Record<string, string>;
  /** The nodes each publisher sends to. */
  publisherNodes: string[][];
  /** The nodes each subscriber is connected to. */
  subscriberNodes: string[][];
}

/** The connections of one run. */
export interface Wiring {
  /** The run's channel (or stream) names. */
  names: string[];
  /** Every node with a command connection: the server, or every master. */
  nodes: WiredNode[];
  /**
   * Where one subscriber's connections go.
   *
   * @param index the subscriber's index
   * @returns its connections, each with the names it takes
   */
  subscriber(index: number): LegPlan[];
  /**
   * Where one publisher's connections go.
   *
   * @param index the publisher's index
   * @returns its connections
   */
  publisher(index: number): PublisherPlan;
  /** The layout on a cluster (filled in as connections open), undefined on one server. */
  layout?: ClusterLayout;
  /** Closes the command connections (and the cluster client). */
  close(): Promise<void>;
}

/** What opening a wiring needs. */
export interface WiringOptions {
  /** Where connection trouble is reported. */
  reporter: Reporter;
  /** Stops connecting (Ctrl+C). */
  signal: AbortSignal;
  /** The run's unique tag, for its names. */
  run: string;
  /** How many channels (or streams). */
  channels: number;
  /** Allow a server (or cluster nodes) not on loopback. */
  allowRemote: boolean;
}

/**
 * Refuses a server that is not on loopback, before anything connects (bench.ts is a load generator).
 *
 * @param url the server's (or a seed's) URL
 * @throws {UsageError} naming it and `--allow-remote`
 */
export function refuseRemoteUrl(url: string): void {
  if (isLoopback(url)) return;
  throw new UsageError(
    `${redactUrl(url)} is not on this machine: bench.ts is a load generator and runs against loopback only.\n` +
      "Give --allow-remote to load a remote server you own.",
  );
}

/**
 * The wiring of a run on one server: every connection to `url`.
 *
 * @param url the server
 * @param options reporter, signal, run tag, channels
 * @returns the wiring, its command connection open
 * @throws {CliError} when the server cannot be reached (exit code 3)
 */
export async function singleWiring(url: string, options: WiringOptions): Promise<Wiring> {
  const { reporter, signal } = options;
  if (!options.allowRemote) refuseRemoteUrl(url);
  const open = () => Connection.open({ url, reporter, reconnect: false, signal });
  const cmd = await open();
  const names = channelNames(options.run, options.channels);
  const plan: ConnPlan = { url, node: cmd.address, clusterNode: false };
  return {
    names,
    nodes: [{ node: cmd.address, cmd }],
    subscriber: () => [{ ...plan, names }],
    publisher: () => ({ conns: [plan] }),
    close: () => cmd.close(),
  };
}
