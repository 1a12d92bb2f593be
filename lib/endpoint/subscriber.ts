/**
 * A subscriber to channels, patterns and sharded channels on a server or a
 * cluster, its subscriptions kept across outages, each outage reported with
 * what it cost.
 *
 * @module
 */
import type { CliError } from "../core/exit_codes.ts";
import type { Reporter } from "../core/output.ts";
import type { Confirmation, PubSubMessage, Subscription } from "../pubsub/subscribe.ts";
import type { OutageFields } from "../pubsub/subscriptions.ts";

/** How a {@linkcode Subscriber} behaves. */
export interface SubscriberOptions {
  /** Where outages, drops and moves are reported. */
  reporter: Reporter;
  /** What an outage costs, added to the "lost" line. */
  lossNote?: string;
  /** Stops the first connect at once (Ctrl+C). */
  signal?: AbortSignal;
  /** Messages received and not handled yet (a local pile-up means the script is behind). */
  pending?: () => number;
  /** What this script offers to keep up, e.g. `--quiet`: said before the general advice when it falls behind. */
  remedies?: string[];
}

/** A sharded channel that now lives on another master of a cluster. */
export interface ShardMove {
  /** The sharded channel. */
  channel: string;
  /** Its hash slot. */
  slot: number;
  /** The master that served it (`host:port`). */
  from: string;
  /** The master that serves it now. */
  to: string;
}

/** The outage fields of a subscriber's JSON summary, with what a cluster adds. */
export interface SubscriberOutageFields extends OutageFields {
  /** On a cluster: how many times the slot map changed. */
  topology_changes?: number;
  /** On a cluster: how many times a subscribed sharded channel moved to another master. */
  shard_moves?: number;
  /** On a cluster: sharded messages received per node (`host:port`). */
  nodes?: Record<string, number>;
}

/** Subscriptions on one server or a cluster. */
export interface Subscriber {
  /** The address, password hidden. */
  readonly address: string;
  /** Whether the subscriptions are live now. */
  readonly ready: boolean;
  /** On a cluster, the node (`host:port`) plain channels and patterns are subscribed on now; else undefined. */
  readonly node: string | undefined;
  /** Resolves with the error to stop with when the server refuses every subscription after a reconnect. */
  readonly failed: Promise<CliError>;
  /**
   * Subscribes to each channel, pattern and sharded channel on its own; one the server refuses is reported and left
   * out, the others go on.
   *
   * @param subscriptions what to subscribe to
   * @param onConfirm called for each confirmation (with the node of a sharded channel on a cluster)
   * @throws {CliError} exit code 2 when sharded pub/sub is missing, 8 when every subscription is refused
   */
  subscribe(subscriptions: readonly Subscription[], onConfirm?: (confirmation: Confirmation) => void): Promise<void>;
  /** Leaves every subscription, waiting at most a second; the messages that came before its confirmation are delivered. */
  unsubscribe(): Promise<void>;
  /**
   * Delivers every message to `handler`.
   *
   * @returns a function that stops delivering
   */
  listen(handler: (message: PubSubMessage) => void): () => void;
  /**
   * Holds back the reading of incoming messages until the function returned is called, so that the handlers of a
   * flood get their turn (EventSubscriber, when its queue is full); undefined where it cannot (a cluster's).
   */
  pauseReading?(): (() => void) | undefined;
  /** Calls `listener` when a subscribed sharded channel moves to another master (never on one server). */
  onMove(listener: (move: ShardMove) => void): void;
  /**
   * The summary's lines about outages, or undefined when there was none.
   *
   * @param cost what an outage cost, e.g. `messages published then were not received.`
   */
  outageSummary(cost: string): string | undefined;
  /** The outage fields of a JSON summary. */
  outageJson(): SubscriberOutageFields;
  /** Closes it, leaving nothing behind. */
  close(): Promise<void>;
}
