/**
 * Where the event processor's and the demo's topics travel: plain channels
 * on one server (as always), plain channels on a cluster (PUBLISH is
 * broadcast to every node: one subscription anywhere suffices), or sharded
 * channels (`--sharded`: SSUBSCRIBE/SPUBLISH, each topic on its slot's
 * node on a cluster; Redis ≥ 7 and Valkey, not KeyDB). The choice is made
 * once at startup, so one server's path stays what it was.
 *
 * @module
 */
import type { Buffer } from "node:buffer";
import type { Redis } from "ioredis";
import type { Flags, OptionSpec } from "../core/cli.ts";
import { Connection } from "../core/client.ts";
import { CliError, ExitCode, UsageError } from "../core/exit_codes.ts";
import { toSeconds } from "../core/json_event.ts";
import type { Reporter } from "../core/output.ts";
import { ClusterConnection } from "../cluster/cluster_connection.ts";
import type { Target } from "../cluster/target.ts";
import {
  type Confirmation,
  onMessage,
  type PubSubMessage,
  subscribeAll,
  type Subscription,
  unsubscribeAll,
} from "../pubsub/subscribe.ts";
import { type OutageFields, SubscriberConnection, type SubscriberOptions } from "../pubsub/subscriptions.ts";

/** `--sharded`: the topics as sharded channels. */
export const TOPIC_OPTIONS: Record<string, OptionSpec> = {
  sharded: {
    type: "boolean",
    help: "topics are sharded channels: SSUBSCRIBE and SPUBLISH (Redis ≥ 7, Valkey; on a cluster each topic " +
      "lives on the node of its slot)",
  },
};

/**
 * Refuses `--sharded` with `--durable`, whose topics are streams.
 *
 * @param flags the parsed command line
 * @throws {UsageError} when both are given
 */
export function refuseTopicFlags(flags: Flags): void {
  if (flags.boolean("sharded")) {
    throw new UsageError("--sharded is for pub/sub topics; --durable reads streams (each stream lives on its slot)");
  }
}

/** The outage fields of a summary, with what a cluster adds. */
export interface TopicOutageFields extends OutageFields {
  /** On a cluster: how many times the slot map changed (a failover, a resharding). */
  slot_map_changes?: number;
}

/** A subscriber connection for the topics, as {@linkcode SubscriberConnection} is for one server. */
export interface TopicSubscriber {
  /** The ioredis client (for message listeners): a connection, or the cluster. */
  readonly redis: Redis;
  /** The server's or cluster's address, password hidden. */
  readonly address: string;
  /** Resolves with the error to stop with when every subscription is refused after a reconnect. */
  readonly failed: Promise<CliError>;
  /** Subscribes (SUBSCRIBE, or SSUBSCRIBE one topic at a time: each may live on another node). */
  subscribe(subscriptions: Subscription[], onConfirm: (c: Confirmation) => void): Promise<void>;
  /** Leaves every subscription. */
  unsubscribe(): Promise<void>;
  /** Delivers every message to `handler`; returns a function that stops. */
  listen(handler: (message: PubSubMessage) => void): () => void;
  /** The summary's lines about outages, or undefined. */
  outageSummary(cost: string): string | undefined;
  /** The summary's outage fields. */
  outageJson(): TopicOutageFields;
  /** Closes the connection(s). */
  close(): Promise<void>;
}

/** A connection that publishes on the topics. */
export interface TopicPublisher {
  /** The client: a connection, or the cluster (SPUBLISH routed by slot). */
  readonly redis: Redis;
  /** Closes it. */
  close(): Promise<void>;
}

/** How a {@linkcode TopicPublisher} connects. */
export interface TopicPublisherOptions {
  /** Where outages are reported. */
  reporter: Reporter;
  /** Queue results while no server (or node) takes them. */
  offlineQueue?: boolean;
  /** Stops the first connect. */
  signal?: AbortSignal;
  /** Fail at once when the connection is lost (the demo) instead of reconnecting. */
  reconnect?: boolean;
  /** Send the commands of one tick in one write (a processor's results: one write per burst, not per event). */
  autoPipelining?: boolean;
}

/** Opens the topics' connections for one target. */
export interface TopicTransport {
  /** Whether the topics are sharded channels (SPUBLISH, SSUBSCRIBE). */
  readonly sharded: boolean;
  /** Whether this is a cluster. */
  readonly cluster: boolean;
  /** Opens a subscriber. */
  subscriber(options: Omit<SubscriberOptions, "url">): Promise<SubscriberConnection | TopicSubscriber>;
  /** Opens a publisher. */
  publisher(options: TopicPublisherOptions): Promise<TopicPublisher>;
}

/**
 * The topics' connections for a target: plain channels on one server are
 * a {@linkcode SubscriberConnection} and a {@linkcode Connection}, exactly
 * as before; the other cases are a {@linkcode TopicSubscriber}.
 *
 * @param target one server or a cluster
 * @param sharded `--sharded`
 * @returns the transport
 */
export function topicTransport(target: Target, sharded: boolean): TopicTransport {
  if (!target.cluster) {
    const url = target.url;
    return {
      sharded,
      cluster: false,
      subscriber: async (options) => {
        if (!sharded) return await SubscriberConnection.open({ url, ...options });
        return new ShardedOrClusterSubscriber(await Connection.open({ url, ...options }), true);
      },
      publisher: (options) => Connection.open({ url, ...options }),
    };
  }
  const urls = target.urls;
  return {
    sharded,
    cluster: true,
    subscriber: async (options) => {
      const conn = await ClusterConnection.open({
        urls,
        reporter: options.reporter,
        shardedSubscribers: sharded,
        ...(options.signal ? { signal: options.signal } : {}),
        lossNote: options.lossNote ??
          "Events published while its subscriptions move to another node are lost: pub/sub keeps nothing.",
      });
      return new ShardedOrClusterSubscriber(conn, sharded);
    },
    publisher: async (options) => {
      const conn = await ClusterConnection.open({
        urls,
        reporter: options.reporter,
        offlineQueue: options.offlineQueue ?? false,
        ...(options.signal ? { signal: options.signal } : {}),
        ...(options.autoPipelining ? { autoPipelining: true } : {}),
      });
      // The cluster routes SPUBLISH by its channel's slot, PUBLISH to any node; its methods are those of one connection.
      return { redis: conn.cluster as unknown as Redis, close: () => conn.close() };
    },
  };
}

/** A subscriber on one server with sharded channels, or on a cluster (plain or sharded). */
class ShardedOrClusterSubscriber implements TopicSubscriber {
  readonly failed: Promise<CliError> = new Promise(() => {});
  readonly #names: string[] = [];
  readonly #plain: Subscription[] = [];

  constructor(private readonly conn: Connection | ClusterConnection, private readonly sharded: boolean) {}

  get redis(): Redis {
    return this.conn instanceof ClusterConnection ? this.conn.cluster as unknown as Redis : this.conn.redis;
  }

  get address(): string {
    return this.conn.address;
  }

  async subscribe(subscriptions: Subscription[], onConfirm: (c: Confirmation) => void): Promise<void> {
    if (!this.sharded) {
      this.#plain.push(...subscriptions);
      return await subscribeAll(this.redis, subscriptions, onConfirm);
    }
    for (const s of subscriptions) {
      if (s.kind === "pattern") throw new UsageError(`Sharded channels take no patterns (${s.name}): drop --sharded`);
      let active: number;
      try {
        active = Number(await this.redis.ssubscribe(s.name));
      } catch (err) {
        throw noShardedPubSub(err, this.address);
      }
      this.#names.push(s.name);
      onConfirm({ ...s, active });
    }
  }

  async unsubscribe(): Promise<void> {
    if (!this.sharded) return await unsubscribeAll(this.redis, this.#plain);
    // One at a time: each channel may live on another node.
    for (const name of this.#names.splice(0)) await this.redis.sunsubscribe(name).catch(() => {});
  }

  listen(handler: (message: PubSubMessage) => void): () => void {
    if (!this.sharded) return onMessage(this.redis, handler);
    const direct = (channel: Buffer, payload: Buffer) => handler({ channel: channel.toString(), payload });
    this.redis.on("smessageBuffer", direct);
    return () => void this.redis.off("smessageBuffer", direct);
  }

  outageSummary(cost: string): string | undefined {
    return this.conn.outageSummary(cost);
  }

  outageJson(): TopicOutageFields {
    const base = { fell_behind: 0, server_restarts: 0 };
    if (this.conn instanceof ClusterConnection) {
      return {
        outages: this.conn.outages,
        disconnected_seconds: 0,
        ...base,
        slot_map_changes: this.conn.topologyChanges,
      };
    }
    return { outages: this.conn.outages, disconnected_seconds: toSeconds(this.conn.downMs), ...base };
  }

  close(): Promise<void> {
    return this.conn.close();
  }
}

/**
 * What a refused SSUBSCRIBE means: a server without sharded pub/sub (KeyDB, Redis before 7) says so in one line.
 *
 * @param err the error
 * @param address the server
 * @returns the error to stop with
 */
export function noShardedPubSub(err: unknown, address: string): Error {
  const text = err instanceof Error ? err.message : String(err);
  if (!/unknown command|ERR unknown|not supported/i.test(text)) return err instanceof Error ? err : new Error(text);
  return new CliError(
    ExitCode.NoSubscription,
    `${address} has no sharded pub/sub (SSUBSCRIBE refused: ${text.split("\n")[0]}): it needs Redis 7 or later or ` +
      `Valkey (KeyDB has none: it scales with active replicas, as compose.yaml runs them). Drop --sharded.`,
  );
}
