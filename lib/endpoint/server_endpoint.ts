/**
 * The {@linkcode Endpoint} of one server.
 *
 * @module
 */
import { redactUrl } from "../core/config.ts";
import { SubscriberConnection } from "../pubsub/subscriptions.ts";
import type { Endpoint } from "./endpoint.ts";
import type { Closable, NodeHooks, NodeRef, NodeSet } from "./node_set.ts";
import { openServerLink } from "./server_link.ts";
import type { Subscriber } from "./subscriber.ts";

/**
 * The Endpoint of the server at `url`.
 *
 * @param url the server's URL (with user, password and database)
 * @returns its Endpoint
 */
export function serverEndpoint(url: string): Endpoint {
  return {
    address: redactUrl(url),
    link: (options) => openServerLink(url, options),
    async subscriber(options): Promise<Subscriber> {
      return await SubscriberConnection.open({ url, ...options });
    },
    async nodes<T extends Closable>(hooks: NodeHooks<T>): Promise<NodeSet<T>> {
      const parsed = new URL(url);
      const node: NodeRef = { id: `${parsed.hostname}:${parsed.port || 6379}`, url, clusterNode: false, slots: "all" };
      const value = await hooks.open(node);
      hooks.opened?.(node, value, true);
      let closed = false;
      const set: NodeSet<T> = {
        entries: () => closed ? [] : [[node.id, value]],
        all: () => [value],
        settled: () => Promise.resolve(),
        close: async () => {
          if (closed) return;
          closed = true;
          await value.close();
        },
      };
      return set;
    },
  };
}
