/**
 * Which server answers: KeyDB, Valkey or Redis, and its version, told apart
 * by the fields of `INFO`.
 *
 * - Valkey (7.2.5 and later) reports `server_name:valkey` and
 *   `valkey_version`; its `redis_version` stays at the Redis version it is
 *   compatible with (7.2.4).
 * - KeyDB reports its own version in `redis_version` and has no name field,
 *   but its multithreading shows in INFO: `current_client_thread` and
 *   `thread_N_clients` (clients), `avg_lock_contention` (stats),
 *   `storage_provider` (memory); its `executable` is usually `keydb-server`.
 * - Anything else with `redis_version` is taken as Redis.
 *
 * @module
 */
import type { Redis } from "ioredis";

/** What the server is. */
export interface ServerIdentity {
  /** `KeyDB`, `Valkey`, `Redis`, or the `server_name` another fork reports. */
  name: string;
  /** Its own version, e.g. `6.3.4` for KeyDB or `8.0.1` for Valkey. */
  version: string;
  /** The Redis version it reports compatibility with (`redis_version`). */
  redisVersion: string;
  /** `standalone`, `cluster` or `sentinel`, when reported. */
  mode?: string;
  /** The INFO field that gave the name away, e.g. `server_name:valkey`. */
  evidence: string;
}

/**
 * Parses the text of `INFO` into its fields (section headers and blank
 * lines are skipped).
 *
 * @param text the reply of INFO
 * @returns field → value
 * @example
 * ```ts
 * import { parseInfo } from "./server_identity.ts";
 * import assert from "node:assert/strict";
 * const info = parseInfo("# Server\r\nredis_version:7.0.15\r\nredis_mode:standalone\r\n");
 * assert.equal(info.get("redis_version"), "7.0.15");
 * ```
 */
export function parseInfo(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of text.split(/\r?\n/)) {
    if (line === "" || line.startsWith("#")) continue;
    const colon = line.indexOf(":");
    if (colon > 0) fields.set(line.slice(0, colon), line.slice(colon + 1));
  }
  return fields;
}

const KEYDB_FIELDS = ["current_client_thread", "thread_0_clients", "avg_lock_contention", "storage_provider"];

/**
 * Tells KeyDB, Valkey and Redis apart from INFO's fields.
 *
 * @param info the fields of `INFO` (the default sections: server, clients, memory, stats …)
 * @returns who the server is, or undefined when INFO has no `redis_version`
 * @example
 * ```ts
 * import { identifyServer, parseInfo } from "./server_identity.ts";
 * import assert from "node:assert/strict";
 * const valkey = identifyServer(parseInfo("redis_version:7.2.4\nserver_name:valkey\nvalkey_version:8.0.1\n"));
 * assert.equal(valkey?.name, "Valkey");
 * assert.equal(valkey.version, "8.0.1");
 * const keydb = identifyServer(parseInfo("redis_version:6.3.4\ncurrent_client_thread:0\n"));
 * assert.equal(keydb?.name, "KeyDB");
 * assert.equal(keydb.version, "6.3.4");
 * ```
 */
export function identifyServer(info: Map<string, string>): ServerIdentity | undefined {
  const redisVersion = info.get("redis_version");
  if (redisVersion === undefined) return undefined;
  const mode = info.get("server_mode") ?? info.get("redis_mode");
  const base = { redisVersion, ...(mode ? { mode } : {}) };
  const serverName = info.get("server_name");
  if (serverName) {
    const name = serverName === "valkey" ? "Valkey" : serverName;
    const version = info.get(`${serverName}_version`) ?? redisVersion;
    return { name, version, ...base, evidence: `server_name:${serverName}` };
  }
  const keydbField = KEYDB_FIELDS.find((f) => info.has(f));
  const executable = info.get("executable") ?? "";
  if (keydbField || /keydb/i.test(executable.split("/").at(-1) ?? "")) {
    return { name: "KeyDB", version: redisVersion, ...base, evidence: keydbField ?? `executable:${executable}` };
  }
  return { name: "Redis", version: redisVersion, ...base, evidence: "redis_version only" };
}

/**
 * Asks the server who it is (one `INFO`).
 *
 * @param redis a connected client (not a subscribed one)
 * @returns who it is; throws what the server answered when INFO is refused
 * @example
 * ```ts
 * import { Redis } from "ioredis";
 * import { LocalServer } from "./local_server.ts";
 * import { readServerIdentity } from "./server_identity.ts";
 * import assert from "node:assert/strict";
 *
 * // A throw-away server for the example, unless REDIS_URL names one to use:
 * await using local = Deno.env.get("REDIS_URL") ? undefined : await LocalServer.start();
 * const url = local?.url ?? Deno.env.get("REDIS_URL")!;
 * const redis = new Redis(url);
 * const who = await readServerIdentity(redis);
 * assert.ok(["KeyDB", "Valkey", "Redis"].includes(who!.name), JSON.stringify(who));
 * await redis.quit();
 * ```
 */
export async function readServerIdentity(redis: Redis): Promise<ServerIdentity | undefined> {
  return identifyServer(parseInfo(await redis.info()));
}
