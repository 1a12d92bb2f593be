/**
 * The server's `client-output-buffer-limit` for pub/sub clients: how much it
 * holds for a subscriber that falls behind before it drops the connection
 * (and everything it held).
 *
 * @module
 */
import { formatBytes } from "../core/byte_size.ts";

/** The pub/sub class of `client-output-buffer-limit`. */
export interface OutputLimit {
  /** Dropped at once past this many bytes (0: no hard limit). */
  hardBytes: number;
  /** Dropped when over this many bytes for `softSeconds` (0: no soft limit). */
  softBytes: number;
  /** How long the soft limit may be exceeded. */
  softSeconds: number;
  /** Whether it was read from the server (`CONFIG GET`), not assumed. */
  known: boolean;
}

/** The servers' default, `pubsub 32mb 8mb 60`, assumed when CONFIG GET is refused. */
export const DEFAULT_OUTPUT_LIMIT: OutputLimit = {
  hardBytes: 32 * 1024 * 1024,
  softBytes: 8 * 1024 * 1024,
  softSeconds: 60,
  known: false,
};

/**
 * Reads the pub/sub class out of a `client-output-buffer-limit` value as
 * `CONFIG GET` gives it.
 *
 * @param value e.g. `normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60`
 * @returns the pub/sub limit, or undefined when the value has none
 * @example
 * ```ts
 * import { parseOutputLimit } from "./output_limit.ts";
 * import assert from "node:assert/strict";
 * const limit = parseOutputLimit("normal 0 0 0 pubsub 65536 32768 1");
 * assert.equal(limit?.hardBytes, 65536);
 * assert.equal(limit.softSeconds, 1);
 * assert.ok(limit.known);
 * ```
 */
export function parseOutputLimit(value: string): OutputLimit | undefined {
  const m = value.match(/\bpubsub\s+(\d+)\s+(\d+)\s+(\d+)/);
  if (!m) return undefined;
  return { hardBytes: Number(m[1]), softBytes: Number(m[2]), softSeconds: Number(m[3]), known: true };
}

/**
 * The smallest backlog at which the server may drop the subscriber: the
 * soft limit when there is one, else the hard one.
 *
 * @param limit the limit
 * @returns bytes, or undefined when the server has no limit for pub/sub clients
 * @example
 * ```ts
 * import { DEFAULT_OUTPUT_LIMIT, dropThreshold } from "./output_limit.ts";
 * import assert from "node:assert/strict";
 * assert.equal(dropThreshold(DEFAULT_OUTPUT_LIMIT), 8 * 1024 * 1024);
 * ```
 */
export function dropThreshold(limit: OutputLimit): number | undefined {
  const limits = [limit.hardBytes, limit.softBytes].filter((n) => n > 0);
  return limits.length ? Math.min(...limits) : undefined;
}

/**
 * The limit in words, for warnings.
 *
 * @param limit the limit
 * @returns e.g. `8 MB for 60 s, 32 MB at once (the default; CONFIG GET was refused)`
 * @example
 * ```ts
 * import { describeOutputLimit, parseOutputLimit } from "./output_limit.ts";
 * import assert from "node:assert/strict";
 * assert.equal(describeOutputLimit(parseOutputLimit("pubsub 65536 32768 1")!), "32 KB for 1 s, 64 KB at once");
 * ```
 */
export function describeOutputLimit(limit: OutputLimit): string {
  const parts = [
    ...(limit.softBytes > 0 ? [`${formatBytes(limit.softBytes)} for ${limit.softSeconds} s`] : []),
    ...(limit.hardBytes > 0 ? [`${formatBytes(limit.hardBytes)} at once`] : []),
  ];
  const text = parts.length ? parts.join(", ") : "none";
  return limit.known ? text : `${text} (the default; CONFIG GET was refused)`;
}
