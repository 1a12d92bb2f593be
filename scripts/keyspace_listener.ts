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
import { Connection } from "../lib/core/client.ts";
import { checkUrl, redactUrl, resolveUrl } from "../lib/core/config.ts";
import { CliError, ExitCode, UsageError } from "../lib/core/exit_codes.ts";
import { HANDSHAKE_KEY, HandshakeResponder, LAB_KEY } from "../lib/keyspace/handshake.ts";
import { type KeyView, readKeyView, stringView } from "../lib/keyspace/key_view.ts";
import {
  ALL_EVENTS,
  chooseDb,
  type Notification,
  parseNotification,
  planWatch,
  urlForDb,
} from "../lib/keyspace/channels.ts";
import { ensureNotifications, NotifyChanges } from "../lib/keyspace/notifications.ts";
import { clock, defaultIo, escapeControl, type Io, Printer, Reporter } from "../lib/core/output.ts";
import { onMessage } from "../lib/pubsub/subscribe.ts";
import { SubscriberConnection } from "../lib/pubsub/subscriptions.ts";
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
  },
  examples: [
    "deno run -A scripts/keyspace_listener.ts --url redis://localhost:6380   # lab 3: keydb_02, set of shared_key",
    "deno run -A scripts/keyspace_listener.ts --url redis://replica:6379 --write-url redis://primary:6379",
    "deno run -A scripts/keyspace_listener.ts --key 'session:*' --event expired --event del --no-handshake",
    "deno run -A scripts/keyspace_listener.ts --key '*' --event all --no-handshake --json | jq .",
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
    const url = resolveUrl(flags.string("url"));
    const writeUrl = writeUrlFlag(flags);
    const db = chooseDb(flags.int("db", { min: 0 }), url);
    const keys = nonEmpty(flags.list("key"), "key");
    const events = nonEmpty(flags.list("event"), "event").map((e) => e.toLowerCase());
    const plan = planWatch(db, keys.length ? keys : [LAB_KEY], events.length ? events : ["set"]);
    const handshakeKey = flags.enabled("handshake") ? flags.string("handshake-key") ?? HANDSHAKE_KEY : undefined;
    const count = flags.int("count", { min: 1 });
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
      const lossNote = "Events until it is back are lost: notifications are not kept for absent listeners.";
      const cmd = await Connection.open({
        url: urlForDb(url, db),
        reporter: status,
        offlineQueue: true,
        signal: shutdown.signal,
      });
      conns.push(cmd);
      command = cmd;
      const write = writeUrl
        ? await Connection.open({
          url: urlForDb(writeUrl, db),
          reporter: status,
          offlineQueue: true,
          signal: shutdown.signal,
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
      let waiting = 0;
      const sub = await SubscriberConnection.open({
        url,
        signal: shutdown.signal,
        reporter: status,
        lossNote,
        onRestored: () => void ensure().catch((err) => err instanceof CliError ? stopWith(err) : undefined),
        pending: () => waiting,
      });
      sub.failed.then(stopWith);
      conns.push(sub);

      const responder = new HandshakeResponder({
        read: cmd.redis,
        write: write?.redis,
        handshakeKey,
        name: flags.string("name") ?? "listener",
        onFallback: (reason) =>
          status.warn(`Lua scripts are refused (${reason}): reading and writing the handshake in two round trips.`),
      });
      const print = json ? printJson(out) : printText(out, handshakeKey);
      let handled = 0;
      let handshakes = 0;
      let queue = Promise.resolve();
      // Its own handshake writes are not events, unless that very key was asked for.
      const ownKey = handshakeKey !== undefined && !keys.includes(handshakeKey) ? handshakeKey : undefined;
      const stopListening = onMessage(sub.redis, (m) => {
        const receivedAt = Date.now();
        if (done.signal.aborted || !plan.firstDelivery(m.channel, m.pattern)) return;
        const n = parseNotification(m.channel, m.payload);
        if (!n || n.db !== db || n.key === ownKey || !plan.wants(n)) return;
        waiting++;
        queue = queue.then(async () => {
          waiting--;
          if (done.signal.aborted) return;
          try {
            const result = await handle(n, receivedAt, responder, cmd);
            handled++;
            if (result.handshake) handshakes++;
            print(result);
            if (handled === count) done.abort();
          } catch (err) {
            if (err instanceof CliError) return stopWith(err);
            status.warn(
              `Could not read ${escapeControl(n.key)} after its ${escapeControl(n.event)} event: ` +
                (err as Error).message,
            );
          }
        });
      });
      await sub.subscribe(plan.subscriptions);
      status.info(listeningLine(plan, sub.address, db, handshakeKey, redactUrl(writeUrl ?? url)));
      const startedAt = Date.now();
      await Promise.race([shutdown.requested, whenAborted(done.signal)]);
      stopListening();
      // Let the event being handled finish (bounded: a queued command may wait for a server that is down).
      await withTimeout(queue, 1000, () => new Error("still handling")).catch(() => {});
      await sub.unsubscribe();
      if (fatal) throw fatal;
      printSummary(out, json, handled, handshakes, handshakeKey !== undefined, Date.now() - startedAt, sub);
      return ExitCode.Ok;
    } finally {
      done.abort();
      if (command) {
        const restore = flags.boolean("restore-config");
        await changes.settle({ redis: command.redis, restore, reporter: status, address: redactUrl(url) });
      }
      for (const conn of conns.reverse()) await conn.close();
    }
  });
}

/** Reads the key (and writes the handshake) for one event. */
async function handle(
  notification: Notification,
  receivedAt: number,
  responder: HandshakeResponder,
  cmd: Connection,
): Promise<Handled> {
  const response = await responder.respond(notification.key);
  const view = response.type === "string" || response.type === "none"
    ? stringView(response.type, response.value)
    : await readKeyView(cmd.redis, notification.key, response.type);
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
    });
  };
}

function printSummary(
  out: Printer,
  json: boolean,
  handled: number,
  handshakes: number,
  handshaking: boolean,
  elapsedMs: number,
  sub: SubscriberConnection,
): void {
  if (json) {
    out.event("summary", {
      events: handled,
      handshakes,
      seconds: toSeconds(elapsedMs),
      ...sub.outageJson(),
    });
    return;
  }
  const wrote = handshaking ? ` and wrote ${formatNumber(handshakes)} handshake(s)` : "";
  out.line(`Handled ${formatNumber(handled)} event(s)${wrote} in ${(elapsedMs / 1000).toFixed(1)} s.`);
  const outages = sub.outageSummary("events in that time were not received.");
  if (outages) out.line(outages);
}

if (import.meta.main) Deno.exit(await main(Deno.args));
