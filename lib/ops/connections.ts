/**
 * The connections of the process, as lib/core/connection_watch.ts announces
 * them, made into readiness and metrics: not ready while one of them is in
 * an outage or resubscribing; outages, time disconnected, drops for falling
 * behind and the backlog per role (`subscriber`, `commands`, `cluster`),
 * with those of connections already closed kept in the totals.
 *
 * @module
 */
import { type ConnectionWatcher, watchConnections, type WatchedConnection } from "../core/connection_watch.ts";
import type { Readiness } from "./readiness.ts";
import type { ConnectionReading, ServiceMetrics } from "./service_metrics.ts";

/**
 * Every connection the process opens while it lives, reported in `metrics` and required by `readiness`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { announceClosed, announceOpened } from "../core/connection_watch.ts";
 * import { ConnectionBook } from "./connections.ts";
 * import { Readiness } from "./readiness.ts";
 * import { OpsRegistry } from "./registry.ts";
 * import { ServiceMetrics } from "./service_metrics.ts";
 * const registry = new OpsRegistry();
 * const readiness = new Readiness();
 * using _book = new ConnectionBook(new ServiceMetrics(registry), readiness);
 * readiness.started();
 * const conn = { role: "subscriber", trouble: "resubscribing", outages: 1, downMs: 1500 };
 * announceOpened(conn);
 * assert.deepEqual(readiness.state, { ready: false, reason: "resubscribing" });
 * announceClosed(conn);
 * assert.deepEqual(readiness.state, { ready: true });
 * assert.match(await registry.text(), /^pubsub_lab_outages_total\{connection="subscriber"\} 1$/m);
 * ```
 */
export class ConnectionBook implements ConnectionWatcher, Disposable {
  readonly #open = new Set<WatchedConnection>();
  /** Per role: the totals of its connections already closed. */
  readonly #closed = new Map<string, { outages: number; downMs: number; fellBehind: number }>();
  readonly #unwatch: () => void;
  readonly #unrequire: () => void;

  /**
   * Starts watching the connections opened from now on.
   *
   * @param metrics where their figures are reported (per role)
   * @param readiness made to require that none is in trouble
   */
  constructor(private readonly metrics: ServiceMetrics, readiness: Readiness) {
    this.#unrequire = readiness.require(() => this.trouble());
    this.#unwatch = watchConnections(this);
  }

  /** Why some connection cannot do its job now (the first found), or undefined. */
  trouble(): string | undefined {
    for (const c of this.#open) {
      const trouble = c.trouble;
      if (trouble !== undefined) return trouble;
    }
    return undefined;
  }

  /**
   * A connection is connected: counted from now on.
   *
   * @param c its view
   */
  opened(c: WatchedConnection): void {
    if (!this.#closed.has(c.role)) {
      this.#closed.set(c.role, { outages: 0, downMs: 0, fellBehind: 0 });
      this.metrics.watchConnection(c.role, () => this.reading(c.role));
    }
    this.#open.add(c);
  }

  /**
   * A connection was closed: its figures go to its role's totals.
   *
   * @param c its view
   */
  closed(c: WatchedConnection): void {
    if (!this.#open.delete(c)) return;
    const totals = this.#closed.get(c.role)!;
    totals.outages += c.outages;
    totals.downMs += c.downMs;
    totals.fellBehind += c.fellBehind ?? 0;
  }

  /**
   * The figures of one role now: its closed connections' totals plus its open ones'.
   *
   * @param role e.g. `subscriber`
   * @returns what a scrape reports for it
   */
  reading(role: string): ConnectionReading {
    const totals = this.#closed.get(role) ?? { outages: 0, downMs: 0, fellBehind: 0 };
    const reading: ConnectionReading = { ...totals };
    for (const c of this.#open) {
      if (c.role !== role) continue;
      reading.outages += c.outages;
      reading.downMs += c.downMs;
      reading.fellBehind! += c.fellBehind ?? 0;
      if (c.backlogBytes !== undefined) reading.backlogBytes = (reading.backlogBytes ?? 0) + c.backlogBytes;
    }
    if (reading.fellBehind === 0 && role !== "subscriber") delete reading.fellBehind;
    return reading;
  }

  /** Stops watching. */
  [Symbol.dispose](): void {
    this.#unwatch();
    this.#unrequire();
  }
}
