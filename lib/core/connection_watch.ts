/**
 * Every connection a process opens, as it goes: {@linkcode Connection} and
 * the cluster's connection announce themselves here once connected and
 * again at their close, whoever opened them (a script, the Endpoint, a
 * feature folder). A watcher — lib/ops, for `/readyz` and `/metrics` — so
 * sees every connection of the script it serves without any being handed
 * to it: one process is one service.
 *
 * @module
 */

/** What a connection shows its watchers, read when they ask. */
export interface WatchedConnection {
  /** What it is for, a metric label: `subscriber`, `commands` or `cluster`. */
  readonly role: string;
  /** Why it cannot do its job now (an outage, resubscribing), in a few words; undefined while it can. */
  readonly trouble: string | undefined;
  /** Times the server (or a node) was lost after the first connect. */
  readonly outages: number;
  /** Time without the server, in ms (an outage going on counts up to now). */
  readonly downMs: number;
  /** Times the server dropped it for falling behind (a subscriber). */
  readonly fellBehind?: number;
  /** The server's output buffer for it, in bytes, as last seen (a subscriber; 0 while it keeps up). */
  readonly backlogBytes?: number;
}

/** How a connection's view reads it: each figure a function, read when a watcher asks. */
export interface ConnectionReads {
  /** Why it cannot do its job now, or undefined. */
  trouble: () => string | undefined;
  /** Times lost. */
  outages: () => number;
  /** Time without the server, in ms. */
  downMs: () => number;
  /** A subscriber's drops for falling behind and backlog. */
  figures?: () => Pick<WatchedConnection, "fellBehind" | "backlogBytes">;
}

/**
 * A connection's view for its watchers: getters over `reads`, so that each question reads the figures of the moment.
 *
 * @param role what it is for (a metric label)
 * @param reads how to read it
 * @returns the view to announce
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { connectionView } from "./connection_watch.ts";
 * let outages = 0;
 * const view = connectionView("commands", { trouble: () => undefined, outages: () => outages, downMs: () => 0 });
 * outages++;
 * assert.equal(view.outages, 1);
 * ```
 */
export function connectionView(role: string, reads: ConnectionReads): WatchedConnection {
  const { trouble, outages, downMs, figures } = reads;
  const view = Object.defineProperties({ role } as WatchedConnection, {
    trouble: { get: trouble, enumerable: true },
    outages: { get: outages, enumerable: true },
    downMs: { get: downMs, enumerable: true },
  });
  if (!figures) return view;
  return Object.defineProperties(view, {
    fellBehind: { get: () => figures().fellBehind, enumerable: true },
    backlogBytes: { get: () => figures().backlogBytes, enumerable: true },
  });
}

/** Told of each connection opened and closed. */
export interface ConnectionWatcher {
  /** A connection is connected (its first connect succeeded). */
  opened(connection: WatchedConnection): void;
  /** It was closed for good. */
  closed(connection: WatchedConnection): void;
}

const watchers = new Set<ConnectionWatcher>();

/**
 * Tells `watcher` of every connection opened from now on, and of its close.
 *
 * @param watcher what to tell
 * @returns a function that stops telling it
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { announceClosed, announceOpened, watchConnections, type WatchedConnection } from "./connection_watch.ts";
 * const open = new Set<WatchedConnection>();
 * const stop = watchConnections({ opened: (c) => open.add(c), closed: (c) => open.delete(c) });
 * const conn = { role: "commands", trouble: undefined, outages: 0, downMs: 0 };
 * announceOpened(conn);
 * assert.equal(open.size, 1);
 * announceClosed(conn);
 * stop();
 * assert.equal(open.size, 0);
 * ```
 */
export function watchConnections(watcher: ConnectionWatcher): () => void {
  watchers.add(watcher);
  return () => void watchers.delete(watcher);
}

/**
 * Says that `connection` is connected (called by the connection classes, once).
 *
 * @param connection the connection's view
 */
export function announceOpened(connection: WatchedConnection): void {
  for (const watcher of watchers) watcher.opened(connection);
}

/**
 * Says that `connection` was closed (called by the connection classes, once).
 *
 * @param connection the connection's view, as announced
 */
export function announceClosed(connection: WatchedConnection): void {
  for (const watcher of watchers) watcher.closed(connection);
}
