/**
 * Keyspace notifications on the server side: reading `notify-keyspace-events`,
 * turning on exactly the missing letters, and — where CONFIG is refused —
 * proving with a probe key that the events needed arrive anyway.
 *
 * @module
 */
import { type Redis, ReplyError } from "ioredis";
import { Connection } from "../core/client.ts";
import { CliError, ExitCode } from "../core/exit_codes.ts";
import { keyeventChannel, keyspaceChannel } from "./channels.ts";
import { urlForDb } from "../core/config.ts";
import { flagLetters, mergeFlags, missingFlags, orderFlags } from "./notify_flags.ts";
import { answerWithin } from "../core/no_answer.ts";
import { nullWriter, Reporter } from "../core/output.ts";
import { onMessage, subscribeAll, type Subscription } from "../pubsub/subscribe.ts";
import { delay, withTimeout } from "../core/timing.ts";

/** How long a probe waits for its events by default, in ms. */
export const PROBE_TIMEOUT_MS = 2000;

/**
 * The server's answer to a CONFIG command that it may refuse. `invalid`: the
 * command was allowed but the server rejected the value (a letter it does
 * not know), as opposed to CONFIG itself being refused.
 */
export type ConfigAnswer = { allowed: true; flags: string } | { allowed: false; reason: string; invalid?: boolean };

function isServerRefusal(err: unknown): err is Error {
  return err instanceof ReplyError || (err instanceof Error && /^(ERR|NOPERM|NOAUTH|WRONGPASS)\b/.test(err.message));
}

/**
 * Whether a CONFIG SET error says the value is invalid (e.g. KeyDB's and
 * Redis 6's `ERR Invalid argument 'Kd' for CONFIG SET …`, Redis 7's
 * `… Invalid event class character …`), rather than that CONFIG is refused
 * (NOPERM, unknown command).
 *
 * @param message the server's error
 * @returns true for a rejected value
 * @example
 * ```ts
 * import { isInvalidValue } from "./notifications.ts";
 * import assert from "node:assert/strict";
 * assert.ok(isInvalidValue("ERR Invalid argument 'KA' for CONFIG SET 'notify-keyspace-events'"));
 * assert.ok(!isInvalidValue("NOPERM this user has no permissions to run the 'config|set' command"));
 * ```
 */
export function isInvalidValue(message: string): boolean {
  return /^ERR\b.*\binvalid (argument|event class)/i.test(message);
}

/**
 * Reads `notify-keyspace-events`. A server that refuses CONFIG (renamed or
 * disabled, or an ACL user without `+config`) gives `{allowed: false, reason}`
 * with the server's words; a lost connection still throws.
 *
 * @param redis a connected client (not a subscribed one)
 * @returns the flags as the server reports them (e.g. `AKE`, `""` when off), or why it refused
 * @example
 * ```ts ignore
 * const answer = await readNotifyConfig(conn.redis);
 * if (answer.allowed) console.log(answer.flags || "(off)");
 * ```
 */
export async function readNotifyConfig(
  redis: Redis,
): Promise<{ allowed: true; flags: string } | { allowed: false; reason: string }> {
  try {
    const reply = await redis.config("GET", "notify-keyspace-events") as string[];
    if (reply.length < 2) return { allowed: false, reason: "the server has no notify-keyspace-events setting" };
    return { allowed: true, flags: String(reply[1]) };
  } catch (err) {
    if (isServerRefusal(err)) return { allowed: false, reason: err.message };
    throw err;
  }
}

/**
 * Sets `notify-keyspace-events` and reads back what the server made of it
 * (servers reorder letters and fold `g$lshzxetd` into `A`).
 *
 * @param redis a connected client (not a subscribed one)
 * @param flags the new value
 * @returns the value now in effect, or why the server refused
 * @example
 * ```ts ignore
 * const answer = await writeNotifyConfig(conn.redis, "K$");
 * ```
 */
export async function writeNotifyConfig(redis: Redis, flags: string): Promise<ConfigAnswer> {
  try {
    await redis.config("SET", "notify-keyspace-events", flags);
  } catch (err) {
    if (isServerRefusal(err)) {
      return { allowed: false, reason: err.message, ...(isInvalidValue(err.message) ? { invalid: true } : {}) };
    }
    throw err;
  }
  const after = await readNotifyConfig(redis);
  return after.allowed ? after : { allowed: true, flags };
}

/** What a probe is asked to prove. */
export interface ProbeOptions {
  /** The server whose notifications are wanted (it is subscribed to). */
  url: string;
  /** Where the probe keys are written when `url` is a read-only replica (default: `url`). */
  writeUrl?: string;
  /** The database number. */
  db: number;
  /** The letters to prove, e.g. `K$` or `Eh`. */
  flags: string;
  /** How long to wait for the events, and for each command, in ms (default {@linkcode PROBE_TIMEOUT_MS}). */
  timeoutMs?: number;
  /** The server is a node of a cluster: its probe connections say so, and its probe keys carry `keyTag`. */
  clusterNode?: boolean;
  /** A hash tag (`{12}`) that puts the probe keys on the slots of the node probed, on a cluster. */
  keyTag?: string;
}

/** What a probe found. */
export interface ProbeResult {
  /** Every event that could be tried arrived. */
  ok: boolean;
  /** The events that did not arrive, as `channel kind:event`, e.g. `keyspace:set`. */
  missing: string[];
  /** Class letters no probe key can show (e.g. `e` evicted, `m` key miss); assumed on. */
  unproven: string;
  /** Why the probe could not run (e.g. READONLY), when it could not. */
  error?: string;
}

/** One write that makes the server emit one event of a class. */
interface ProbeStep {
  event: string;
  write: (redis: Redis, base: string) => Promise<unknown>;
}

const PROBE_TTL_MS = 60_000;

/** Runs `write` on the key `k` + `suffix`, then gives that key the probe's expiry too. */
function expiring(suffix: string, write: (r: Redis, key: string) => Promise<unknown>): ProbeStep["write"] {
  return async (r, k) => {
    await write(r, k + suffix);
    await r.pexpire(k + suffix, PROBE_TTL_MS);
  };
}

/** Class letter → a write that shows it. `$` (the SET of the base key) always runs first. */
const PROBE_STEPS: Record<string, ProbeStep> = {
  $: { event: "set", write: (r, k) => r.set(k, "probe", "PX", PROBE_TTL_MS) },
  n: { event: "new", write: () => Promise.resolve() }, // the SET of the fresh base key
  g: { event: "expire", write: (r, k) => r.pexpire(k, PROBE_TTL_MS) },
  h: { event: "hset", write: expiring(":h", (r, k) => r.hset(k, "f", "1")) },
  l: { event: "lpush", write: expiring(":l", (r, k) => r.lpush(k, "1")) },
  s: { event: "sadd", write: expiring(":s", (r, k) => r.sadd(k, "1")) },
  z: { event: "zadd", write: expiring(":z", (r, k) => r.zadd(k, 1, "m")) },
  t: { event: "xadd", write: expiring(":t", (r, k) => r.xadd(k, "*", "f", "1")) },
  x: {
    event: "expired",
    write: async (r, k) => {
      await r.set(`${k}:x`, "1", "PX", 1);
      await delay(5);
      await r.exists(`${k}:x`); // touching an expired key expires it at once
    },
  },
};

const PROBE_SUFFIXES = ["", ":h", ":l", ":s", ":z", ":t", ":x"];

/**
 * Proves that the server sends the events of `flags` without using CONFIG:
 * subscribes to the keyspace and/or keyevent channels of a unique probe
 * key, writes it with a short expiry, and waits for each event.
 *
 * Classes that no write can show on demand (`e`, `d`, `m`, and `x` when the
 * probe writes to another server) are listed as unproven. Every command is
 * bounded by the timeout: a server that stops answering gives `error`.
 *
 * @param options where to listen and write, the db and the letters
 * @returns what arrived and what did not
 * @throws {CliError} (exit code 3) when a server cannot be reached
 * @example
 * ```ts ignore
 * const result = await probeFlags({ url: "redis://127.0.0.1:6379", db: 0, flags: "K$" });
 * console.log(result.ok);
 * ```
 */
export async function probeFlags(options: ProbeOptions): Promise<ProbeResult> {
  const letters = flagLetters(options.flags);
  const classes = [...orderFlags(letters)].filter((c) => c !== "K" && c !== "E");
  const sameServer = !options.writeUrl || options.writeUrl === options.url;
  const tried = (classes.length ? classes : ["$"]).filter((c) => c in PROBE_STEPS && (c !== "x" || sameServer));
  const unproven = classes.filter((c) => !tried.includes(c)).join("");
  const kinds: ("keyspace" | "keyevent")[] = letters.has("E") ? ["keyevent"] : [];
  if (letters.has("K") || kinds.length === 0) kinds.push("keyspace");
  const base = `${options.keyTag ?? ""}pubsub-lab:probe:${crypto.randomUUID()}`;
  const steps = tried.map((c) => PROBE_STEPS[c]!);
  const expected = new Set(kinds.flatMap((kind) => steps.map((s) => `${kind}:${s.event}`)));

  const timeoutMs = options.timeoutMs ?? PROBE_TIMEOUT_MS;
  const reporter = new Reporter(nullWriter);
  const open = (url: string) =>
    Connection.open({
      url: urlForDb(url, options.db),
      reporter,
      reconnect: false,
      connectTimeoutMs: timeoutMs,
      ...(options.clusterNode ? { clusterNode: true } : {}),
    });
  const sub = await open(options.url);
  let writer: Connection | undefined;
  try {
    writer = await open(options.writeUrl ?? options.url);
    const w = writer.redis;
    let allSeen: () => void = () => {};
    const seenAll = new Promise<void>((resolve) => (allSeen = resolve));
    const stop = onMessage(sub.redis, (m) => {
      const payload = new TextDecoder().decode(m.payload);
      const fromKeyspace = m.channel.startsWith("__keyspace@");
      const key = fromKeyspace ? m.channel.slice(m.channel.indexOf(":") + 1) : payload;
      if (!key.startsWith(base)) return;
      expected.delete(fromKeyspace ? `keyspace:${payload}` : `keyevent:${m.channel.slice(m.channel.indexOf(":") + 1)}`);
      if (expected.size === 0) allSeen();
    });
    const subscriptions: Subscription[] = [
      ...(kinds.includes("keyspace")
        ? [{ kind: "pattern" as const, name: `${keyspaceChannel(options.db, base)}*` }]
        : []),
      ...(kinds.includes("keyevent")
        ? steps.map((s) => ({ kind: "channel" as const, name: keyeventChannel(options.db, s.event) }))
        : []),
    ];
    try {
      let error: string | undefined;
      try {
        await answerWithin(subscribeAll(sub.redis, subscriptions, () => {}), timeoutMs, "SUBSCRIBE");
        await answerWithin(PROBE_STEPS.$!.write(w, base), timeoutMs, "SET");
        for (const s of steps) {
          if (s !== PROBE_STEPS.$) await answerWithin(s.write(w, base), timeoutMs, `the ${s.event} write`);
        }
      } catch (err) {
        error = (err as Error).message;
      }
      if (error === undefined) {
        await withTimeout(seenAll, timeoutMs, () => new Error("late")).catch(() => {});
      }
      await answerWithin(w.del(...PROBE_SUFFIXES.map((s) => base + s)), timeoutMs, "DEL").catch(() => {});
      return {
        ok: error === undefined && expected.size === 0,
        missing: [...expected],
        unproven,
        ...(error !== undefined ? { error } : {}),
      };
    } finally {
      stop();
    }
  } finally {
    await writer?.close();
    await sub.close();
  }
}

/** How {@linkcode ensureNotifications} should go about it. */
export interface EnsureOptions {
  /** A command connection to the server that will send the events. */
  redis: Redis;
  /** That server's URL (for the probe). */
  url: string;
  /** Where to write probe keys if `url` is a read-only replica. */
  writeUrl?: string;
  /** The database number. */
  db: number;
  /** The letters needed, e.g. `K$`. */
  needed: string;
  /** false (`--no-config`): read the setting, warn, but change nothing. */
  change: boolean;
  /** Where the outcome is reported. */
  reporter: Reporter;
  /** The server's address for messages (password hidden). */
  address: string;
  /** Where a change is recorded, to be reported or undone at exit. */
  changes?: NotifyChanges;
  /** The server is a node of a cluster: its probe connections skip the cluster check. */
  clusterNode?: boolean;
  /** A hash tag that puts the probe keys on the server's own slots (on a cluster); default none. */
  keyTag?: string;
}

/** What {@linkcode ensureNotifications} did. */
export type EnsureOutcome =
  | { kind: "already"; flags: string }
  | { kind: "changed"; before: string; after: string; added: string }
  | { kind: "probed"; reason: string; unproven: string }
  | { kind: "unchecked"; flags?: string; missing?: string; reason?: string };

/**
 * Makes sure the server sends the events `needed` asks for: reads
 * `notify-keyspace-events`, adds exactly the missing letters (keeping those
 * already set) and reports the change. When CONFIG is refused it proves
 * with a probe key that the events arrive anyway, or stops with exit code
 * 5 and the exact value to ask the operator for. With `change: false` it
 * only reads and warns.
 *
 * @param options the server, the letters and how to report
 * @returns what was found and done
 * @throws {CliError} exit code 5 (ConfigRefused) when the events cannot be had
 * @example
 * ```ts ignore
 * await ensureNotifications({ redis, url, db: 0, needed: "K$", change: true, reporter, address: url });
 * ```
 */
export async function ensureNotifications(options: EnsureOptions): Promise<EnsureOutcome> {
  const { reporter, needed, address } = options;
  const current = await readNotifyConfig(options.redis);
  if (!options.change) {
    if (!current.allowed) {
      reporter.warn(`Cannot read notify-keyspace-events on ${address} (${current.reason}); --no-config: not checked.`);
      return { kind: "unchecked", reason: current.reason };
    }
    const missing = missingFlags(current.flags, needed);
    if (missing) {
      reporter.warn(
        `notify-keyspace-events is ${quote(current.flags)} on ${address}: it lacks ${missing}, so the events watched ` +
          `will not arrive. --no-config: left unchanged (set it to ${quote(mergeFlags(current.flags, needed))}).`,
      );
    }
    return { kind: "unchecked", flags: current.flags, missing };
  }
  if (current.allowed) {
    const missing = missingFlags(current.flags, needed);
    if (!missing) {
      reporter.info(`notify-keyspace-events is ${quote(current.flags)} on ${address}: it already covers ${needed}.`);
      return { kind: "already", flags: current.flags };
    }
    const wanted = mergeFlags(current.flags, needed);
    const written = await writeNotifyConfig(options.redis, wanted);
    if (written.allowed) {
      reporter.ok(
        `Enabled keyspace notifications on ${address}: notify-keyspace-events ${quote(current.flags)} → ` +
          `${quote(written.flags)} (added ${missing}).`,
      );
      options.changes?.record(current.flags, written.flags);
      return { kind: "changed", before: current.flags, after: written.flags, added: missing };
    }
    if (written.invalid) throw rejectedValue(address, wanted, written.reason);
    throw refused(
      address,
      `notify-keyspace-events is ${quote(current.flags)}, which lacks ${missing}, and CONFIG SET is refused ` +
        `(${written.reason.trim()})`,
      wanted,
      "That keeps the letters already set and adds the missing ones.",
    );
  }
  const probe = await probeFlags({
    url: options.url,
    writeUrl: options.writeUrl,
    db: options.db,
    flags: needed,
    ...(options.clusterNode ? { clusterNode: true } : {}),
    ...(options.keyTag ? { keyTag: options.keyTag } : {}),
  });
  if (probe.ok) {
    const assumed = probe.unproven ? ` (${probe.unproven} cannot be probed: assumed on)` : "";
    reporter.info(
      `CONFIG is refused on ${address} (${current.reason}), but a probe key showed notifications ` +
        `${orderFlags(flagLetters(needed))} are on${assumed}.`,
    );
    return { kind: "probed", reason: current.reason, unproven: probe.unproven };
  }
  const why = probe.error
    ? `the probe could not run (${probe.error})`
    : `a probe key saw no ${probe.missing.map(describeMissing).join(", ")} within ${PROBE_TIMEOUT_MS / 1000} s`;
  throw refused(
    address,
    `CONFIG is refused (${current.reason.trim()}) and notifications are off: ${why}`,
    needed,
    "If other letters are set already, keep them and add these.",
  );
}

/** Letters that servers older than Redis 7 (KeyDB 6, Redis 6) do not know, and what they are for. */
const NEWER_LETTERS: Record<string, string> = { n: "new key", d: "module" };

function rejectedValue(address: string, value: string, reason: string): CliError {
  const newer = [...flagLetters(value)].filter((c) => c in NEWER_LETTERS);
  const which = newer.length
    ? `It may not know ${newer.map((c) => `${c} (${NEWER_LETTERS[c]} events)`).join(", ")}: ` +
      "KeyDB and Redis before 7.0 have no such class. Watch other events, or use a server that has it."
    : "Check the letters this server's version documents for notify-keyspace-events.";
  return new CliError(
    ExitCode.Failure,
    `Keyspace notifications needed on ${address}: CONFIG SET is allowed, but the server rejected ` +
      `notify-keyspace-events ${quote(value)} as invalid (${reason.trim()}): it does not support one of those letters.
` +
      which,
  );
}

function quote(flags: string): string {
  return `"${flags}"`;
}

function describeMissing(missing: string): string {
  const [kind, event] = missing.split(":");
  return `${event} event on the ${kind} channel`;
}

function refused(address: string, what: string, value: string, note: string): CliError {
  return new CliError(
    ExitCode.ConfigRefused,
    `Keyspace notifications needed on ${address}: ${what}.\n` +
      `Ask the operator to set notify-keyspace-events to ${quote(value)} ` +
      `(CONFIG SET notify-keyspace-events ${value}, or notify-keyspace-events "${value}" in the server's config; ` +
      `on a managed service it is an instance parameter). ${note}`,
  );
}

/** How long each CONFIG command at exit may take, in ms. */
const SETTLE_TIMEOUT_MS = 2000;

/** How {@linkcode NotifyChanges.settle} reports and whether it undoes. */
export interface SettleOptions {
  /** A command connection to the server that was changed. */
  redis: Redis;
  /** `--restore-config`: put back the value found, if nobody changed it since. */
  restore: boolean;
  /** Where the outcome is reported. */
  reporter: Reporter;
  /** The server's address for messages and the revert command (password hidden). */
  address: string;
}

/**
 * What a run changed in `notify-keyspace-events`: the value it found before
 * its first change and the value it set last (a restarted server may need it
 * set again). At exit, {@linkcode settle} says what stays changed and how to
 * revert it, or, with `restore`, puts the value found back — only when the
 * server still has the value this run set, so a change made by someone else
 * since is never undone.
 *
 * @example
 * ```ts
 * import { NotifyChanges } from "./notifications.ts";
 * import assert from "node:assert/strict";
 * const changes = new NotifyChanges();
 * changes.record("", "K$");
 * assert.equal(
 *   changes.revertCommand("redis://localhost:6379"),
 *   "redis-cli -u redis://localhost:6379 CONFIG SET notify-keyspace-events ''",
 * );
 * ```
 */
export class NotifyChanges {
  #found: string | undefined;
  #set: string | undefined;

  /**
   * Records one change.
   *
   * @param before the value the server had
   * @param after the value now in effect
   */
  record(before: string, after: string): void {
    this.#found ??= before;
    this.#set = after;
  }

  /**
   * The command that puts back the value found.
   *
   * @param address the server (password hidden)
   * @returns a redis-cli command line, e.g. `redis-cli -u redis://localhost:6379 CONFIG SET notify-keyspace-events ''`
   */
  revertCommand(address: string): string {
    return `redis-cli -u ${address} CONFIG SET notify-keyspace-events '${this.#found ?? ""}'`;
  }

  /**
   * At exit: reports what stays changed with the command to revert it, or,
   * with `restore`, puts the value found back when the server still has the
   * one this run set. Never throws; every command is bounded.
   *
   * @param options the connection, whether to restore, where to report
   * @returns when done
   */
  async settle(options: SettleOptions): Promise<void> {
    const found = this.#found;
    const set = this.#set;
    if (found === undefined || set === undefined) return;
    const { reporter, address } = options;
    const was = `it was ${quote(found)} before this run`;
    if (!options.restore) {
      reporter.info(
        `notify-keyspace-events stays ${quote(set)} on ${address} (${was}). ` +
          `To revert: ${this.revertCommand(address)} (or run with --restore-config).`,
      );
      return;
    }
    const couldNot = (why: string) =>
      reporter.warn(
        `Could not put notify-keyspace-events back on ${address} (${why}): it may still be ${quote(set)} (${was}). ` +
          `To revert: ${this.revertCommand(address)}`,
      );
    try {
      const now = await answerWithin(readNotifyConfig(options.redis), SETTLE_TIMEOUT_MS, "CONFIG GET");
      if (!now.allowed) return couldNot(now.reason);
      if (now.flags !== set) {
        reporter.warn(
          `notify-keyspace-events on ${address} is now ${quote(now.flags)}, not the ${quote(set)} this run set: ` +
            `someone changed it since, so --restore-config left it as it is (${was}).`,
        );
        return;
      }
      const back = await answerWithin(writeNotifyConfig(options.redis, found), SETTLE_TIMEOUT_MS, "CONFIG SET");
      if (!back.allowed) return couldNot(back.reason);
      reporter.ok(`Put notify-keyspace-events back to ${quote(found)} on ${address}, as this run found it.`);
    } catch (err) {
      couldNot((err as Error).message.split("\n")[0]!);
    }
  }
}
