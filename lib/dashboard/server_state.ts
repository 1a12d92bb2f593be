/**
 * What the dashboard reads once per poll: from each node that holds keys
 * (the server, or each master), the active channels and their subscribers,
 * the server's identity, memory and clients, the round trip, whether keyspace
 * notifications are on and its streams; through the link, lab 4's stored
 * values and the streams named — all put together as the page's server
 * state, with a row per node where there are several. Each part is bounded
 * (at most {@linkcode MAX_LISTED} channels, streams and values).
 *
 * @module
 */
import type { Redis } from "ioredis";
import { escapeControl } from "../core/output.ts";
import { identifyServer, parseInfo } from "../core/server_identity.ts";
import type { Commands, Link } from "../endpoint/link.ts";
import type { LinkedNode } from "../endpoint/node_set.ts";
import { listTypes } from "../kv/store.ts";
import { updateEventJson } from "../kv/message.ts";
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

/** One node's part of the state: all but what is read through the link, and the rows of several nodes. */
export type NodeState = Omit<ServerState, "stored" | "nodes">;

/** What {@linkcode readServerState} reads besides each node's basics. */
export interface StateOptions {
  /** Lab 4's key prefix, as kv_updater's `--prefix`; undefined: no stored values. */
  prefix?: string;
  /** Streams to show; undefined: the first ones a `SCAN … TYPE stream` finds. */
  streams?: string[];
}

/**
 * Reads the state of every node that holds keys, and through the link the stored values and the streams named, and
 * puts them together.
 *
 * @param link the dashboard's link (stored values and named streams, routed by key on a cluster)
 * @param nodes the nodes to read, with their command connections
 * @param options prefix and streams
 * @returns the state; on several nodes, with a row per node
 */
export async function readServerState(
  link: Pick<Link, "getMany" | "redis">,
  nodes: readonly LinkedNode[],
  options: StateOptions,
): Promise<ServerState> {
  // Each node: its own figures and the streams a SCAN finds among its keys (unless streams are named).
  const [states, stored, named] = await Promise.all([
    Promise.all(nodes.map((node) => readNodeState(node.redis, options.streams ? [] : undefined))),
    readStoredValues(link, nodes.map((node) => node.redis), options.prefix),
    options.streams ? readStreams(link.redis, options.streams) : undefined,
  ]);
  return { ...mergeStates(nodes, states), stored, ...(named ? { streams: named } : {}) };
}

/**
 * Reads one node's state for the page.
 *
 * @param redis a command connection to the node (not the subscriber)
 * @param streams the streams to show; undefined: the first ones a `SCAN … TYPE stream` finds
 * @returns the node's state
 * @example
 * ```ts
 * import { Redis } from "ioredis";
 * import { LocalServer } from "../core/local_server.ts";
 * import { readNodeState } from "./server_state.ts";
 * import assert from "node:assert/strict";
 *
 * await using local = Deno.env.get("REDIS_URL") ? undefined : await LocalServer.start();
 * const redis = new Redis(local?.url ?? Deno.env.get("REDIS_URL")!);
 * const state = await readNodeState(redis);
 * assert.ok(state.clients >= 1);
 * assert.ok(state.roundTripMs >= 0);
 * redis.disconnect();
 * ```
 */
export async function readNodeState(redis: Redis, streams?: readonly string[]): Promise<NodeState> {
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
  return {
    server: who ? `${who.name} ${who.version}` : "unknown server",
    roundTripMs,
    memory: fields.get("used_memory_human") ?? "?",
    clients: Number(fields.get("connected_clients") ?? 0),
    channels,
    activeChannels: active.length,
    patterns: Number(patterns),
    ...(notify !== undefined ? { notify } : {}),
    streams: await readStreams(redis, streams ?? await findStreams(redis)),
  };
}

/**
 * The state from the nodes' states: the first one's server name; round trip, the slowest; clients, channels'
 * subscribers and patterns summed (the dashboard's own pattern on each node counted once); streams, each node's own;
 * `notify`, the first node's when all agree, else the one that would warn; and a row per node where there are
 * several (the nodes with a label).
 */
function mergeStates(nodes: readonly LinkedNode[], states: NodeState[]): NodeState & Pick<ServerState, "nodes"> {
  const channels = new Map<string, number>();
  for (const s of states) for (const c of s.channels) channels.set(c.name, (channels.get(c.name) ?? 0) + c.subscribers);
  const notifies = states.map((s) => s.notify);
  const notify = notifies.includes(undefined) ? undefined : notifies.find((n) => !/[KE]/.test(n!)) ?? notifies[0];
  const rows = states.flatMap((s, i) => {
    const { label, slots } = nodes[i]!;
    if (label === undefined) return [];
    const row = { address: label, slots, roundTripMs: s.roundTripMs, memory: s.memory, clients: s.clients };
    return [{ ...row, ...(s.notify !== undefined ? { notify: s.notify } : {}) }];
  });
  return {
    server: states[0]?.server ?? "unknown server",
    roundTripMs: Math.max(0, ...states.map((s) => s.roundTripMs)),
    memory: states.map((s) => s.memory).join(" · "),
    clients: states.reduce((n, s) => n + s.clients, 0),
    channels: [...channels].map(([name, subscribers]) => ({ name, subscribers }))
      .sort((a, b) => b.subscribers - a.subscribers || a.name.localeCompare(b.name)).slice(0, MAX_LISTED),
    activeChannels: states.reduce((n, s) => n + s.activeChannels, 0),
    patterns: Math.max(0, states.reduce((n, s) => n + s.patterns, 0) - Math.max(0, states.length - 1)),
    ...(notify !== undefined ? { notify } : {}),
    streams: states.flatMap((s) => s.streams).slice(0, MAX_LISTED),
    ...(rows.length ? { nodes: rows } : {}),
  };
}

/** The first streams one bounded SCAN finds (10 at most). */
async function findStreams(redis: Redis): Promise<string[]> {
  const [, keys] = await redis.scan("0", "COUNT", 1000, "TYPE", "stream") as [string, string[]];
  return keys.slice(0, 10).sort();
}

/** Types read per round trip of stored values. */
const STORED_BATCH = 1000;

/**
 * Lab 4's stored values under a prefix (none without one), sorted by type, at most {@linkcode MAX_LISTED}: the types
 * found by a SCAN of each node, their values read through the link (keys whose value is not a stored update left out).
 *
 * @param link the link the values are read through
 * @param nodes connections to every node that holds keys
 * @param prefix kv_updater's `--prefix`; undefined: none are read
 * @returns the values, as the live page's `update` events
 */
export async function readStoredValues(
  link: Pick<Link, "getMany">,
  nodes: readonly Redis[],
  prefix: string | undefined,
): Promise<ServerState["stored"]> {
  if (prefix === undefined) return [];
  const types = [...new Set((await Promise.all(nodes.map((node) => listTypes(node, prefix)))).flat())].sort();
  const stored: ServerState["stored"] = [];
  for (let start = 0; start < types.length && stored.length < MAX_LISTED; start += STORED_BATCH) {
    const batch = types.slice(start, start + STORED_BATCH);
    const values = await link.getMany(batch.map((type) => prefix + type));
    batch.forEach((type, n) => {
      const text = values[n];
      const event = text ? updateEventJson(type, text) : undefined;
      if (event) stored.push({ type, event: JSON.parse(event) });
    });
  }
  return stored.slice(0, MAX_LISTED);
}

/**
 * The length and groups of some streams.
 *
 * @param redis a node's connection, or a link's commands (on a cluster, each stream read on its master)
 * @param names the streams
 * @returns each stream's length and groups, names escaped
 */
export async function readStreams(redis: Commands, names: readonly string[]): Promise<ServerState["streams"]> {
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
