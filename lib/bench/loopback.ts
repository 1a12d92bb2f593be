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
 * console.assert(isLoopback("redis://127.0.0.1:6380") && isLoopback("redis://localhost") && isLoopback("redis://[::1]:1"));
 * console.assert(!isLoopback("redis://db.example:6379") && !isLoopback("redis://10.0.0.5"));
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
