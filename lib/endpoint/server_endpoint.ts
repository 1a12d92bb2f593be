/**
 * The {@linkcode Endpoint} of one server.
 *
 * @module
 */
import { chooseDb, redactUrl } from "../core/config.ts";
import { SubscriberConnection } from "../pubsub/subscriptions.ts";
import type { Endpoint } from "./endpoint.ts";
import { oneNode, serverNode } from "./node_set.ts";
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
    database: (requested) => chooseDb(requested, url),
    writesTo: (writeUrl) => serverEndpoint(writeUrl),
    link: (options) => openServerLink(url, options),
    async subscriber(options): Promise<Subscriber> {
      return await SubscriberConnection.open({ url, ...options });
    },
    nodes: (hooks) => oneNode(serverNode(url), hooks),
  };
}
