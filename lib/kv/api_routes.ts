/**
 * The API server's HTTP routes: the live page, `/kv`, `/kv/<type>`,
 * `/events` (SSE, at most `maxClients` at once) and `/health`. Responses go
 * to any HTTP client: they never name the server (user, host, port); the
 * log does.
 *
 * @module
 */
import type { Logger } from "../core/log.ts";
import type { Link } from "../endpoint/link.ts";
import type { Subscriber } from "../endpoint/subscriber.ts";
import type { SseHub } from "../web/sse.ts";
import type { KvFeed } from "./feed.ts";
import { LIVE_PAGE_HTML } from "./live_page.ts";
import { typeNameProblem, updateEventJson } from "./message.ts";
import type { KvStore } from "./store.ts";

/** What the routes serve from. */
export interface ApiRoutesOptions {
  /** The command link reads go through. */
  reads: Link;
  /** The subscriber following the update channel (for `/health`). */
  subscriber: Subscriber;
  /** What was stored. */
  store: KvStore;
  /** The event feed. */
  feed: KvFeed;
  /** The SSE clients. */
  hub: SseHub;
  /** Where requests (debug), refusals and failures are logged. */
  log: Logger;
  /** SSE streams open at once, at most (`--max-clients`). */
  maxClients: number;
  /** How long the server may take to answer (`--timeout`), in ms: said in 503s. */
  timeoutMs: number;
}

/** The routes' counters, for the summary. */
export interface ApiCounters {
  /** HTTP requests served. */
  requests: number;
  /** Event streams refused past `maxClients`. */
  refused: number;
}

/**
 * A JSON response.
 *
 * @param body what to send
 * @param status the HTTP status
 * @param headers more headers
 * @returns the response
 * @example
 * ```ts
 * import { jsonResponse } from "./api_routes.ts";
 * import assert from "node:assert/strict";
 * assert.equal(jsonResponse({ ok: true }, 201).status, 201);
 * ```
 */
export function jsonResponse(body: unknown, status = 200, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body) + "\n", {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

/**
 * The API server's request handler.
 *
 * @param o what it serves from
 * @returns the handler (for `Deno.serve`) and its counters
 * @example
 * ```ts ignore
 * const { handler, counters } = apiRoutes({ reads, subscriber, store, feed, hub, log, maxClients: 100, timeoutMs: 5000 });
 * ```
 */
export function apiRoutes(
  o: ApiRoutesOptions,
): { handler: Deno.ServeHandler; counters: ApiCounters } {
  const { reads, subscriber, store, feed, hub, log, maxClients } = o;
  const counters: ApiCounters = { requests: 0, refused: 0 };
  const seconds = `${o.timeoutMs / 1000} s`;
  let refusing = false;
  /** The 503 for a failed read: an outage or a timeout is expected now and then; anything else is logged. */
  const unavailable = (request: Request, pathname: string, err: Error): Response => {
    if (!reads.ready) {
      return jsonResponse({ error: "Not connected to the Redis server: reconnecting, try again soon" }, 503);
    }
    if (/timed out/i.test(err.message)) {
      log.warn(`${request.method} ${pathname}: the server at ${reads.address} did not answer within ${seconds}`);
      return jsonResponse({ error: `The Redis server did not answer within ${seconds}` }, 503);
    }
    log.error(`${request.method} ${pathname} failed: ${err.message}`);
    return jsonResponse({ error: "The Redis server did not answer: the API server's log says why" }, 503);
  };
  /** `GET /events`: a stream, or 503 past --max-clients (said once until a stream is admitted again). */
  const events = (request: Request, completed: Promise<unknown>): Response => {
    if (hub.streams < maxClients) {
      refusing = false;
      return feed.connect(request, completed);
    }
    counters.refused++;
    if (!refusing) {
      log.warn(
        `Refusing event streams: ${hub.streams} are open (--max-clients ${maxClients}; ${hub.clients} connected, ` +
          "the others waiting for their first values or dropped and not yet closed). Said once until one is admitted.",
      );
    }
    refusing = true;
    return jsonResponse({ error: `Too many event streams open (at most ${maxClients}): try again later` }, 503, {
      "retry-after": "5",
    });
  };
  /** `GET /kv/<type>`: one stored value. */
  const one = async (pathname: string): Promise<Response> => {
    let type: string;
    try {
      type = decodeURIComponent(pathname.slice(4));
    } catch {
      return jsonResponse({ error: `"${pathname.slice(4)}" is not a type name: it has a malformed %-escape` }, 400);
    }
    const problem = typeNameProblem(type);
    if (problem) return jsonResponse({ error: `"${type}" is not a type name: it ${problem}` }, 400);
    const [stored] = await store.read([type]);
    if (!stored || updateEventJson(type, stored) === undefined) {
      return jsonResponse({ error: `Nothing stored for type "${type}" (key "${store.prefix}${type}")` }, 404);
    }
    return new Response(stored, { headers: { "content-type": "application/json" } });
  };
  /** `GET /health`: connected is not enough, a server that stopped answering keeps its connections open. */
  const health = async (): Promise<Response> => {
    const connected = reads.ready && subscriber.ready;
    const answers = connected && await reads.redis.ping().then(() => true, () => false);
    const state = answers ? "connected" : connected ? `not answering within ${seconds}` : "reconnecting";
    return jsonResponse(
      { status: answers ? "ok" : "degraded", server: state, clients: hub.clients },
      answers ? 200 : 503,
    );
  };
  const handler = async (request: Request, info: Deno.ServeHandlerInfo): Promise<Response> => {
    counters.requests++;
    const { pathname } = new URL(request.url);
    if (log.enabled("debug")) log.debug(`${request.method} ${pathname}`);
    if (request.method !== "GET" && request.method !== "HEAD") {
      return jsonResponse({ error: `${request.method} is not allowed: this API is read-only` }, 405);
    }
    try {
      if (pathname === "/") {
        return new Response(LIVE_PAGE_HTML, { headers: { "content-type": "text/html; charset=utf-8" } });
      }
      if (pathname === "/events") return events(request, info.completed);
      if (pathname === "/kv" || pathname === "/kv/") {
        return jsonResponse({ types: (await store.all()).map((s) => s.type) });
      }
      if (pathname.startsWith("/kv/")) return await one(pathname);
      if (pathname === "/health") return await health();
      return jsonResponse({ error: `No such page: ${pathname}. Try /, /kv, /kv/<type>, /events or /health` }, 404);
    } catch (err) {
      return unavailable(request, pathname, err as Error);
    }
  };
  return { handler, counters };
}
