/**
 * The {@linkcode Endpoint} of one server.
 *
 * @module
 */
import { Connection } from "../core/client.ts";
import { chooseDb, redactUrl } from "../core/config.ts";
import { CliError, ExitCode } from "../core/exit_codes.ts";
import { LocalServer } from "../core/local_server.ts";
import { pauseReading } from "../core/ioredis_guard.ts";
import { SubscriberConnection } from "../pubsub/subscriptions.ts";
import type { Endpoint, StandInOptions } from "./endpoint.ts";
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
      const conn = await SubscriberConnection.open({ url, ...options });
      return Object.assign(conn, { pauseReading: () => pauseReading(conn.redis) });
    },
    nodes: (hooks) => oneNode(serverNode(url), hooks),
    checkup: (checkup) => checkup.server(url),
    async standIn(options: StandInOptions): Promise<LocalServer | undefined> {
      if (!options.always && await answers(url, options)) return undefined;
      return await LocalServer.start({ notifications: options.notifications });
    },
  };
}

/** Whether anything listens at `url`: false when the connection is refused; any other failure is thrown. */
async function answers(url: string, options: StandInOptions): Promise<boolean> {
  try {
    const conn = await Connection.open({ url, reporter: options.reporter, connectTimeoutMs: 2000 });
    await conn.close();
    return true;
  } catch (err) {
    if (err instanceof CliError && err.exitCode === ExitCode.Connect && /refused/.test(err.message)) return false;
    throw err;
  }
}
