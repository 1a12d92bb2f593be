/**
 * A server that already answers where `deno task server` was to start one: does it have what the labs need
 * (keyspace notifications, `K$` at least), and if not, what to do. Nothing about it is changed: it is someone's.
 *
 * @module
 */
import { ExitCode, type ExitCodeValue } from "../core/exit_codes.ts";
import { askServer } from "../core/local_server.ts";
import type { Reporter } from "../core/output.ts";
import { ErrorReply } from "../wire/resp.ts";
import { missingFlags } from "./notify_flags.ts";

/** The notification letters the keyspace labs need a server to have on (keyspace channel, string commands). */
const NEEDED = "K$";

/** What a server's CONFIG GET notify-keyspace-events said. */
export type NotifySetting =
  /** Its value, e.g. `""` (off) or `"KEA"`. */
  | { value: string }
  /** It refused (CONFIG disabled or renamed, a password needed) or did not answer: the error, or undefined. */
  | { refused: string | undefined };

/**
 * Asks the server on 127.0.0.1:`port` for its notify-keyspace-events, changing nothing.
 *
 * @param port the port
 * @param timeoutMs how long the answer may take
 * @returns the value, or why there is none
 * @example
 * ```ts
 * import { notifySettingAt } from "./existing_server.ts";
 * import { freePort } from "../core/local_server.ts";
 * import assert from "node:assert/strict";
 * assert.ok("refused" in await notifySettingAt(await freePort()));
 * ```
 */
export async function notifySettingAt(port: number, timeoutMs = 1000): Promise<NotifySetting> {
  const reply = await askServer(port, "CONFIG GET notify-keyspace-events", timeoutMs);
  if (Array.isArray(reply) && typeof reply[1] === "string") return { value: reply[1] };
  return { refused: reply instanceof ErrorReply ? reply.message : undefined };
}

/**
 * Says what the server already answering on `port` has of what the labs need, and what to do when it lacks
 * keyspace notifications: turn them on there (if it is yours), or run the labs' own server on another port.
 *
 * @param port the port a server already answers on
 * @param status where the lines go
 * @returns 0 when its notifications cover what the labs need, 6 (a check failed) when they are off or unknown
 * @example
 * ```ts
 * import { reportExistingServer } from "./existing_server.ts";
 * import { LocalServer } from "../core/local_server.ts";
 * import { nullWriter, Reporter } from "../core/output.ts";
 * import assert from "node:assert/strict";
 * await using server = await LocalServer.start({ notifications: "KEA" });
 * assert.equal(await reportExistingServer(server.port, new Reporter(nullWriter)), 0);
 * ```
 */
export async function reportExistingServer(port: number, status: Reporter): Promise<ExitCodeValue> {
  const setting = await notifySettingAt(port);
  const here = `A server already answers on 127.0.0.1:${port}`;
  const ownServer = `run the labs' own server on another port: deno task server --port ${port === 6390 ? 6391 : 6390}`;
  if ("value" in setting && missingFlags(setting.value, NEEDED) === "") {
    status.ok(
      `${here}, with keyspace notifications on (notify-keyspace-events "${setting.value}"): the labs can use it.`,
    );
    status.info(`They write keys and change settings there; if it is not yours to change, ${ownServer}`);
    return ExitCode.Ok;
  }
  if ("value" in setting) {
    status.warn(
      `${here}, with keyspace notifications off (notify-keyspace-events "${setting.value}"), which the labs need.`,
    );
    status.info(`Either ${ownServer}`);
    status.info(`or, if that server is yours to change: redis-cli -p ${port} CONFIG SET notify-keyspace-events KEA`);
    return ExitCode.CheckFailed;
  }
  const why = setting.refused ? `CONFIG GET answered: ${setting.refused}` : "CONFIG GET got no answer";
  status.warn(`${here}; whether it has keyspace notifications on, which the labs need, is unknown (${why}).`);
  status.info(`Either ${ownServer}`);
  status.info(`or check it with: deno run -A scripts/ping.ts --url redis://localhost:${port}`);
  return ExitCode.CheckFailed;
}
