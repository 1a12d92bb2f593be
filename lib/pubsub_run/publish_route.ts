/**
 * How publisher.ts's messages go out over a link: the sender its link and
 * flags call for, and what the replies' receiver counts mean there.
 *
 * @module
 */
import type { Link } from "../endpoint/link.ts";
import { publishSender } from "../pubsub/publish.ts";
import type { PublishRoute } from "../pubsub/route.ts";

export type { PublishRoute, ResendReport } from "../pubsub/route.ts";
import { PublishLane } from "../pubsub/publish_lane.ts";
import { noShardedPubSub, shardedUnsupported, spublishSender } from "../pubsub/sharded.ts";

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
