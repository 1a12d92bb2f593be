/**
 * Whether a server URL points at this machine: a benchmark is a load
 * generator, so `bench.ts` refuses anything else unless told.
 *
 * @module
 */

/**
 * Whether the URL's host is a loopback address (`localhost`, 127.0.0.0/8, `::1`).
 *
 * @param url a `redis://` or `rediss://` URL
 * @returns true for loopback
 * @example
 * ```ts
 * import { isLoopback } from "./loopback.ts";
 * import assert from "node:assert/strict";
 * assert.ok(isLoopback("redis://127.0.0.1:6380"));
 * assert.ok(isLoopback("redis://localhost"));
 * assert.ok(isLoopback("redis://[::1]:1"));
 * assert.ok(!isLoopback("redis://db.example:6379"));
 * assert.ok(!isLoopback("redis://10.0.0.5"));
 * ```
 */
export function isLoopback(url: string): boolean {
  let host: string;
  try {
    host = new URL(url).hostname.replace(/^\[|\]$/g, "").toLowerCase();
  } catch {
    return false;
  }
  return host === "localhost" || host.endsWith(".localhost") || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host);
}
