/**
 * How publisher.ts's messages go out over a link: the sender its link and
 * flags call for, and what the replies' receiver counts mean there.
 *
 * @module
 */
import type { CliError } from "../core/exit_codes.ts";
import type { Link } from "../endpoint/link.ts";
import { type BatchSender, publishSender, type SeriesResult } from "../pubsub/publish.ts";
import { PublishLane } from "../pubsub/publish_lane.ts";
import { noShardedPubSub, shardedUnsupported, spublishSender } from "../pubsub/sharded.ts";

/** What a route that sends a batch again after an outage did about it, for the summary. */
export interface ResendReport {
  /**
   * The warnings of the summary.
   *
   * @param series what the series skipped and delayed
   */
  warnings(series: SeriesResult): string[];
  /** The fields of the JSON summary. */
  fields(): Record<string, number>;
}

/** The way messages go out: a sender, and what its deliveries mean. */
export interface PublishRoute {
  /** Sends a batch. */
  send: BatchSender;
  /** Whether a failed batch may be sent again as it was (the sender makes a repeat safe). */
  resend: boolean;
  /** Whether messages are appended to streams (`XADD`) rather than published. */
  appends: boolean;
  /** A PUBLISH on a cluster: the receivers are those of the node that took each message only. */
  nodeLocalCount: boolean;
  /** Messages are kept in a history too (`--history`): one that reached no subscriber is not gone. */
  keeps?: boolean;
  /** With {@linkcode resend}: what was sent again, for the summary. */
  resent?: ResendReport;
  /**
   * The error to stop with at once for a failed send, if it is one the route words itself.
   *
   * @param err what a send failed with
   */
  refusal(err: unknown): CliError | undefined;
  /** Closes what the route opened beside the link. */
  close(): Promise<void>;
}

/** What {@linkcode publishRoute} is to publish. */
export interface PublishRouteOptions {
  /** SPUBLISH (sharded pub/sub) instead of PUBLISH. */
  sharded: boolean;
  /** A series (`--repeat`): on one server it goes through a socket of its own ({@linkcode PublishLane}). */
  series: boolean;
}

/**
 * The route that PUBLISHes or SPUBLISHes over `link`: a series on one
 * server through a {@linkcode PublishLane}, anything else through the link's
 * client (SPUBLISH in one pipeline per master of a cluster).
 *
 * @param link the link to publish over
 * @param options PUBLISH or SPUBLISH, a series or not
 * @returns the route
 * @example
 * ```ts ignore
 * const route = publishRoute(link, { sharded: false, series: true });
 * const [delivery] = await route.send(link.redis, [{ channel: "news", payload: "hi" }]);
 * await route.close();
 * ```
 */
export function publishRoute(link: Link, options: PublishRouteOptions): PublishRoute {
  const plain = { resend: false, appends: false, close: () => Promise.resolve() };
  if (options.sharded) {
    return {
      ...plain,
      send: spublishSender((channel) => link.nodeOf(channel) ?? ""),
      nodeLocalCount: false,
      refusal: (err) => noShardedPubSub(err) ? shardedUnsupported(link.address, "SPUBLISH") : undefined,
    };
  }
  const lane = options.series && link.soleServer ? new PublishLane(link.soleServer) : undefined;
  return {
    ...plain,
    send: lane?.sender ?? publishSender,
    // On a cluster a PUBLISH counts the subscribers of the node that took it only: 0 there says nothing.
    nodeLocalCount: !link.publishCountsAll,
    refusal: () => undefined,
    close: async () => await lane?.close(),
  };
}
