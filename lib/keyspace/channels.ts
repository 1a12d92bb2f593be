/**
 * Keyspace notification channels: their names, what a notification says,
 * which class letter each event needs, and which channels to subscribe to
 * so that the server does the filtering.
 *
 * @module
 */
import { orderFlags } from "./notify_flags.ts";
import type { Subscription } from "../pubsub/subscribe.ts";

/** Events by `notify-keyspace-events` class letter (Redis 7.x, Valkey 8, KeyDB 6). */
const EVENTS_BY_CLASS: Record<string, string[]> = {
  g: ["del", "expire", "persist", "rename_from", "rename_to", "move_from", "move_to", "copy_to", "restore"],
  $: ["set", "setrange", "incrby", "incrbyfloat", "append"],
  l: ["lpush", "rpush", "lpop", "rpop", "linsert", "lset", "lrem", "ltrim", "sortstore"],
  s: ["sadd", "srem", "spop", "sinterstore", "sunionstore", "sdiffstore"],
  h: ["hset", "hdel", "hincrby", "hincrbyfloat", "hexpire", "hpersist", "hexpired"],
  z: [
    "zadd",
    "zincr",
    "zrem",
    "zrembyscore",
    "zrembyrank",
    "zrembylex",
    "zpopmin",
    "zpopmax",
    "zdiffstore",
    "zinterstore",
    "zunionstore",
    "zrangestore",
  ],
  t: [
    "xadd",
    "xdel",
    "xtrim",
    "xsetid",
    "xgroup-create",
    "xgroup-createconsumer",
    "xgroup-delconsumer",
    "xgroup-destroy",
    "xgroup-setid",
  ],
  x: ["expired"],
  e: ["evicted"],
  n: ["new"],
  m: ["keymiss"],
};

const CLASS_OF_EVENT = new Map(
  Object.entries(EVENTS_BY_CLASS).flatMap(([cls, events]) => events.map((e) => [e, cls] as const)),
);

/** The `--event` value that means every event of classes `A`. */
export const ALL_EVENTS = "all";

/**
 * The class letter of an event, or undefined for an event this table does
 * not know (a newer server's or a module's).
 *
 * @param event an event name, e.g. `hset`
 * @returns its class letter, e.g. `h`
 * @example
 * ```ts
 * import { eventClass } from "./channels.ts";
 * import assert from "node:assert/strict";
 * assert.equal(eventClass("expired"), "x");
 * assert.equal(eventClass("set"), "$");
 * ```
 */
export function eventClass(event: string): string | undefined {
  return CLASS_OF_EVENT.get(event);
}

/**
 * The keyspace channel of a key: its messages carry event names.
 *
 * @param db the database number
 * @param key the key (or a glob pattern, for PSUBSCRIBE)
 * @returns e.g. `__keyspace@0__:shared_key`
 * @example
 * ```ts
 * import { keyspaceChannel } from "./channels.ts";
 * import assert from "node:assert/strict";
 * assert.equal(keyspaceChannel(0, "k"), "__keyspace@0__:k");
 * ```
 */
export function keyspaceChannel(db: number, key: string): string {
  return `__keyspace@${db}__:${key}`;
}

/**
 * The keyevent channel of an event: its messages carry key names.
 *
 * @param db the database number
 * @param event the event name
 * @returns e.g. `__keyevent@0__:set`
 * @example
 * ```ts
 * import { keyeventChannel } from "./channels.ts";
 * import assert from "node:assert/strict";
 * assert.equal(keyeventChannel(2, "del"), "__keyevent@2__:del");
 * ```
 */
export function keyeventChannel(db: number, event: string): string {
  return `__keyevent@${db}__:${event}`;
}

/** One keyspace notification: which key, which event, which db. */
export interface Notification {
  /** The database number. */
  db: number;
  /** The key the event happened to. */
  key: string;
  /** The event name, e.g. `set`, `del`, `expired`. */
  event: string;
}

const NOTIFICATION_CHANNEL = /^__key(space|event)@(\d+)__:([\s\S]*)$/;

/**
 * Reads a notification from a channel name and a payload, whichever kind of
 * channel it came on.
 *
 * @param channel the channel, e.g. `__keyspace@0__:shared_key`
 * @param payload the message: an event name or a key name, as text or as received
 * @returns the notification, or undefined for a channel that is not one
 * @example
 * ```ts
 * import { parseNotification } from "./channels.ts";
 * import assert from "node:assert/strict";
 * const n = parseNotification("__keyevent@0__:del", "k");
 * assert.equal(n?.key, "k");
 * assert.equal(n.event, "del");
 * ```
 */
export function parseNotification(channel: string, payload: string | Uint8Array): Notification | undefined {
  const m = NOTIFICATION_CHANNEL.exec(channel);
  if (!m) return undefined;
  const db = Number(m[2]);
  const text = typeof payload === "string" ? payload : decoder.decode(payload);
  return m[1] === "space" ? { db, key: m[3]!, event: text } : { db, key: text, event: m[3]! };
}

const decoder = new TextDecoder();

/**
 * Whether a key name is a glob pattern (`*`, `?` or `[`) rather than one key.
 *
 * @param key a `--key` value
 * @returns true for patterns
 * @example
 * ```ts
 * import { isGlob } from "./channels.ts";
 * import assert from "node:assert/strict";
 * assert.ok(isGlob("user:*"));
 * assert.ok(!isGlob("shared_key"));
 * ```
 */
export function isGlob(key: string): boolean {
  return /[*?[]/.test(key);
}

/**
 * Translates a Redis glob pattern (`*`, `?`, `[abc]`, `[^a-z]`, `\x`) into
 * a RegExp that matches the same names.
 *
 * @param pattern the glob
 * @returns an anchored RegExp
 * @example
 * ```ts
 * import { globToRegExp } from "./channels.ts";
 * import assert from "node:assert/strict";
 * assert.ok(globToRegExp("user:[0-9]*").test("user:42"));
 * ```
 */
export function globToRegExp(pattern: string): RegExp {
  let source = "";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === "*") source += "[\\s\\S]*";
    else if (c === "?") source += "[\\s\\S]";
    else if (c === "\\" && i + 1 < pattern.length) source += escapeRegExp(pattern[++i]!);
    else if (c === "[") {
      const close = pattern.indexOf("]", i + 2);
      if (close === -1) {
        source += "\\[";
        continue;
      }
      let body = pattern.slice(i + 1, close);
      const negate = body.startsWith("^");
      if (negate) body = body.slice(1);
      source += `[${negate ? "^" : ""}${body.replace(/[\]\\^]/g, (x) => `\\${x}`)}]`;
      i = close;
    } else source += escapeRegExp(c);
  }
  return new RegExp(`^${source}$`);
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}

/** What to subscribe to for a set of keys and events, and what is left to filter here. */
export interface WatchPlan {
  /** Which kind of channel carries the events. */
  channel: "keyspace" | "keyevent";
  /** The channels and patterns to subscribe to. */
  subscriptions: Subscription[];
  /** The `notify-keyspace-events` letters this needs, e.g. `K$`. */
  needed: string;
  /** Event names not in this module's table (they need class `A`). */
  unknownEvents: string[];
  /** Whether a notification is one asked for (the part the server cannot filter). */
  wants(n: Notification): boolean;
  /**
   * Whether this delivery of a notification is the one to handle: when key
   * patterns overlap (`user:*` and `user:1*`, or `shared_key` and `shared*`),
   * the server sends one message per matching subscription. Only the first
   * counts: an exact channel before any pattern, else the first pattern in
   * {@linkcode WatchPlan.subscriptions} that matches.
   */
  firstDelivery(channel: string, pattern?: string): boolean;
}

/** The first-delivery rule of {@linkcode WatchPlan} for a list of subscriptions. */
function firstDeliveryOf(subscriptions: readonly Subscription[]): (channel: string, pattern?: string) => boolean {
  const exact = new Set(subscriptions.filter((s) => s.kind === "channel").map((s) => s.name));
  const patterns = subscriptions.filter((s) => s.kind === "pattern").map((s) => ({
    name: s.name,
    regexp: globToRegExp(s.name),
  }));
  if (patterns.length === 0 || (patterns.length === 1 && exact.size === 0)) return () => true;
  return (channel, pattern) => {
    if (pattern === undefined) return true;
    if (exact.has(channel)) return false;
    return patterns.find((p) => p.regexp.test(channel))?.name === pattern;
  };
}

/**
 * Chooses channels so that the server filters as much as it can:
 * keyspace channels (one per key or key pattern, filtering events here)
 * when every key is a plain name or every event is wanted; otherwise
 * keyevent channels (one per event, filtering key patterns here).
 *
 * @param db the database number
 * @param keys key names or glob patterns (`*` for all)
 * @param events event names, or `all`
 * @returns the subscriptions, the flags they need and the remaining filter
 * @example
 * ```ts
 * import { planWatch } from "./channels.ts";
 * import assert from "node:assert/strict";
 * const plan = planWatch(0, ["shared_key"], ["set"]);
 * assert.equal(plan.subscriptions[0]?.name, "__keyspace@0__:shared_key");
 * assert.equal(plan.needed, "K$");
 * ```
 */
export function planWatch(db: number, keys: readonly string[], events: readonly string[]): WatchPlan {
  const allEvents = events.includes(ALL_EVENTS);
  const allKeys = keys.includes("*");
  const unknownEvents = allEvents ? [] : events.filter((e) => eventClass(e) === undefined);
  const classes = allEvents || unknownEvents.length ? "A" : orderFlags(events.map((e) => eventClass(e)!));
  const eventSet = new Set(events);
  if (allEvents || keys.every((k) => !isGlob(k))) {
    const subscriptions: Subscription[] = allKeys
      ? [{ kind: "pattern", name: keyspaceChannel(db, "*") }]
      : [...new Set(keys)].map((k) => ({ kind: isGlob(k) ? "pattern" : "channel", name: keyspaceChannel(db, k) }));
    return {
      channel: "keyspace",
      subscriptions,
      needed: "K" + classes,
      unknownEvents,
      wants: (n) => allEvents || eventSet.has(n.event),
      firstDelivery: firstDeliveryOf(subscriptions),
    };
  }
  const patterns = keys.map(globToRegExp);
  const subscriptions: Subscription[] = [...eventSet].map((e) => ({ kind: "channel", name: keyeventChannel(db, e) }));
  return {
    channel: "keyevent",
    subscriptions,
    needed: "E" + classes,
    unknownEvents,
    wants: (n) => allKeys || patterns.some((p) => p.test(n.key)),
    firstDelivery: firstDeliveryOf(subscriptions),
  };
}
