/**
 * The {@linkcode Link} of one server: a {@linkcode Connection}.
 *
 * @module
 */
import { commandLostConnection, Connection } from "../core/client.ts";
import { redactUrl, urlForDb } from "../core/config.ts";
import { toSeconds } from "../core/json_event.ts";
import type { Link, LinkOptions, LinkOutageFields } from "./link.ts";
import { linkedNode, oneNode, serverNode } from "./node_set.ts";

/**
 * Opens a link to one server.
 *
 * @param url the server's URL
 * @param options how it behaves (`topology` does not apply: one server has no slot map)
 * @returns the link, connected
 * @throws {CliError} when the server cannot be used (see {@linkcode Connection.open})
 */
export async function openServerLink(url: string, options: LinkOptions): Promise<Link> {
  const { db, topology: _, ...rest } = options;
  const restored = new Set<() => void>();
  const conn = await Connection.open({
    ...rest,
    url: db === undefined ? url : urlForDb(url, db),
    onRestored: () => restored.forEach((l) => l()),
  });
  return {
    address: conn.address,
    redis: conn.redis,
    get ready() {
      return conn.ready;
    },
    get outages() {
      return conn.outages;
    },
    get downMs() {
      return conn.downMs;
    },
    onRestored(listener) {
      restored.add(listener);
      return () => void restored.delete(listener);
    },
    onNodeReplaced: () => () => {},
    onWritesAtRisk(listener) {
      conn.redis.on("close", listener);
      return () => void conn.redis.off("close", listener);
    },
    isOutage: (err) => !conn.ready || commandLostConnection(err),
    throughFailover: (command) => command(),
    restoresQuietly: false,
    outageSubject: "the server",
    publishCountsAll: true,
    soleServer: conn.redis,
    nodeOf: () => undefined,
    via: `on ${redactUrl(url)}`,
    combinable: () => true,
    getMany: async (keys) => keys.length === 0 ? [] : await conn.redis.mget([...keys]),
    nodes: (hooks) => oneNode(linkedNode(serverNode(url), conn), hooks),
    outageSummary: (cost) => conn.outageSummary(cost),
    outageJson: (): LinkOutageFields => ({ outages: conn.outages, disconnected_seconds: toSeconds(conn.downMs) }),
    close: () => conn.close(),
  };
}
