/**
 * Telling a page whether the Redis server behind it is reachable, not only
 * whether the page reaches the HTTP server: an SSE `server` status (see
 * {@linkcode SseHub.setStatus}) that every stream gets as it opens and again
 * at each change, `connected` or `lost` since when, and how many times it
 * was lost. The connections' state is looked at every `everyMs`.
 *
 * @module
 */
import type { SseHub } from "./sse.ts";

/** The `server` status's data. */
export interface ServerStatus {
  /** Whether the server's connections are up. */
  state: "connected" | "lost";
  /** Since when (ms since the epoch): the start, the loss, or the return. */
  since: number;
  /** How many times they were lost so far (a `connected` with outages is "back"). */
  outages: number;
}

/**
 * Publishes the server's connection state to a hub's streams as the `server` status.
 *
 * @example
 * ```ts
 * import { Logger } from "../core/log.ts";
 * import { nullWriter } from "../core/output.ts";
 * import { SseHub } from "./sse.ts";
 * import { ServerStatusFeed } from "./server_status.ts";
 * import assert from "node:assert/strict";
 * const hub = new SseHub({ log: new Logger(nullWriter, "error"), heartbeatMs: 0 });
 * let up = true;
 * const looked = Promise.withResolvers<void>(); // the feed looked after the loss
 * using status = new ServerStatusFeed(hub, () => {
 *   if (!up) looked.resolve();
 *   return up;
 * }, 10);
 * up = false;
 * await looked.promise;
 * assert.equal(status.current.state, "lost");
 * assert.equal(status.current.outages, 1);
 * hub.close();
 * ```
 */
export class ServerStatusFeed implements Disposable {
  #current: ServerStatus;
  readonly #timer: ReturnType<typeof setInterval>;

  /**
   * Starts watching; the hub gets the state at once.
   *
   * @param hub where the streams are
   * @param isUp whether the server's connections are up now
   * @param everyMs how often to look (default 250 ms)
   */
  constructor(private readonly hub: SseHub, private readonly isUp: () => boolean, everyMs = 250) {
    this.#current = { state: isUp() ? "connected" : "lost", since: Date.now(), outages: isUp() ? 0 : 1 };
    this.#send();
    this.#timer = setInterval(() => this.#check(), everyMs);
  }

  /** The state last sent. */
  get current(): ServerStatus {
    return this.#current;
  }

  #check(): void {
    const state = this.isUp() ? "connected" : "lost";
    if (state === this.#current.state) return;
    this.#current = { state, since: Date.now(), outages: this.#current.outages + (state === "lost" ? 1 : 0) };
    this.#send();
  }

  #send(): void {
    this.hub.setStatus("server", JSON.stringify(this.#current));
  }

  /** Stops watching. */
  [Symbol.dispose](): void {
    clearInterval(this.#timer);
  }
}
