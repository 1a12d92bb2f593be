/**
 * What the keyspace listener prints: each event (a line, or a `notification`
 * event with `--json`), each node subscribed on or dropped (`cluster_node`),
 * the line that says where it listens, and its summary.
 *
 * @module
 */
import { toSeconds } from "../core/json_event.ts";
import { clock, escapeControl, type Printer } from "../core/output.ts";
import { formatNumber } from "../core/stats.ts";
import type { OutageFields } from "../pubsub/subscriptions.ts";
import type { WatchPlan } from "./channels.ts";
import type { Handled } from "./event_queue.ts";
import type { NodeChange } from "./node_listeners.ts";
import { precisionNote } from "./stamp.ts";

/**
 * How handled events are printed.
 *
 * @param out where
 * @param json `--json`: a `notification` event each
 * @param handshakeKey the handshake key, named on the lines of events acknowledged
 * @returns the printer of one event
 */
export function eventPrinter(out: Printer, json: boolean, handshakeKey: string | undefined): (h: Handled) => void {
  return json ? (h) => printJson(out, h) : (h) => printText(out, h, handshakeKey);
}

function printText(out: Printer, h: Handled, handshakeKey: string | undefined): void {
  const { key, event } = h.notification;
  let line = `${out.dim(clock())} ${out.cyan(escapeControl(event))} ${out.bold(escapeControl(key))}: ${h.view.text}`;
  if (h.stamp && h.delayMs !== undefined) {
    const note = precisionNote(h.stamp);
    line += ` ${out.dim("·")} delay ${out.yellow(`${formatNumber(h.delayMs)} ms`)}${note ? ` (${note})` : ""}`;
  } else if (h.view.type !== "none") {
    line += ` ${out.dim("· no timestamp")}`;
  }
  if (h.handshake) line += ` ${out.dim("·")} ${out.green("✓")} ${handshakeKey}`;
  if (h.node !== undefined) line += ` ${out.dim(`· from ${h.node}`)}`;
  out.line(line);
}

function printJson(out: Printer, h: Handled): void {
  out.event("notification", {
    db: h.notification.db,
    key: h.notification.key,
    key_event: h.notification.event,
    type: h.view.type,
    ...h.view.json,
    delay_ms: h.delayMs ?? null,
    ...(h.stamp ? { stamp: h.stamp.text, stamp_resolution_ms: h.stamp.resolutionMs } : {}),
    handshake: h.handshake,
    ...(h.node !== undefined ? { node: h.node } : {}),
  });
}

/**
 * Prints a node subscribed on or dropped as a `cluster_node` event.
 *
 * @param out where
 * @param change the node and what happened
 */
export function printNodeChange(out: Printer, change: NodeChange): void {
  out.event("cluster_node", {
    node: change.node,
    change: change.change,
    slots: change.slots,
    ...(change.missedMs !== undefined ? { missed_seconds: toSeconds(change.missedMs) } : {}),
  });
}

/** What the listening line says. */
export interface ListeningPlace {
  /** The server's or cluster's address. */
  address: string;
  /** The database watched. */
  db: number;
  /** What is subscribed to. */
  plan: WatchPlan;
  /** The nodes listened to where there are several (each named), else none. */
  nodes: readonly NodeChange[];
  /** The handshake key, or undefined for `--no-handshake`. */
  handshakeKey: string | undefined;
  /** Where the handshake goes, e.g. `on redis://…` or `through the cluster`. */
  handshakeVia: string;
}

/**
 * The line that says where the listener listens.
 *
 * @param place the address, the subscriptions, the nodes and the handshake
 * @returns e.g. `Listening on redis://localhost:6380 db 0 (keyspace __keyspace@0__:shared_key); handshake to …`
 * @example
 * ```ts
 * import { planWatch } from "./channels.ts";
 * import { listeningLine } from "./listener_output.ts";
 * import assert from "node:assert/strict";
 * const plan = planWatch(0, ["k"], ["set"]);
 * const line = listeningLine({ address: "redis://h:1", db: 0, plan, nodes: [], handshakeKey: undefined, handshakeVia: "" });
 * assert.equal(line, "Listening on redis://h:1 db 0 (keyspace __keyspace@0__:k); no handshake. Press Ctrl+C to stop.");
 * ```
 */
export function listeningLine(place: ListeningPlace): string {
  const { address, db, plan, nodes, handshakeKey } = place;
  const where = nodes.length === 0
    ? `${address} db ${db}`
    : `${address}, on each of its ${nodes.length} masters: ${
      nodes.map((c) => `${c.node} (slots ${c.slots})`).join(", ")
    }`;
  const channels = escapeControl(plan.subscriptions.map((s) => s.name).join(", "));
  const handshake = handshakeKey === undefined ? "no handshake" : `handshake to ${handshakeKey} ${place.handshakeVia}`;
  return `Listening on ${where} (${plan.channel} ${channels}); ${handshake}. Press Ctrl+C to stop.`;
}

/** What the listener's summary says. */
export interface ListenSummary {
  /** Events handled. */
  events: number;
  /** Handshakes written. */
  handshakes: number;
  /** How long it listened, in ms. */
  elapsedMs: number;
  /** The outage fields, and on a cluster how many times the slot map changed. */
  outages: OutageFields & { topology_changes?: number };
  /** The lines about outages, if any. */
  outageText: string | undefined;
  /** With `--reconcile`: its fields and its line. */
  reconcile?: { json: Record<string, number>; line: string | undefined };
}

/**
 * Prints the summary: a line of text (and the outage lines), or a `summary` event with `--json`.
 *
 * @param out where
 * @param json `--json`
 * @param handshakes whether handshakes were written (text only)
 * @param summary the figures
 */
export function printListenSummary(out: Printer, json: boolean, handshakes: boolean, summary: ListenSummary): void {
  if (json) {
    out.event("summary", {
      events: summary.events,
      handshakes: summary.handshakes,
      seconds: toSeconds(summary.elapsedMs),
      ...summary.outages,
      ...summary.reconcile?.json,
    });
    return;
  }
  const wrote = handshakes ? ` and wrote ${formatNumber(summary.handshakes)} handshake(s)` : "";
  out.line(
    `Handled ${formatNumber(summary.events)} event(s)${wrote} in ${(summary.elapsedMs / 1000).toFixed(1)} s.`,
  );
  if (summary.outageText) out.line(summary.outageText);
  if (summary.reconcile?.line) out.line(summary.reconcile.line);
}
