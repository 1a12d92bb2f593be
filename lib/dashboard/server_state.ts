/**
 * What the dashboard reads from the server on its command connection, once
 * per poll: the active channels and their subscribers, the server's identity,
 * memory and clients, the round trip, whether keyspace notifications are on,
 * lab 4's stored values and the streams' lengths and groups. Each part is
 * bounded (at most {@linkcode MAX_LISTED} channels, streams and values).
 *
 * @module
 */
import type { Cluster, Redis } from "ioredis";
import { escapeControl } from "../core/output.ts";
import { identifyServer, parseInfo } from "../core/server_identity.ts";
import { readAllStored } from "../kv/store.ts";
import { streamGroups } from "../streams/groups.ts";

/** At most this many channels, streams and stored values are read and shown. */
export const MAX_LISTED = 100;

/** The server's side of the page. */
export interface ServerState {
  /** e.g. `Redis 7.0.15`. */
  server: string;
  /** PING's round trip in ms. */
  roundTripMs: number;
  /** `used_memory_human`. */
  memory: string;
  /** `connected_clients`. */
  clients: number;
  /** Active channels (escaped) and their subscriber counts, most subscribers first: the first {@linkcode MAX_LISTED} by name. */
  channels: { name: string; subscribers: number }[];
  /** How many channels are active (`PUBSUB CHANNELS` but keyspace ones; on a cluster, summed over the masters). */
  activeChannels: number;
  /** `PUBSUB NUMPAT`. */
  patterns: number;
  /** `notify-keyspace-events`, or undefined when CONFIG is refused. */
  notify?: string;
  /** Lab 4's stored values: the live page's `update` event JSON, by type. */
  stored: { type: string; event: unknown }[];
  /** On a cluster: each master's own figures, in slot order. */
  nodes?: {
    address: string;
    slots: string;
    roundTripMs: number;
    memory: string;
    clients: number;
    notify?: string;
  }[];
  /** Streams: length and groups. */
  streams: {
    name: string;
    length: number;
    groups: { name: string; pending: number; lag: number | null; consumers: number }[];
  }[];
}

/** What {@linkcode readServerState} reads besides the basics. */
export interface StateOptions {
  /** Lab 4's key prefix, as kv_updater's `--prefix`; undefined: no stored values. */
  prefix?: string;
  /** Streams to show; undefined: the first ones a `SCAN … TYPE stream` finds. */
  streams?: string[];
}

/**
 * Reads the server's state for the page.
 *
 * @param redis the command connection (not the subscriber)
 * @param options prefix and streams
 * @returns the state
 * @example
 * ```ts
 * import { Redis } from "ioredis";
 * import { LocalServer } from "../core/local_server.ts";
 * import { readServerState } from "./server_state.ts";
 *
 * await using local = Deno.env.get("REDIS_URL") ? undefined : await LocalServer.start();
 * const redis = new Redis(local?.url ?? Deno.env.get("REDIS_URL")!);
 * const state = await readServerState(redis, {});
 * console.assert(state.clients >= 1 && state.roundTripMs >= 0);
 * redis.disconnect();
 * ```
 */
export async function readServerState(redis: Redis, options: StateOptions): Promise<ServerState> {
  const started = performance.now();
  await redis.ping();
  const roundTripMs = Math.round((performance.now() - started) * 1000) / 1000;
  const [info, names, patterns, notify] = await Promise.all([
    redis.info(),
    redis.pubsub("CHANNELS") as Promise<string[]>,
    redis.pubsub("NUMPAT") as Promise<unknown> as Promise<number>,
    redis.config("GET", "notify-keyspace-events").then(
      (r) => String((r as string[])[1] ?? ""),
      () => undefined,
    ),
  ]);
  const fields = parseInfo(info);
  const who = identifyServer(fields);
  // The first by name, not the first the server's hash table yields: the same ones from one poll to the next.
  const active = names.filter((n) => !n.startsWith("__key"));
  const listed = active.length > MAX_LISTED ? active.sort().slice(0, MAX_LISTED) : active;
  const counts = listed.length ? (await redis.pubsub("NUMSUB", ...listed)) as (string | number)[] : [];
  const channels = listed.map((name, i) => ({ name: escapeControl(name), subscribers: Number(counts[i * 2 + 1]) }))
    .sort((a, b) => b.subscribers - a.subscribers || a.name.localeCompare(b.name));
  const stored = await readStoredValues(redis, options.prefix);
  const streams = await readStreams(redis, options.streams ?? await findStreams(redis));
  return {
    server: who ? `${who.name} ${who.version}` : "unknown server",
    roundTripMs,
    memory: fields.get("used_memory_human") ?? "?",
    clients: Number(fields.get("connected_clients") ?? 0),
    channels,
    activeChannels: active.length,
    patterns: Number(patterns),
    ...(notify !== undefined ? { notify } : {}),
    stored,
    streams,
  };
}

/** The first streams one bounded SCAN finds (10 at most). */
async function findStreams(redis: Redis): Promise<string[]> {
  const [, keys] = await redis.scan("0", "COUNT", 1000, "TYPE", "stream") as [string, string[]];
  return keys.slice(0, 10).sort();
}

/**
 * Lab 4's stored values under a prefix (none without one), at most {@linkcode MAX_LISTED}.
 *
 * @param redis a connection, or a cluster client (every master is scanned)
 * @param prefix kv_updater's `--prefix`; undefined: none are read
 * @returns the values, as the live page's `update` events
 */
export async function readStoredValues(
  redis: Redis | Cluster,
  prefix: string | undefined,
): Promise<ServerState["stored"]> {
  if (prefix === undefined) return [];
  return (await readAllStored(redis, prefix)).slice(0, MAX_LISTED)
    .map((s) => ({ type: s.type, event: JSON.parse(s.event) }));
}

/**
 * The length and groups of some streams.
 *
 * @param redis a connection, or a cluster client (each stream read on its master)
 * @param names the streams
 * @returns each stream's length and groups, names escaped
 */
export async function readStreams(redis: Redis | Cluster, names: readonly string[]): Promise<ServerState["streams"]> {
  return await Promise.all(names.map(async (name) => {
    const [length, groups] = await Promise.all([redis.xlen(name), streamGroups(redis, name).catch(() => [])]);
    return {
      name: escapeControl(name),
      length,
      groups: groups.map((g) => ({
        name: escapeControl(g.name),
        pending: g.pending,
        lag: g.lag,
        consumers: g.consumers,
      })),
    };
  }));
}
