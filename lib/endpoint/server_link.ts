/**
 * The {@linkcode Link} of one server: a {@linkcode Connection}.
 *
 * @module
 */
import { commandLostConnection, Connection } from "../core/client.ts";
import { toSeconds } from "../core/json_event.ts";
import type { Link, LinkOptions, LinkOutageFields } from "./link.ts";

/**
 * Opens a link to one server.
 *
 * @param url the server's URL
 * @param options how it behaves
 * @returns the link, connected
 * @throws {CliError} when the server cannot be used (see {@linkcode Connection.open})
 */
export async function openServerLink(url: string, options: LinkOptions): Promise<Link> {
  const restored = new Set<() => void>();
  const conn = await Connection.open({ url, ...options, onRestored: () => restored.forEach((l) => l()) });
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
    restoresQuietly: false,
    outageSubject: "the server",
    publishCountsAll: true,
    soleServer: conn.redis,
    nodeOf: () => undefined,
    outageSummary: (cost) => conn.outageSummary(cost),
    outageJson: (): LinkOutageFields => ({ outages: conn.outages, disconnected_seconds: toSeconds(conn.downMs) }),
    close: () => conn.close(),
  };
}
