#!/usr/bin/env -S deno run -A
/**
 * Lab 3's listener (the seed's "Python02"): woken by keyspace notifications,
 * it reads the key that changed, shows how long the event took to arrive
 * (from the timestamp in the value), and acknowledges by writing the
 * handshake key.
 *
 *   deno run -A scripts/keyspace_listener.ts --url redis://localhost:6380     # lab 3, terminal 2
 *   deno run -A scripts/keyspace_listener.ts --key 'user:*' --event hset --event del --no-handshake --json
 *
 * @module
 */
import { COMMON_OPTIONS, type Flags, runScript, type ScriptSpec } from "../lib/core/cli.ts";
import { CLUSTER_OPTIONS, resolveTarget } from "../lib/cluster/target.ts";
import { ClusterConnection } from "../lib/cluster/cluster_connection.ts";
import { ClusterListeners, type NodeChange } from "../lib/keyspace/node_listeners.ts";
import { Connection } from "../lib/core/client.ts";
import { checkUrl, chooseDb, redactUrl, urlForDb } from "../lib/core/config.ts";
import { CliError, ExitCode, UsageError } from "../lib/core/exit_codes.ts";
import { HANDSHAKE_KEY, HandshakeResponder, type KeyClient, LAB_KEY } from "../lib/keyspace/handshake.ts";
import { type KeyView, readKeyView, stringView } from "../lib/keyspace/key_view.ts";
import { ALL_EVENTS, type Notification, parseNotification, planWatch } from "../lib/keyspace/channels.ts";
import { ensureNotifications, NotifyChanges } from "../lib/keyspace/notifications.ts";
import { clock, defaultIo, escapeControl, type Io, Printer, Reporter } from "../lib/core/output.ts";
import { onMessage, type PubSubMessage } from "../lib/pubsub/subscribe.ts";
import { type OutageFields, SubscriberConnection } from "../lib/pubsub/subscriptions.ts";
import { onShutdown } from "../lib/core/shutdown.ts";
import { findStamp, precisionNote, type Stamp } from "../lib/keyspace/stamp.ts";
import { formatNumber } from "../lib/core/stats.ts";
import { toSeconds } from "../lib/core/json_event.ts";
import { whenAborted, withTimeout } from "../lib/core/timing.ts";

const SPEC: ScriptSpec = {
  name: "keyspace_listener.ts",
  summary: "wake on keyspace notifications, read the key, show the delay of its timestamp, write a handshake.",
  usage: [
    "[--key KEY]... [--event EVENT]... [--db N] [--handshake-key KEY | --no-handshake] [--write-url URL] [--json]",
  ],
  options: {
    key: {
      type: "string",
      short: "k",
      multiple: true,
      arg: "KEY",
      help: `key or glob pattern to watch (default: ${LAB_KEY})`,
    },
    event: {
      type: "string",
      short: "e",
      multiple: true,
      arg: "EVENT",
      help: "event to watch: set, del, expired, expire, hset, lpush, … or all (default: set)",
    },
    db: { type: "string", arg: "N", help: "database number (default: the URL's, else 0)" },
    "handshake-key": {
      type: "string",
      arg: "KEY",
      help: `where the handshake is written (default: ${HANDSHAKE_KEY})`,
    },
    handshake: { type: "boolean", negatable: true, help: "write the handshake after each event (default: on)" },
    "write-url": {
      type: "string",
      arg: "URL",
      help: "server the handshake is written to, e.g. the primary of a read-only replica (default: --url)",
    },
    name: { type: "string", arg: "NAME", help: "the listener's name in the handshake value (default: listener)" },
    config: {
      type: "boolean",
      negatable: true,
      help: "turn on missing notify-keyspace-events letters (default: on; --no-config changes nothing)",
    },
    "restore-config": {
      type: "boolean",
      help: "at exit, put back the notify-keyspace-events value found (if nobody changed it since)",
    },
    count: { type: "string", short: "n", arg: "N", help: "exit after N events" },
    ...COMMON_OPTIONS,
    ...CLUSTER_OPTIONS,
  },
  examples: [
    "deno run -A scripts/keyspace_listener.ts --url redis://localhost:6380   # lab 3: keydb_02, set of shared_key",
    "deno run -A scripts/keyspace_listener.ts --url redis://replica:6379 --write-url redis://primary:6379",
    "deno run -A scripts/keyspace_listener.ts --key 'session:*' --event expired --event del --no-handshake",
    "deno run -A scripts/keyspace_listener.ts --key '*' --event all --no-handshake --json | jq .",
    "deno run -A scripts/keyspace_listener.ts --url redis://127.0.0.1:7000 --cluster --key '*' --event set  # every master",
  ],
};

/** The validated URL of `--write-url`, if given. */
function writeUrlFlag(flags: Flags): string | undefined {
  const raw = flags.string("write-url");
  return raw === undefined ? undefined : checkUrl(raw, "--write-url");
}

function nonEmpty(values: string[], flag: string): string[] {
  const empty = values.find((v) => v.trim() === "");
  if (empty !== undefined) throw new UsageError(`--${flag} must not be empty`);
  return values;
}

/** One event as the listener handled it. */
interface Handled {
  notification: Notification;
  view: KeyView;
  stamp?: Stamp;
  delayMs?: number;
  handshake: boolean;
  /** On a cluster: the node the event came from, `host:port`. */
  node?: string;
}

/**
 * Runs the keyspace listener.
 *
 * @param args command-line arguments
 * @param io output streams and an optional stop signal
 * @returns the exit code
 */
export function main(args: string[], io: Io = defaultIo()): Promise<number> {
  return runScript(SPEC, args, io, async (flags) => {
    const target = resolveTarget(flags.list("url"), flags.boolean("cluster"));
    const writeUrl = writeUrlFlag(flags);
    if (target.cluster && writeUrl) {
      throw new UsageError("--write-url does not go with --cluster: the handshake is written through the cluster");
    }
    const dbFlag = flags.int("db", { min: 0 });
    if (target.cluster && dbFlag !== undefined && dbFlag !== 0) {
      throw new UsageError("--db must be 0 with --cluster: a cluster has only database 0");
    }
    const db = target.cluster ? 0 : chooseDb(dbFlag, target.url);
    const keys = nonEmpty(flags.list("key"), "key");
    const events = nonEmpty(flags.list("event"), "event").map((e) => e.toLowerCase());
    const plan = planWatch(db, keys.length ? keys : [LAB_KEY], events.length ? events : ["set"]);
    const handshakeKey = flags.enabled("handshake") ? flags.string("handshake-key") ?? HANDSHAKE_KEY : undefined;
    const json = flags.boolean("json");
    const out = new Printer(io.stdout);
    const status = new Reporter(io.stderr);
    if (plan.unknownEvents.length) {
      status.warn(
        `Unknown event name(s) ${
          escapeControl(plan.unknownEvents.join(", "))
        }: watching anyway, with every event class (A) ` +
          `turned on. Known events include set, del, expire, expired, hset, lpush, sadd, zadd, xadd, or ${ALL_EVENTS}.`,
      );
    }
    using shutdown = onShutdown(io.signal);
    const run: Run = {
      flags,
      plan,
      db,
      keys,
      handshakeKey,
      count: flags.int("count", { min: 1 }),
      out,
      status,
      json,
      shutdown: shutdown.signal,
      requested: shutdown.requested,
    };
    return target.cluster ? await listenCluster(run, target.urls) : await listenSingle(run, target.url, writeUrl);
  });
}

/** What both paths share: the flags as parsed, where to print, and how to stop. */
interface Run {
  flags: Flags;
  plan: ReturnType<typeof planWatch>;
  db: number;
  keys: string[];
  handshakeKey: string | undefined;
  count: number | undefined;
  out: Printer;
  status: Reporter;
  json: boolean;
  shutdown: AbortSignal;
  requested: Promise<unknown>;
}

const LOSS_NOTE = "Events until it is back are lost: notifications are not kept for absent listeners.";

/**
 * The events asked for, handled one at a time in arrival order: each read
 * (and acknowledged) and printed, until `--count` or a stop.
 */
class EventQueue {
  handled = 0;
  handshakes = 0;
  waiting = 0;
  #queue = Promise.resolve();
  readonly #ownKey: string | undefined;
  readonly #print: (h: Handled) => void;

  constructor(
    private readonly run: Run,
    private readonly responder: HandshakeResponder,
    private readonly read: KeyClient,
    private readonly done: AbortController,
    private readonly stopWith: (err: CliError) => void,
  ) {
    const { handshakeKey, keys } = run;
    // Its own handshake writes are not events, unless that very key was asked for.
    this.#ownKey = handshakeKey !== undefined && !keys.includes(handshakeKey) ? handshakeKey : undefined;
    this.#print = run.json ? printJson(run.out) : printText(run.out, handshakeKey);
  }

  /** Takes one pub/sub message (from `node` on a cluster). */
  push(m: PubSubMessage, node?: string): void {
    const receivedAt = Date.now();
    const { plan, db } = this.run;
    if (this.done.signal.aborted || !plan.firstDelivery(m.channel, m.pattern)) return;
    const n = parseNotification(m.channel, m.payload);
    if (!n || n.db !== db || n.key === this.#ownKey || !plan.wants(n)) return;
    this.waiting++;
    this.#queue = this.#queue.then(async () => {
      this.waiting--;
      if (this.done.signal.aborted) return;
      try {
        const result = await handle(n, receivedAt, this.responder, this.read);
        if (node !== undefined) result.node = node;
        this.handled++;
        if (result.handshake) this.handshakes++;
        this.#print(result);
        if (this.handled === this.run.count) this.done.abort();
      } catch (err) {
        if (err instanceof CliError) return this.stopWith(err);
        this.run.status.warn(
          `Could not read ${escapeControl(n.key)} after its ${escapeControl(n.event)} event: ` +
            (err as Error).message,
        );
      }
    });
  }

  /** Lets the event being handled finish (bounded: a queued command may wait for a server that is down). */
  async drain(): Promise<void> {
    await withTimeout(this.#queue, 1000, () => new Error("still handling")).catch(() => {});
  }
}

function responderFor(run: Run, read: KeyClient, write: KeyClient | undefined, cluster: boolean): HandshakeResponder {
  return new HandshakeResponder({
    read,
    ...(write ? { write } : {}),
    handshakeKey: run.handshakeKey,
    name: run.flags.string("name") ?? "listener",
    cluster,
    onFallback: (reason) =>
      run.status.warn(`Lua scripts are refused (${reason}): reading and writing the handshake in two round trips.`),
  });
}

/** One server: lab 3 as it always was. */
async function listenSingle(run: Run, url: string, writeUrl: string | undefined): Promise<number> {
  const { flags, plan, db, status, handshakeKey } = run;
  const done = new AbortController();
  let fatal: CliError | undefined;
  const stopWith = (err: CliError) => {
    fatal ??= err;
    done.abort();
  };
  const conns: { close(): Promise<void> }[] = [];
  const changes = new NotifyChanges();
  let command: Connection | undefined; // on the server whose setting may change
  try {
    const cmd = await Connection.open({
      url: urlForDb(url, db),
      reporter: status,
      offlineQueue: true,
      signal: run.shutdown,
    });
    conns.push(cmd);
    command = cmd;
    const write = writeUrl
      ? await Connection.open({
        url: urlForDb(writeUrl, db),
        reporter: status,
        offlineQueue: true,
        signal: run.shutdown,
      })
      : undefined;
    if (write) conns.push(write);
    const ensure = () =>
      ensureNotifications({
        redis: cmd.redis,
        url,
        writeUrl,
        db,
        needed: plan.needed,
        change: flags.enabled("config"),
        reporter: status,
        address: redactUrl(url),
        changes,
      });
    await ensure();
    const queued: { events?: EventQueue } = {};
    const sub = await SubscriberConnection.open({
      url,
      signal: run.shutdown,
      reporter: status,
      lossNote: LOSS_NOTE,
      onRestored: () => void ensure().catch((err) => err instanceof CliError ? stopWith(err) : undefined),
      pending: () => queued.events?.waiting ?? 0,
    });
    sub.failed.then(stopWith);
    conns.push(sub);

    const events = new EventQueue(run, responderFor(run, cmd.redis, write?.redis, false), cmd.redis, done, stopWith);
    queued.events = events;
    const stopListening = onMessage(sub.redis, (m) => events.push(m));
    await sub.subscribe(plan.subscriptions);
    status.info(listeningLine(plan, sub.address, db, handshakeKey, redactUrl(writeUrl ?? url)));
    const startedAt = Date.now();
    await Promise.race([run.requested, whenAborted(done.signal)]);
    stopListening();
    await events.drain();
    await sub.unsubscribe();
    if (fatal) throw fatal;
    printSummary(run, events, Date.now() - startedAt, sub.outageJson(), sub.outageSummary(OUTAGE_COST));
    return ExitCode.Ok;
  } finally {
    done.abort();
    if (command) {
      const restore = flags.boolean("restore-config");
      await changes.settle({ redis: command.redis, restore, reporter: status, address: redactUrl(url) });
    }
    for (const conn of conns.reverse()) await conn.close();
  }
}

/** A cluster: a subscriber on every master (each announces its own keys), reads and handshakes through the cluster. */
async function listenCluster(run: Run, urls: string[]): Promise<number> {
  const { flags, plan, status, handshakeKey, out } = run;
  const done = new AbortController();
  let fatal: CliError | undefined;
  const stopWith = (err: CliError) => {
    fatal ??= err;
    done.abort();
  };
  const conn = await ClusterConnection.open({
    urls,
    reporter: status,
    offlineQueue: true,
    signal: run.shutdown,
    lossNote: LOSS_NOTE,
  });
  let listeners: ClusterListeners | undefined;
  try {
    const events = new EventQueue(run, responderFor(run, conn.cluster, undefined, true), conn.cluster, done, stopWith);
    const started: NodeChange[] = [];
    listeners = await ClusterListeners.start({
      conn,
      subscriptions: plan.subscriptions,
      needed: plan.needed,
      change: flags.enabled("config"),
      restore: flags.boolean("restore-config"),
      reporter: status,
      lossNote: LOSS_NOTE,
      signal: run.shutdown,
      pending: () => events.waiting,
      onMessage: (m, node) => events.push(m, node),
      onNode: (change) => {
        if (!listeners) return void started.push(change); // the first ones are said in the listening line
        if (run.json) printNodeChange(out, change);
      },
      onFatal: stopWith,
    });
    if (run.json) started.forEach((c) => printNodeChange(out, c));
    const nodes = started.map((c) => `${c.node} (slots ${c.slots})`).join(", ");
    const channels = escapeControl(plan.subscriptions.map((s) => s.name).join(", "));
    const handshake = handshakeKey === undefined ? "no handshake" : `handshake to ${handshakeKey} through the cluster`;
    status.info(
      `Listening on ${conn.address}, on each of its ${started.length} masters: ${nodes} (${plan.channel} ${channels}); ` +
        `${handshake}. Press Ctrl+C to stop.`,
    );
    const startedAt = Date.now();
    await Promise.race([run.requested, whenAborted(done.signal)]);
    await events.drain();
    if (fatal) throw fatal;
    const outages = listeners.outageJson();
    const summary = conn.outageSummary("events of the keys of a lost node's slots were missed until it was replaced.");
    printSummary(run, events, Date.now() - startedAt, { ...outages, topology_changes: conn.topologyChanges }, summary);
    return ExitCode.Ok;
  } finally {
    done.abort();
    await listeners?.close();
    await conn.close();
  }
}

function printNodeChange(out: Printer, change: NodeChange): void {
  out.event("cluster_node", {
    node: change.node,
    change: change.change,
    slots: change.slots,
    ...(change.missedMs !== undefined ? { missed_seconds: toSeconds(change.missedMs) } : {}),
  });
}

const OUTAGE_COST = "events in that time were not received.";

/** Reads the key (and writes the handshake) for one event. */
async function handle(
  notification: Notification,
  receivedAt: number,
  responder: HandshakeResponder,
  read: KeyClient,
): Promise<Handled> {
  const response = await responder.respond(notification.key);
  const view = response.type === "string" || response.type === "none"
    ? stringView(response.type, response.value)
    : await readKeyView(read, notification.key, response.type);
  const stamp = findStamp(view.searchable, receivedAt);
  return {
    notification,
    view,
    handshake: response.handshake,
    ...(stamp ? { stamp, delayMs: receivedAt - stamp.epochMs } : {}),
  };
}

function listeningLine(
  plan: ReturnType<typeof planWatch>,
  address: string,
  db: number,
  handshakeKey: string | undefined,
  writeAddress: string,
): string {
  const channels = escapeControl(plan.subscriptions.map((s) => s.name).join(", "));
  const handshake = handshakeKey === undefined ? "no handshake" : `handshake to ${handshakeKey} on ${writeAddress}`;
  return `Listening on ${address} db ${db} (${plan.channel} ${channels}); ${handshake}. Press Ctrl+C to stop.`;
}

function printText(out: Printer, handshakeKey: string | undefined): (h: Handled) => void {
  return (h) => {
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
  };
}

function printJson(out: Printer): (h: Handled) => void {
  return (h) => {
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
  };
}

function printSummary(
  run: Run,
  events: EventQueue,
  elapsedMs: number,
  outageFields: OutageFields & { topology_changes?: number },
  outageText: string | undefined,
): void {
  const { out } = run;
  if (run.json) {
    out.event("summary", {
      events: events.handled,
      handshakes: events.handshakes,
      seconds: toSeconds(elapsedMs),
      ...outageFields,
    });
    return;
  }
  const wrote = run.handshakeKey !== undefined ? ` and wrote ${formatNumber(events.handshakes)} handshake(s)` : "";
  out.line(`Handled ${formatNumber(events.handled)} event(s)${wrote} in ${(elapsedMs / 1000).toFixed(1)} s.`);
  if (outageText) out.line(outageText);
}

if (import.meta.main) Deno.exit(await main(Deno.args));
