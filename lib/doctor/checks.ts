/**
 * The connection doctor's checks: who the server is, the round-trip time,
 * that a pub/sub message makes the trip, whether keyspace notifications are
 * on and whether CONFIG is allowed — each with what to do when it is not.
 *
 * @module
 */
import { Connection } from "../core/client.ts";
import { isReadOnlyError } from "../keyspace/handshake.ts";
import { formatMs, roundMs, summarizeLatency } from "../core/latency.ts";
import { answerWithin, NoAnswerError } from "../core/no_answer.ts";
import { unreadableReply } from "../core/server_faults.ts";
import { probeFlags, readNotifyConfig } from "../keyspace/notifications.ts";
import { chooseDb } from "../core/config.ts";
import { deliversEvents, missingFlags } from "../keyspace/notify_flags.ts";
import type { Reporter } from "../core/output.ts";
import { onMessage } from "../pubsub/subscribe.ts";
import { readServerIdentity, type ServerIdentity } from "../core/server_identity.ts";
import { withTimeout } from "../core/timing.ts";

/** ✓ fine, ! worth knowing but the labs work, ✗ something the labs need is missing. */
export type CheckStatus = "ok" | "warn" | "fail";

/** One check's outcome. */
export interface Check {
  /** What was checked, e.g. `pub/sub`. */
  name: string;
  /** How it went. */
  status: CheckStatus;
  /** What was found. */
  detail: string;
  /** What to do about it (for warnings and failures). */
  fix?: string;
}

/** Everything the doctor found. */
export interface DoctorReport {
  /** The server, when INFO answered. */
  server?: ServerIdentity;
  /** PING round trips in ms: median and max. */
  pingMs?: { median: number; max: number };
  /** Whether keyspace notifications for the labs (K$) are on; null when it could not be told. */
  notifications: boolean | null;
  /** Whether CONFIG GET is allowed. */
  configAllowed: boolean;
  /** The checks in order. */
  checks: Check[];
  /** No check failed. */
  ok: boolean;
}

/** The notification letters the keyspace labs use: keyspace channel, string commands. */
export const LAB_NOTIFY_FLAGS = "K$";
const PINGS = 5;

/**
 * Runs every check against a connected server.
 *
 * @param conn a connected command connection
 * @param url the server's URL (the pub/sub check and the notification probe open their own connections)
 * @param reporter where those connections report trouble
 * @param timeoutMs how long each command, a pub/sub message or a probe notification may take
 * @returns the report (a server that stops answering ends it with a failed check)
 * @example
 * ```ts
 * import { Connection } from "../core/client.ts";
 * import { runDoctor } from "./checks.ts";
 * import { LocalServer } from "../core/local_server.ts";
 * import { Reporter } from "../core/output.ts";
 * import assert from "node:assert/strict";
 *
 * // A throw-away server for the example, unless REDIS_URL names one to use:
 * await using local = Deno.env.get("REDIS_URL") ? undefined : await LocalServer.start({ notifications: "KEA" });
 * const url = local?.url ?? Deno.env.get("REDIS_URL")!;
 * const reporter = new Reporter(Deno.stderr);
 * const conn = await Connection.open({ url, reporter });
 * const report = await runDoctor(conn, url, reporter, 2000);
 * await conn.close();
 * assert.ok(report.ok, JSON.stringify(report.checks));
 * ```
 */
export async function runDoctor(
  conn: Connection,
  url: string,
  reporter: Reporter,
  timeoutMs: number,
): Promise<DoctorReport> {
  const checks: Check[] = [];
  let identity: ServerIdentity | undefined;
  let pingMs: { median: number; max: number } | undefined;
  let notifications: boolean | null = null;
  let configAllowed = false;
  try {
    identity = await checkServer(conn, timeoutMs, checks);
    pingMs = await checkPing(conn, timeoutMs, checks);
    await checkPubSub(conn, url, reporter, timeoutMs, checks);
    const config = await answerWithin(readNotifyConfig(conn.redis), timeoutMs, "CONFIG GET");
    configAllowed = config.allowed;
    notifications = await checkNotifications(config, url, timeoutMs, checks);
    checks.push(
      config.allowed ? { name: "CONFIG", status: "ok", detail: "allowed (CONFIG GET answered)" } : {
        name: "CONFIG",
        status: "warn",
        detail: `refused: ${config.reason}`,
        fix: "The keyspace labs cannot change notify-keyspace-events here; they work when notifications are " +
          "already on (see above). Everything else works without CONFIG.",
      },
    );
  } catch (err) {
    if (!(err instanceof NoAnswerError)) throw err;
    checks.push(stalled(err));
  }
  return {
    ...(identity ? { server: identity } : {}),
    ...(pingMs ? { pingMs } : {}),
    notifications,
    configAllowed,
    checks,
    ok: checks.every((c) => c.status !== "fail"),
  };
}

/** The check that ends the report when the server stops answering: the rest would only wait too. */
function stalled(err: NoAnswerError): Check {
  return {
    name: "answers",
    status: "fail",
    detail: `the server stopped answering: ${err.message}; the remaining checks were skipped`,
    fix: "The connection was made but the server does not answer commands: check its log and load " +
      "(a busy script, a full disk, a paused process), or whether a proxy in between holds the replies.",
  };
}

async function checkServer(conn: Connection, timeoutMs: number, checks: Check[]): Promise<ServerIdentity | undefined> {
  try {
    const who = await answerWithin(readServerIdentity(conn.redis), timeoutMs, "INFO");
    if (!who) {
      checks.push({ name: "server", status: "warn", detail: "INFO has no redis_version: an unknown server" });
      return undefined;
    }
    const mode = who.mode ? ` (${who.mode})` : "";
    const compat = who.version !== who.redisVersion ? `, Redis ${who.redisVersion} compatible` : "";
    checks.push({ name: "server", status: "ok", detail: `${who.name} ${who.version}${mode}${compat}` });
    return who;
  } catch (err) {
    if (err instanceof NoAnswerError) throw err;
    checks.push({
      name: "server",
      status: "warn",
      detail: `INFO refused: ${(err as Error).message}`,
      fix: "The labs do not need INFO; only the server's name and version are unknown.",
    });
    return undefined;
  }
}

async function checkPing(
  conn: Connection,
  timeoutMs: number,
  checks: Check[],
): Promise<{ median: number; max: number } | undefined> {
  const times: number[] = [];
  try {
    for (let i = 0; i < PINGS; i++) {
      const started = performance.now();
      await answerWithin(conn.redis.ping(), timeoutMs, "PING");
      times.push(performance.now() - started);
    }
  } catch (err) {
    if (err instanceof NoAnswerError) throw err;
    checks.push({
      name: "round trip",
      status: "fail",
      detail: `PING failed: ${(err as Error).message}`,
      fix: "Check the server's log; the connection was made but the server does not answer commands.",
    });
    return undefined;
  }
  const s = summarizeLatency(times);
  checks.push({
    name: "round trip",
    status: "ok",
    detail: `PING ${formatMs(s.p50)} (median of ${PINGS}, max ${formatMs(s.max)})`,
  });
  return { median: roundMs(s.p50), max: roundMs(s.max) };
}

async function checkPubSub(
  conn: Connection,
  url: string,
  reporter: Reporter,
  timeoutMs: number,
  checks: Check[],
): Promise<void> {
  const channel = `pubsub-lab:ping:${crypto.randomUUID()}`;
  const sub = await Connection.open({ url, reporter, reconnect: false, connectTimeoutMs: timeoutMs });
  try {
    const arrived = Promise.withResolvers<number>();
    const stop = onMessage(sub.redis, (m) => {
      if (m.channel === channel) arrived.resolve(performance.now());
    });
    try {
      await answerWithin(sub.redis.subscribe(channel), timeoutMs, "SUBSCRIBE");
      const sent = performance.now();
      const receivers = await answerWithin(conn.redis.publish(channel, "ping"), timeoutMs, "PUBLISH");
      const at = await withTimeout(arrived.promise, timeoutMs, () => new Error("timeout")).catch(() => undefined);
      if (at === undefined) {
        checks.push({
          name: "pub/sub",
          status: "fail",
          detail: `a message published on ${channel} did not arrive within ${timeoutMs / 1000} s ` +
            `(PUBLISH said ${receivers} receiver(s))`,
          fix: "Connect to the server itself, not through a proxy that does not pass pub/sub on.",
        });
      } else {
        checks.push({
          name: "pub/sub",
          status: "ok",
          detail: `a message made the trip in ${(at - sent).toFixed(2)} ms`,
        });
      }
      await answerWithin(sub.redis.unsubscribe(channel), timeoutMs, "UNSUBSCRIBE");
    } finally {
      stop();
    }
  } catch (err) {
    if (err instanceof NoAnswerError) throw err;
    const fault = unreadableReply(err); // a reply that could not be read, or that did not fit its command
    checks.push({
      name: "pub/sub",
      status: "fail",
      detail: fault ? fault.what : `refused: ${(err as Error).message.trim()}`,
      fix: fault?.fix ??
        "The labs need SUBSCRIBE and PUBLISH: ask for an ACL user with +@pubsub and access to all channels (&*).",
    });
  } finally {
    await sub.close();
  }
}

async function checkNotifications(
  config: Awaited<ReturnType<typeof readNotifyConfig>>,
  url: string,
  timeoutMs: number,
  checks: Check[],
): Promise<boolean | null> {
  const ask = "CONFIG SET notify-keyspace-events KEA (or at least K$) on the server, " +
    "or notify-keyspace-events KEA in its configuration file";
  if (config.allowed) {
    const flags = config.flags;
    const shown = `notify-keyspace-events is "${flags}"`;
    if (missingFlags(flags, LAB_NOTIFY_FLAGS) === "") {
      checks.push({ name: "notifications", status: "ok", detail: `on (${shown})` });
      return true;
    }
    checks.push({
      name: "notifications",
      status: "warn",
      detail: deliversEvents(flags) ? `partly on (${shown}; the labs use K$)` : `off (${shown})`,
      fix:
        `keyspace_listener.ts turns on what it needs itself, since CONFIG is allowed; to turn them on for all: ${ask}.`,
    });
    return false;
  }
  const db = chooseDb(undefined, url);
  const probe = await probeFlags({ url, db, flags: LAB_NOTIFY_FLAGS, timeoutMs });
  if (probe.error !== undefined) {
    const readOnly = isReadOnlyError(probe.error);
    checks.push({
      name: "notifications",
      status: "fail",
      detail: `unknown: CONFIG is refused and the probe failed too (${probe.error.trim()})`,
      fix: readOnly
        ? "This is a read-only replica: the probe cannot write its key here. Run ping.ts against the primary " +
          `to see the setting, or ask the operator whether notify-keyspace-events covers K$ on this replica: ${ask}.`
        : `The labs need SUBSCRIBE on __keyspace@${db}__:* channels and SET; ask the operator for that and for: ${ask}.`,
    });
    return null;
  }
  const on = probe.ok;
  checks.push(
    on ? { name: "notifications", status: "ok", detail: `on: a probe key's set event arrived (db ${db})` } : {
      name: "notifications",
      status: "fail",
      detail: `off: a probe key's set event did not arrive within ${timeoutMs / 1000} s (db ${db}), ` +
        "and CONFIG is refused, so the labs cannot turn them on",
      fix: `Ask the server's operator for: ${ask}.`,
    },
  );
  return on;
}
