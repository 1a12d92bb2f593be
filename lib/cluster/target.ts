/**
 * What a script connects to: one server, or the seed nodes of a cluster
 * (`--cluster` or `REDIS_CLUSTER=1`, with `--url` repeated or the URLs
 * separated by commas, in the flag or in `REDIS_URL`).
 *
 * @module
 */
import type { OptionSpec } from "../core/cli.ts";
import { checkUrl, DEFAULT_URL, readEnv, redactUrl } from "../core/config.ts";
import { UsageError } from "../core/exit_codes.ts";

/**
 * The flags of a script that works on a cluster too: `--url` (repeatable) and `--cluster`. Spread them after
 * {@linkcode COMMON_OPTIONS}, whose single `--url` they replace.
 */
export const CLUSTER_OPTIONS: Record<string, OptionSpec> = {
  url: {
    type: "string",
    multiple: true,
    arg: "URL",
    help: "server URL (default: $REDIS_URL, else redis://localhost:6379); with --cluster, a seed node: repeat it " +
      "or separate URLs with commas",
  },
  cluster: {
    type: "boolean",
    help: "the URL(s) are seed nodes of a Redis/Valkey cluster (default: on when $REDIS_CLUSTER=1)",
  },
};

/** One server, or a cluster reached through its seed nodes. */
export type Target =
  | { cluster: false; url: string }
  | { cluster: true; urls: string[] };

/** Whether `REDIS_CLUSTER` asks for cluster mode: `1`, `true`, `yes` or `on`. */
export function clusterFromEnv(): boolean {
  return /^(1|true|yes|on)$/i.test(readEnv("REDIS_CLUSTER") ?? "");
}

/**
 * Chooses what to connect to, from `--url` (given any number of times, each
 * maybe a comma-separated list) else `REDIS_URL` else the default, and
 * `--cluster` or `REDIS_CLUSTER`. Several URLs without cluster mode are
 * refused, as is a cluster URL naming a database other than 0.
 *
 * @param urlFlags the values of `--url`
 * @param clusterFlag whether `--cluster` was given
 * @returns the target
 * @throws {UsageError} when a URL is invalid or the URLs do not fit the mode
 * @example
 * ```ts
 * import { resolveTarget } from "./target.ts";
 * import assert from "node:assert/strict";
 * const t = resolveTarget(["redis://127.0.0.1:7000,redis://127.0.0.1:7001"], true);
 * assert.ok(t.cluster);
 * assert.equal(t.urls.length, 2);
 * assert.ok(!resolveTarget(["redis://127.0.0.1:6380"], false).cluster);
 * ```
 */
export function resolveTarget(urlFlags: readonly string[], clusterFlag: boolean): Target {
  const cluster = clusterFlag || clusterFromEnv();
  const env = readEnv("REDIS_URL");
  const source = urlFlags.length > 0 ? "--url" : "REDIS_URL";
  const raw = urlFlags.length > 0 ? [...urlFlags] : env ? [env] : [DEFAULT_URL];
  const urls = raw.flatMap((u) => u.split(",")).map((u) => u.trim()).filter((u) => u !== "")
    .map((u) => checkUrl(u, source));
  if (urls.length === 0) throw new UsageError(`${source} names no server: give a URL such as ${DEFAULT_URL}`);
  if (!cluster) {
    if (urls.length > 1) {
      throw new UsageError(
        `${urls.length} server URLs given (${urls.map(redactUrl).join(", ")}): several URLs are the seed nodes of a ` +
          `cluster; add --cluster (or REDIS_CLUSTER=1), or give one URL`,
      );
    }
    return { cluster: false, url: urls[0]! };
  }
  for (const url of urls) {
    const db = new URL(url).pathname.replace(/^\//, "");
    if (db !== "" && db !== "0") {
      throw new UsageError(
        `Invalid cluster seed ${redactUrl(url)}: a cluster has only database 0; drop "/${db}" from the URL`,
      );
    }
  }
  return { cluster: true, urls };
}
