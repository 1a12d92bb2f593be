/**
 * The ops HTTP server of a long-running script: `GET /livez` (the process
 * and its event loop answer), `GET /readyz` (200 while it does its job, else
 * 503 with one line saying why) and `GET /metrics` (Prometheus text), with
 * the web pages' Host rule on every route.
 *
 * @module
 */
import { serveOrExplain } from "../web/listen.ts";
import type { MetricsListen } from "./flags.ts";
import type { Readiness } from "./readiness.ts";
import type { OpsRegistry } from "./registry.ts";

const PLAIN = { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" };

function text(body: string, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(body + "\n", { status, headers: { ...PLAIN, ...headers } });
}

/**
 * Answers one request of the ops server.
 *
 * @param request the request
 * @param registry the metrics
 * @param readiness the readiness
 * @returns the response
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Readiness } from "./readiness.ts";
 * import { OpsRegistry } from "./registry.ts";
 * import { opsResponse } from "./server.ts";
 * const readiness = new Readiness("connecting");
 * const ready = await opsResponse(new Request("http://127.0.0.1/readyz"), new OpsRegistry(), readiness);
 * assert.equal(ready.status, 503);
 * assert.equal(await ready.text(), "not ready: connecting\n");
 * ```
 */
export async function opsResponse(request: Request, registry: OpsRegistry, readiness: Readiness): Promise<Response> {
  if (request.method !== "GET" && request.method !== "HEAD") {
    return text(`${request.method} is not allowed here: use GET`, 405, { allow: "GET, HEAD" });
  }
  const { pathname } = new URL(request.url);
  switch (pathname) {
    case "/livez":
      return text("ok");
    case "/readyz": {
      const state = readiness.state;
      return state.ready ? text("ready") : text(`not ready: ${state.reason}`, 503);
    }
    case "/metrics":
      return new Response(await registry.text(), {
        headers: { "content-type": registry.contentType, "cache-control": "no-store" },
      });
    default:
      return text(`No such page: ${pathname}. Try /livez, /readyz or /metrics`, 404);
  }
}

/**
 * Starts the ops server.
 *
 * @param listen where, and the host names answered to
 * @param registry the metrics
 * @param readiness the readiness
 * @returns the server (its `addr` has the port chosen for port 0)
 * @throws {CliError} when the port is taken (naming `--metrics-port`), {@linkcode UsageError} for a bad `--metrics-host`
 */
export function serveOps(listen: MetricsListen, registry: OpsRegistry, readiness: Readiness): Deno.HttpServer {
  return serveOrExplain(
    { ...listen, onListen: () => {}, flags: { port: "--metrics-port", host: "--metrics-host" } },
    (request) => opsResponse(request, registry, readiness),
  );
}
