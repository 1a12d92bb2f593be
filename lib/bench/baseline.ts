/**
 * The ceiling to compare with: `redis-benchmark -P 64 -n N publish` against
 * the same server, when it is installed, and the rate it reports.
 *
 * @module
 */

/**
 * The requests per second in `redis-benchmark -q` output (`PUBLISH: 912408.75 requests per second, …`).
 *
 * @param output what it printed
 * @returns the rate, or undefined
 * @example
 * ```ts
 * import { parseBenchmarkRate } from "./baseline.ts";
 * import assert from "node:assert/strict";
 * assert.equal(parseBenchmarkRate("PUBLISH: 912408.75 requests per second, p50=0.5 msec"), 912408.75);
 * ```
 */
export function parseBenchmarkRate(output: string): number | undefined {
  const m = /([\d.]+) requests per second/.exec(output.split("\r").at(-1) ?? output) ??
    /([\d.]+) requests per second/.exec(output);
  return m ? Number(m[1]) : undefined;
}

/**
 * Runs `redis-benchmark -P 64 -n <messages> -q publish <channel> <payload>` against the server.
 *
 * @param url the server (`redis://` only, without a password: redis-benchmark would show it to `ps`)
 * @param messages how many PUBLISH
 * @param size payload bytes
 * @param signal stops it
 * @returns publishes per second, or a sentence saying why there is none
 */
export async function runBaseline(
  url: string,
  messages: number,
  size: number,
  signal: AbortSignal,
): Promise<{ rate: number } | { missing: string }> {
  const u = new URL(url);
  if (u.protocol !== "redis:") return { missing: "redis-benchmark is run only on redis:// URLs here" };
  const args = ["-h", u.hostname.replace(/^\[|\]$/g, ""), "-p", u.port || "6379", "-P", "64", "-n", String(messages)];
  if (u.password) {
    // redis-benchmark reads a password only from its command line, which every user of the machine can see (ps).
    return { missing: "not run: redis-benchmark would show the URL's password in the process list" };
  }
  args.push("-q", "publish", `bench:baseline:${crypto.randomUUID().slice(0, 8)}`, "x".repeat(size));
  try {
    const out = await new Deno.Command("redis-benchmark", { args, stdout: "piped", stderr: "piped", signal }).output();
    const rate = parseBenchmarkRate(new TextDecoder().decode(out.stdout));
    return rate === undefined ? { missing: "redis-benchmark printed no rate" } : { rate };
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return { missing: "redis-benchmark is not installed" };
    return { missing: `redis-benchmark failed: ${err instanceof Error ? err.message : String(err)}` };
  }
}
