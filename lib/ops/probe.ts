/**
 * A healthcheck command for containers, whose images (the official Deno one)
 * have no curl: GETs a URL — a script's `/readyz` — and exits 0 on 200, 1
 * otherwise, saying the answer in one line (`docker inspect` shows it).
 *
 *   deno run --allow-net lib/ops/probe.ts http://127.0.0.1:9101/readyz
 *
 * @module
 */

/** How long the answer may take by default, in ms. */
export const PROBE_TIMEOUT_MS = 2000;

/**
 * Asks `url` once.
 *
 * @param url what to GET
 * @param timeoutMs how long the answer may take
 * @returns whether it answered 200, and its first line (or why there was none)
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { probe } from "./probe.ts";
 * const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, () => new Response("not ready: starting\n", { status: 503 }));
 * assert.deepEqual(await probe(`http://127.0.0.1:${server.addr.port}/readyz`), { ok: false, said: "503 not ready: starting" });
 * await server.shutdown();
 * ```
 */
export async function probe(url: string, timeoutMs = PROBE_TIMEOUT_MS): Promise<{ ok: boolean; said: string }> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    const text = (await res.text()).split("\n")[0]!.trim();
    return { ok: res.status === 200, said: `${res.status} ${text}` };
  } catch (err) {
    return { ok: false, said: `no answer from ${url}: ${(err as Error).message}` };
  }
}

if (import.meta.main) {
  const [url] = Deno.args;
  if (!url) {
    console.error("Usage: deno run --allow-net lib/ops/probe.ts URL   (exit 0 when it answers 200)");
    Deno.exit(2);
  }
  const { ok, said } = await probe(url);
  console.log(said);
  Deno.exit(ok ? 0 : 1);
}
