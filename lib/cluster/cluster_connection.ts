/**
 * An ioredis `Cluster` with the behaviour {@linkcode Connection} gives one
 * server: it connects or explains why not within the timeout, reports a node
 * lost or back and the slots that moved (a failover, a resharding) on
 * stderr, never shows a password, and closes cleanly.
 *
 * @module
 */
import { Cluster, type ClusterOptions, type Redis, type RedisOptions } from "ioredis";
import { Connection, tlsOptions } from "../core/client.ts";
import { announceClosed, announceOpened, connectionView, type WatchedConnection } from "../core/connection_watch.ts";
import { redactUrl, scrubSecret } from "../core/config.ts";
import { CliError, ExitCode } from "../core/exit_codes.ts";
import { unreadableReply } from "../core/server_faults.ts";
import type { Reporter } from "../core/output.ts";
import { routeIoredisWarnings } from "../core/ioredis_warnings.ts";
import { guardIoredis, stopSlotRefresh } from "../core/ioredis_guard.ts";
import { ABORTED, delay, unlessAborted, withTimeout } from "../core/timing.ts";
import { describeSlots, rangesOf, settledMoves, type SlotOwners, slotOwners } from "./topology.ts";

/** How a {@linkcode ClusterConnection} behaves. */
export interface ClusterConnectionOptions {
  /** Seed node URLs (`redis://` or `rediss://`, with user and password; database 0). */
  urls: string[];
  /** Where lost nodes, reconnections and moved slots are reported. */
  reporter: Reporter;
  /** Queue commands while no node serves their slot and send them when one does (default false: fail at once). */
  offlineQueue?: boolean;
  /** What an outage costs, added to the "lost" lines. */
  lossNote?: string;
  /** How long the first connect may take, in ms (default 5000). */
  connectTimeoutMs?: number;
  /** Fail a command that gets no reply within this many ms (default: wait as long as it takes). */
  commandTimeoutMs?: number;
  /** Route SSUBSCRIBE per shard (ioredis `shardedSubscribers`), for sharded subscribers. */
  shardedSubscribers?: boolean;
  /** Send the commands issued in one turn of the event loop in one write per node (default false). */
  autoPipelining?: boolean;
  /** How often to re-read the slot map, in ms (default 1000): how soon a failover is noticed and reported. */
  refreshMs?: number;
  /** Stops the first connect at once (Ctrl+C): {@linkcode ClusterConnection.open} then throws a CliError with code 0. */
  signal?: AbortSignal;
}

const DISCONNECT_TIMEOUT_MS = 200;
/** How long one read of the slot map may take, once connected. */
const SLOTS_REFRESH_TIMEOUT_MS = 1000;

/** Thrown inside {@linkcode ClusterConnection} when the stop signal ends the first connect. */
const STOPPED = new Error("stopped");

/**
 * An ioredis `Cluster` plus the bookkeeping every script needs on a cluster:
 * a redacted address, reports of nodes lost and back and of slots that moved,
 * and closing that leaves nothing behind.
 *
 * @example
 * ```ts ignore
 * import { ClusterConnection } from "./cluster_connection.ts";
 * import { Reporter } from "../core/output.ts";
 * const conn = await ClusterConnection.open({ urls: ["redis://127.0.0.1:7000"], reporter: new Reporter(Deno.stderr) });
 * await conn.cluster.set("greeting", "hello");
 * await conn.close();
 * ```
 */
export class ClusterConnection {
  /** The first seed's URL with its password hidden, as `cluster redis://…`, for every message. */
  readonly address: string;
  /** How many times a node was lost after the first connect. */
  outages = 0;
  /** How many times the slot map changed (failovers, reshardings, nodes added or removed). */
  topologyChanges = 0;
  #downMs = 0;
  /** Lost nodes whose absence still counts in {@linkcode downMs}, with when they were lost. */
  readonly #downSince = new Map<string, number>();
  /** The ioredis cluster client. */
  readonly cluster: Cluster;
  #closing = false;
  /** The first connect is done: from now on a node's failure is an outage, not part of the connect failure. */
  #connected = false;
  #owners: SlotOwners = [];
  readonly #lostNodes = new Map<string, number>();
  /** Nodes whose connection closed and has not been ready since: known at once, before ioredis's reconnect fails. */
  readonly #socketsDown = new Set<string>();
  readonly #listeners = new Set<(owners: SlotOwners) => void>();
  #unrouteWarnings: () => void;
  /** What the watchers of connections see, from the first connect until the close. */
  #watched: WatchedConnection | undefined;

  private constructor(private readonly options: ClusterConnectionOptions) {
    guardIoredis(); // a reply ioredis fails on drops that node's connection instead of ending the process
    const seed = options.urls[0]!;
    this.address = `cluster ${redactUrl(seed)}`;
    const offlineQueue = options.offlineQueue ?? false;
    const redisOptions: RedisOptions = {
      ...credentials(seed),
      enableOfflineQueue: offlineQueue,
      maxRetriesPerRequest: offlineQueue ? null : 0,
      connectTimeout: (options.connectTimeoutMs ?? 5000) + 1000,
      disconnectTimeout: DISCONNECT_TIMEOUT_MS,
      protocol: 3,
      replyMapping: "legacy",
      keepAlive: 30_000,
      ...(options.commandTimeoutMs ? { commandTimeout: options.commandTimeoutMs } : {}),
      ...tlsOptions(seed),
    };
    const clusterOptions: ClusterOptions = {
      lazyConnect: true,
      enableOfflineQueue: offlineQueue,
      enableReadyCheck: true,
      redisOptions,
      slotsRefreshInterval: options.refreshMs ?? 1000,
      slotsRefreshTimeout: SLOTS_REFRESH_TIMEOUT_MS,
      clusterRetryStrategy: (attempt) => this.#closing ? null : Math.min(100 * 2 ** (attempt - 1), 2000),
      ...(options.shardedSubscribers ? { shardedSubscribers: true } : {}),
      ...(options.autoPipelining ? { enableAutoPipelining: true } : {}),
    };
    this.cluster = new Cluster(options.urls.map(hostPort), clusterOptions);
    this.cluster.on("error", () => {}); // each node's trouble is reported once, from "node error" and "-node"
    // A reply that could not be read, or that did not fit its command, is said in words, not as ioredis words it.
    this.cluster.on(
      "node error",
      (err: Error, key: string) => this.#nodeLost(key, unreadableReply(err)?.what ?? err.message),
    );
    this.cluster.on("refresh", () => this.#refreshed());
    // A node's socket closing is the first sign of its loss (the "node error" comes when a reconnect fails, 2-9 s
    // later): readiness follows it at once, the "Lost" line still waits for the failure.
    this.cluster.on("+node", (node: Redis) => {
      const key = nodeKey(node);
      node.on("close", () => this.#closing || this.#socketsDown.add(key));
      node.on("ready", () => this.#socketsDown.delete(key));
    });
    this.cluster.on("-node", (node: Redis) => this.#socketsDown.delete(nodeKey(node)));
    this.#unrouteWarnings = routeIoredisWarnings(options.reporter);
  }

  /**
   * Connects to the cluster, or throws a {@linkcode CliError} that says what
   * is wrong within `connectTimeoutMs`: the first seed's own diagnosis when it
   * cannot be reached or refuses the login (exit code 3), a seed that is not
   * a cluster node (2), a cluster whose slots are not all served (3), or 0
   * when `signal` stops the attempt.
   *
   * @param options the seeds and behaviour
   * @returns the connected cluster
   * @throws {CliError} when the cluster cannot be used
   */
  static async open(options: ClusterConnectionOptions): Promise<ClusterConnection> {
    const conn = new ClusterConnection(options);
    await conn.#connect();
    announceOpened(
      conn.#watched = connectionView("cluster", {
        trouble: () => conn.#trouble(),
        outages: () => conn.outages,
        downMs: () => conn.downMs,
      }),
    );
    return conn;
  }

  /** Why it cannot do its job now, for the watchers of connections: a node lost, or a slot unserved. */
  #trouble(): string | undefined {
    const serving = new Set(this.#owners);
    const closed = [...this.#socketsDown].filter((key) => serving.has(key) && !this.#downSince.has(key));
    const lost = [...this.#downSince.keys(), ...closed];
    if (lost.length > 0) return `cluster node ${lost.join(", ")} of ${this.address} is lost`;
    return this.ready ? undefined : `${this.address} is not ready (${this.cluster.status})`;
  }

  async #connect(): Promise<void> {
    const timeoutMs = this.options.connectTimeoutMs ?? 5000;
    const stop = this.options.signal;
    try {
      if (stop?.aborted) throw STOPPED;
      // The first read of the slot map may take the whole connect time: with ioredis's per-read limit (1 s, kept for
      // later reads so that a hung node does not hold up a failover) a busy machine failed its first connect with
      // "None of startup nodes is available" though every node answered. ioredis reads the limit at each read.
      this.cluster.options.slotsRefreshTimeout = timeoutMs;
      const connected = withTimeout(
        this.cluster.connect(),
        timeoutMs,
        () => new Error(`the cluster was not ready within ${timeoutMs / 1000} s`),
      );
      if (await unlessAborted(connected, stop) === ABORTED) throw STOPPED;
      this.cluster.options.slotsRefreshTimeout = SLOTS_REFRESH_TIMEOUT_MS;
      this.#owners = slotOwners(this.cluster);
      this.#connected = true;
      this.#wakeMasters();
    } catch (err) {
      this.#closing = true;
      this.cluster.disconnect();
      this.#unrouteWarnings();
      await delay(DISCONNECT_TIMEOUT_MS + 20);
      if (err === STOPPED) throw new CliError(ExitCode.Ok, `Stopped while connecting to ${this.address}.`);
      throw await this.#explain(err as Error);
    }
  }

  /** Why the cluster could not be used, from the first seed: its own connect failure, or what its INFO says. */
  async #explain(err: Error): Promise<CliError> {
    const seed = this.options.urls[0]!;
    const seedAddress = redactUrl(seed);
    let info: string;
    try {
      const probe = await Connection.open({
        url: seed,
        reporter: this.options.reporter,
        reconnect: false,
        clusterNode: true,
        connectTimeoutMs: this.options.connectTimeoutMs ?? 5000,
        ...(this.options.signal ? { signal: this.options.signal } : {}),
      });
      try {
        info = String(await probe.redis.info("cluster").catch(() => ""));
        if (/cluster_enabled:1/.test(info)) info += String(await probe.redis.cluster("INFO").catch(() => ""));
      } finally {
        await probe.close();
      }
    } catch (probeErr) {
      if (probeErr instanceof CliError) return probeErr; // unreachable, refused login, broken protocol
      info = "";
    }
    if (/cluster_enabled:0/.test(info)) {
      return new CliError(
        ExitCode.Usage,
        `${seedAddress} is a single server, not a cluster node (cluster_enabled:0): drop --cluster ` +
          `(and REDIS_CLUSTER) to use it as one server.`,
      );
    }
    const state = /cluster_state:(\w+)/.exec(info)?.[1];
    const ok = /cluster_slots_ok:(\d+)/.exec(info)?.[1];
    const why = state && state !== "ok"
      ? `cluster_state is ${state} (${ok ?? "?"} of 16384 slots served)`
      : scrubSecret(err.message, seed);
    return new CliError(
      ExitCode.Connect,
      `Cannot use the cluster at ${seedAddress}: ${why}.\n` +
        `Check it with: redis-cli -h HOST -p PORT cluster info (every slot must be served by a reachable master).`,
    );
  }

  /** A node's connection failed: said once, until the slot map shows the node serving again. */
  #nodeLost(key: string, why: string): void {
    if (this.#closing || !this.#connected || this.#lostNodes.has(key)) return;
    this.#lostNodes.set(key, Date.now());
    this.#downSince.set(key, Date.now());
    this.outages++;
    const owned = rangesOf(this.#owners, key);
    const slots = owned.length > 0 ? `, master of slots ${describeSlots(owned)}` : "";
    const note = this.options.lossNote ? ` ${this.options.lossNote}` : "";
    this.options.reporter.warn(
      `Lost cluster node ${key}${slots} (${scrubSecret(why, this.options.urls[0]!)}).${note}`,
    );
  }

  /** The slot map was re-read: report what moved, and lost nodes that answer again. */
  #refreshed(): void {
    if (this.#closing || !this.#connected) return;
    this.#wakeMasters();
    const next = slotOwners(this.cluster);
    const ready = (key: string) => this.cluster.nodes("all").some((n) => nodeKey(n) === key && n.status === "ready");
    for (const [key, since] of this.#lostNodes) {
      if (!ready(key)) continue;
      this.#lostNodes.delete(key);
      this.options.reporter.ok(
        `Cluster node ${key} answers again, after ${((Date.now() - since) / 1000).toFixed(1)} s.`,
      );
    }
    // A map read from a node that has not yet heard of a failover names the dead master again: not a move.
    const changes = settledMoves(this.#owners, next, (key) => this.#lostNodes.has(key));
    if (changes === undefined) return;
    this.#owners = next;
    const serving = new Set(next);
    for (const [key, since] of this.#downSince) {
      if (!ready(key) && serving.has(key)) {
        this.#wake(key);
        continue;
      }
      this.#downSince.delete(key); // back, or its slots are served by another node now
      this.#downMs += Date.now() - since;
    }
    if (changes.length === 0) return;
    for (const c of changes) {
      const to = c.to || "no node (commands on them fail until one serves them)";
      const emptied = c.from && !serving.has(c.from)
        ? ` ${c.from} serves no slots now (it failed and a replica took over, or a resharding emptied it).`
        : "";
      this.options.reporter.warn(
        `Slots ${describeSlots(c.slots)} moved from ${c.from || "no node"} to ${to}.${emptied}`,
      );
    }
    this.topologyChanges++;
    for (const listener of this.#listeners) listener(next);
  }

  /**
   * Keeps a connection open to every master, even one this client sends nothing to (a subscriber's): its closing is
   * then known at once, where an idle master's loss would wait for a read of the slot map to try it.
   */
  #wakeMasters(): void {
    for (const key of new Set(slotOwners(this.cluster))) if (key) this.#wake(key);
  }

  /**
   * Connects the pool's connection to a lost node that still serves slots when it is idle (ioredis connects a node
   * only for a command): a client that sends it none (a subscriber) would otherwise never see it back.
   */
  #wake(key: string): void {
    const node = this.cluster.nodes("all").find((n) => nodeKey(n) === key);
    if (node?.status === "wait") node.connect().catch(() => {});
  }

  /**
   * Calls `listener` with the new slot map whenever slots move to another
   * node (after the change is reported).
   *
   * @param listener what to do with the new map
   * @returns a function that removes the listener
   */
  onTopologyChange(listener: (owners: SlotOwners) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** The master (`host:port`) serving each slot range, as last read. */
  get owners(): SlotOwners {
    return this.#owners;
  }

  /** The URL of one node (`host:port`), with the seeds' scheme and credentials: for a connection of its own. */
  nodeUrl(key: string): string {
    const url = new URL(this.options.urls[0]!);
    const [host, port] = splitKey(key);
    url.hostname = host;
    url.port = port;
    url.pathname = "";
    return url.href;
  }

  /** The masters' connections of the pool (each a plain ioredis `Redis`), e.g. to scan every master. */
  masters(): Redis[] {
    return this.cluster.nodes("master");
  }

  /**
   * How long nodes were lost, in ms, summed over them: each from its loss until it answers again or the slot map no
   * longer names it (a replica took over its slots), or until now.
   */
  get downMs(): number {
    const now = Date.now();
    return [...this.#downSince.values()].reduce((ms, since) => ms + now - since, this.#downMs);
  }

  /** Whether every slot is served by a connected node. */
  get ready(): boolean {
    return this.cluster.status === "ready";
  }

  /**
   * One line for a script's summary about lost nodes and moved slots, or
   * undefined when nothing happened.
   *
   * @param cost what an outage cost, e.g. `messages published then were not received.`
   * @returns the line, or undefined
   */
  outageSummary(cost: string): string | undefined {
    if (this.outages === 0 && this.topologyChanges === 0) return undefined;
    return `Cluster: ${this.outages} node(s) lost, slot map changed ${this.topologyChanges} time(s): ${cost}`;
  }

  /** Closes every node's connection: QUIT (waiting at most a second), then drops what is left. */
  async close(): Promise<void> {
    this.#unrouteWarnings();
    if (this.#watched) announceClosed(this.#watched);
    this.#watched = undefined;
    if (this.#closing && this.cluster.status === "end") return;
    this.#closing = true;
    if (this.cluster.status === "ready") {
      const quit = this.cluster.quit().then(() => true, () => false);
      await withTimeout(quit, 1000, () => new Error("QUIT unanswered")).catch(() => false);
    }
    if ((this.cluster.status as string) !== "end") this.cluster.disconnect();
    // ioredis arms a timer of `disconnectTimeout` per node to destroy its socket: let them run out.
    await delay(DISCONNECT_TIMEOUT_MS + 20);
    await stopSlotRefresh(this.cluster);
  }
}

/** `host:port` of a seed URL, as ioredis's startup nodes take it (the credentials go in `redisOptions`). */
function hostPort(url: string): { host: string; port: number } {
  const parsed = new URL(url);
  return { host: parsed.hostname.replace(/^\[|\]$/g, ""), port: Number(parsed.port || 6379) };
}

/** `host:port` of a node's connection, as ioredis keys its pool. */
function nodeKey(node: Redis): string {
  return `${node.options.host}:${node.options.port}`;
}

function splitKey(key: string): [string, string] {
  const at = key.lastIndexOf(":");
  return [key.slice(0, at), key.slice(at + 1)];
}

/** User name and password of a seed URL, for every node. */
function credentials(url: string): Pick<RedisOptions, "username" | "password"> {
  const parsed = new URL(url);
  return {
    ...(parsed.username ? { username: decodeURIComponent(parsed.username) } : {}),
    ...(parsed.password ? { password: decodeURIComponent(parsed.password) } : {}),
  };
}
