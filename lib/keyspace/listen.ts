/**
 * Lab 3's listener at work: woken by keyspace notifications from every node
 * that holds keys, it reads each key that changed, shows how long the event
 * took to arrive, acknowledges with the handshake, and sums up at the stop.
 * The same path for one server and a cluster: the Endpoint gives the link
 * (reads and handshakes, routed by key on a cluster) and its nodes.
 *
 * @module
 */
import { CliError, ExitCode } from "../core/exit_codes.ts";
import { escapeControl, type Printer, type Reporter } from "../core/output.ts";
import { whenAborted } from "../core/timing.ts";
import type { Endpoint } from "../endpoint/endpoint.ts";
import type { Link } from "../endpoint/link.ts";
import type { Ops } from "../ops/ops.ts";
import { ALL_EVENTS, type WatchPlan } from "./channels.ts";
import { EventQueue } from "./event_queue.ts";
import { HandshakeResponder } from "./handshake.ts";
import { eventPrinter, listeningLine, printListenSummary, printNodeChange } from "./listener_output.ts";
import { type NodeChange, NodeListeners, type NodeListenOptions } from "./node_listeners.ts";
import { type ReconcileOptions, Reconciliation } from "./reconciliation.ts";
import { LAB_KEY } from "./handshake.ts";
import type { PubSubMessage } from "../pubsub/subscribe.ts";

/** What the listener was asked to do. */
export interface ListenerOptions {
  /** The server or cluster listened to. */
  endpoint: Endpoint;
  /** `--write-url`: the server the handshake (and a probe's keys) is written to instead, and its URL. */
  write?: { endpoint: Endpoint; url: string };
  /** The database watched. */
  db: number;
  /** What to subscribe to, and what to filter here. */
  plan: WatchPlan;
  /** The `--key` values. */
  keys: readonly string[];
  /** The handshake key, or undefined for `--no-handshake`. */
  handshakeKey: string | undefined;
  /** The listener's name in the handshake value. */
  name: string;
  /** false (`--no-config`): change no node's notifications. */
  change: boolean;
  /** `--restore-config`. */
  restore: boolean;
  /** `--count`: stop after this many events. */
  count: number | undefined;
  /** `--json`. */
  json: boolean;
  /** Where events and the summary go. */
  out: Printer;
  /** Where the rest goes. */
  status: Reporter;
  /** Aborted at Ctrl+C (stops the connects). */
  shutdown: AbortSignal;
  /** Resolves at Ctrl+C. */
  requested: Promise<unknown>;
  /** `--reconcile`: missed changes found after each outage (and since a saved state). */
  reconcile?: ReconcileOptions;
  /** Its metrics (events per name) and readiness (started once it listens on every node). */
  ops?: Pick<Ops, "metrics" | "readiness">;
}

const LOSS_NOTE = "Events until it is back are lost: notifications are not kept for absent listeners.";
const OUTAGE_COST = "events in that time were not received.";
const NODES_COST = "events of the keys of a lost node's slots were missed until it was replaced.";

/**
 * Listens until Ctrl+C, `--count` events, or an error that ends the run.
 *
 * @param o what to listen to and how
 * @returns the exit code
 * @throws {CliError} when the server cannot be used, notifications cannot be had, or every subscription is refused
 */
export async function listen(o: ListenerOptions): Promise<number> {
  const { plan, status, out, handshakeKey } = o;
  warnUnknownEvents(plan, status);
  const done = new AbortController();
  let fatal: CliError | undefined;
  const stopWith = (err: CliError) => {
    fatal ??= err;
    done.abort();
  };
  const opening = { reporter: status, offlineQueue: true, signal: o.shutdown, db: o.db };
  const link = await o.endpoint.link({ ...opening, topology: { lossNote: LOSS_NOTE } });
  const links = [link];
  let listeners: NodeListeners | undefined;
  const closers: (() => Promise<void> | undefined)[] = [];
  try {
    const write = o.write ? await o.write.endpoint.link(opening) : undefined;
    if (write) links.push(write);
    const responder = responderFor(o, link, write);
    const print = eventPrinter(out, o.json, handshakeKey);
    const metrics = o.ops?.metrics;
    const events = new EventQueue({
      ...o,
      responder,
      read: link.redis,
      print,
      done,
      stopWith,
      ...(metrics ? { metrics } : {}),
    });
    const toEvents = (m: PubSubMessage, node: string | undefined) => events.push(m, node);
    const reconciliation = o.reconcile
      ? new Reconciliation(
        o.keys.length ? o.keys : [LAB_KEY],
        o.reconcile,
        link,
        () => listeners?.scanNodes() ?? [],
        toEvents,
        out,
        o.json,
        status,
      )
      : undefined;
    closers.push(() => reconciliation?.close());
    const started: NodeChange[] = [];
    listeners = await startListeners(
      o,
      link,
      {
        onMessage: reconciliation ? (m, node) => reconciliation.push(m, node) : toEvents,
        ...(reconciliation ? { onResumed: () => void reconciliation.reconcile() } : {}),
        pending: () => events.waiting,
      },
      stopWith,
      started,
    );
    await reconciliation?.load();
    await reconciliation?.reconcile();
    const handshakeVia = (write ?? link).via;
    status.info(
      listeningLine({ address: o.endpoint.address, db: o.db, plan, nodes: started, handshakeKey, handshakeVia }),
    );
    o.ops?.readiness.started();
    const startedAt = Date.now();
    await Promise.race([o.requested, whenAborted(done.signal)]);
    await listeners.unsubscribe();
    await reconciliation?.close();
    await events.drain();
    if (fatal) throw fatal;
    const slotMapChanges = link.outageJson().slot_map_changes;
    printListenSummary(out, o.json, handshakeKey !== undefined, {
      events: events.handled,
      handshakes: events.handshakes,
      elapsedMs: Date.now() - startedAt,
      outages: {
        ...listeners.outageJson(),
        ...(slotMapChanges !== undefined ? { topology_changes: slotMapChanges } : {}),
      },
      outageText: listeners.outageSummary(OUTAGE_COST, () => link.outageSummary(NODES_COST)),
      ...(reconciliation
        ? { reconcile: { json: reconciliation.summaryJson(), line: reconciliation.summaryLine() } }
        : {}),
    });
    return ExitCode.Ok;
  } finally {
    done.abort();
    for (const close of closers) await close();
    await listeners?.close();
    for (const l of links.reverse()) await l.close();
  }
}

function warnUnknownEvents(plan: WatchPlan, status: Reporter): void {
  if (plan.unknownEvents.length === 0) return;
  status.warn(
    `Unknown event name(s) ${escapeControl(plan.unknownEvents.join(", "))}: watching anyway, with every event ` +
      `class (A) turned on. Known events include set, del, expire, expired, hset, lpush, sadd, zadd, xadd, or ` +
      `${ALL_EVENTS}.`,
  );
}

/** Reads through `link`, writes the handshake through `write` (`--write-url`) or `link`. */
function responderFor(o: ListenerOptions, link: Link, write: Link | undefined): HandshakeResponder {
  return new HandshakeResponder({
    read: link.redis,
    ...(write ? { write: write.redis } : {}),
    handshakeKey: o.handshakeKey,
    name: o.name,
    combinable: (keys) => link.combinable(keys),
    onFallback: (reason) =>
      o.status.warn(`Lua scripts are refused (${reason}): reading and writing the handshake in two round trips.`),
  });
}

/**
 * Subscribes on every node of `link`, its messages to `events`. The nodes named at the start are put in `started`
 * (the listening line says them; `--json` prints them), those of later changes printed with `--json`.
 */
async function startListeners(
  o: ListenerOptions,
  link: Link,
  events: Pick<NodeListenOptions, "onMessage" | "onResumed" | "pending">,
  stopWith: (err: CliError) => void,
  started: NodeChange[],
): Promise<NodeListeners> {
  let starting = true;
  const listeners = await NodeListeners.start({
    link,
    subscriptions: o.plan.subscriptions,
    db: o.db,
    needed: o.plan.needed,
    change: o.change,
    restore: o.restore,
    ...(o.write ? { writeUrl: o.write.url } : {}),
    reporter: o.status,
    lossNote: LOSS_NOTE,
    signal: o.shutdown,
    ...events,
    onNode: (change) => {
      if (starting) return void started.push(change);
      if (o.json) printNodeChange(o.out, change);
    },
    onFatal: stopWith,
  });
  starting = false;
  if (o.json) started.forEach((c) => printNodeChange(o.out, c));
  return listeners;
}
