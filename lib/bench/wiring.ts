/**
 * Who connects where in a benchmark run: on one server, every connection
 * goes to it; on a cluster ({@linkcode clusterWiring} in cluster_wiring.ts),
 * to the masters, as the mode needs. {@linkcode runBench} asks the wiring
 * for each subscriber's and publisher's connections and never cares which.
 *
 * @module
 */
import { Connection } from "../core/client.ts";
import type { Reporter } from "../core/output.ts";
import type { SubscriberLeg } from "./bench_subscriber.ts";
import { channelNames } from "./modes.ts";

/** A node the run uses, with a command connection of its own (for CLIENT LIST, INFO, cleanup). */
export interface WiredNode {
  /** Its name: `host:port` on a cluster, the redacted URL on one server. */
  node: string;
  /** A command connection to it. */
  cmd: Connection;
}

/** One publisher's connections: one, or one per node it sends to, and which sends to each name. */
export interface PublisherWiring {
  /** The connections. */
  conns: Connection[];
  /** The node of each connection. */
  nodes: string[];
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
   * Opens one subscriber's connections.
   *
   * @param index the subscriber's index
   * @returns its connections, each with the names it takes
   */
  subscriber(index: number): Promise<SubscriberLeg[]>;
  /**
   * Opens one publisher's connections.
   *
   * @param index the publisher's index
   * @returns its connections
   */
  publisher(index: number): Promise<PublisherWiring>;
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
  const open = () => Connection.open({ url, reporter, reconnect: false, signal });
  const cmd = await open();
  return {
    names: channelNames(options.run, options.channels),
    nodes: [{ node: cmd.address, cmd }],
    subscriber: async () => {
      const conn = await open();
      return [{ conn, node: cmd.address, names: channelNames(options.run, options.channels) }];
    },
    publisher: async () => ({ conns: [await open()], nodes: [cmd.address] }),
    close: () => cmd.close(),
  };
}
