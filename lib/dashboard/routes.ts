/**
 * The dashboard's HTTP routes: the page and its files, the `state` events
 * over SSE (the whole state first), and the publish form's `POST /publish`;
 * any other method is refused, any other path is a 404.
 *
 * @module
 */
import type { SseHub } from "../web/sse.ts";
import type { Asset } from "./assets.ts";
import type { BoardState } from "./board.ts";
import { DASHBOARD_HTML } from "./page.ts";
import { handlePublish, type PublishContext } from "./publish.ts";
import type { StateDelta } from "./state_delta.ts";

/** What the routes serve. */
export interface RoutesOptions {
  /** The page's files (uPlot), by path. */
  assets: Map<string, Asset>;
  /** The pages, over SSE. */
  hub: SseHub;
  /** The whole state, for a page that connects. */
  delta: StateDelta<BoardState>;
  /** What `POST /publish` publishes with, and whether it may. */
  publish: PublishContext;
}

/**
 * The dashboard's request handler.
 *
 * @param options the files, the pages and the publish form's context
 * @returns the handler
 */
export function dashboardRoutes(options: RoutesOptions): Deno.ServeHandler {
  const { assets, hub, delta, publish } = options;
  const page = (body: string, type: string) =>
    new Response(body, { headers: { "content-type": type, "cache-control": "no-store" } });
  return (request, info) => {
    const { pathname } = new URL(request.url);
    if (pathname === "/publish" && request.method === "POST") return handlePublish(request, publish);
    if (request.method !== "GET" && request.method !== "HEAD") {
      return new Response(`${request.method} is not allowed here: the page only POSTs to /publish\n`, {
        status: 405,
      });
    }
    if (pathname === "/") return page(DASHBOARD_HTML, "text/html; charset=utf-8");
    if (pathname === "/events") {
      const client = hub.open(info.completed);
      void hub.attach(client, [{ id: hub.lastId, event: "state", data: JSON.stringify(delta.full) }]);
      return client.response;
    }
    const asset = assets.get(pathname);
    if (asset) return page(asset.body, asset.type);
    return new Response(`No such page: ${pathname}. Try /\n`, { status: 404 });
  };
}
