/**
 * A throw-away Redis/Valkey cluster on loopback ports, for `deno task
 * cluster` and the tests: masters (and a replica each, optionally) started
 * as {@linkcode LocalServer}s with `--cluster-enabled yes`, and formed with
 * CLUSTER ADDSLOTSRANGE, MEET and REPLICATE, without redis-cli.
 *
 * KeyDB is not used for it: the cluster runs on `valkey-server` or
 * `redis-server` (`$SERVER=valkey|redis` picks one).
 *
 * @module
 */
import { readEnv } from "../core/config.ts";
import { CliError, ExitCode } from "../core/exit_codes.ts";
import {
  askServer,
  findServerBinary,
  freePort,
  LocalServer,
  portFree,
  START_ATTEMPTS,
  startedTooLate,
} from "../core/local_server.ts";
import { ErrorReply, type Reply } from "../wire/resp.ts";
import { delay } from "../core/timing.ts";
import { CLUSTER_SLOTS, type ClusterNodeLine, parseClusterNodes } from "./topology.ts";

/** The binaries a local cluster runs on, in order of preference. */
export const CLUSTER_BINARIES = ["valkey-server", "redis-server"] as const;

/** What to do when neither of {@linkcode CLUSTER_BINARIES} is available. */
export const CLUSTER_INSTALL_HINT: string =
  "The local cluster needs valkey-server or redis-server on PATH (KeyDB is not supported for it): " +
  "install one (Debian/Ubuntu: sudo apt-get install redis-server; macOS: brew install redis), " +
  "and leave SERVER unset or set it to valkey or redis.";

/** A range of hash slots, both ends included. */
export type SlotRange = readonly [first: number, last: number];

/** One node of a {@linkcode LocalCluster}, as the cluster last described it. */
export interface ClusterNode {
  /** The server process. */
  readonly server: LocalServer;
  /** Its port on 127.0.0.1. */
  readonly port: number;
  /** `redis://127.0.0.1:<port>`. */
  readonly url: string;
  /** Its cluster node id (40 hex digits). */
  readonly id: string;
  /** What it is now: a master, or a replica of `masterId`. */
  readonly role: "master" | "replica";
  /** For a replica: the id of its master. */
  readonly masterId?: string;
  /** The slots it serves (a master's; none for a replica). */
  readonly slots: readonly SlotRange[];
  /** false once {@linkcode LocalCluster.kill} has killed it. */
  readonly alive: boolean;
}

/** How to start a {@linkcode LocalCluster}. */
export interface LocalClusterOptions {
  /** How many masters (default 3). */
  masters?: number;
  /** Replicas per master: 0 or 1 (default 0). */
  replicas?: number;
  /** `cluster-node-timeout` in ms (default 5000; tests use ~1000 for a failover within a few seconds). */
  nodeTimeoutMs?: number;
  /** `notify-keyspace-events` on every node (default: off). */
  notifications?: string;
  /** The binary (default: valkey-server, else redis-server, from PATH). */
  binary?: string;
  /** Show the nodes' logs on this terminal instead of writing them to files. */
  foreground?: boolean;
  /** The first node's port: the nodes get `port`, `port + 1`, … (default: free ports). */
  port?: number;
  /** How long forming may take, in ms (default 30 s). */
  formTimeoutMs?: number;
  /** More arguments for every node, e.g. `["--appendonly", "yes"]` for nodes that keep their data over a restart. */
  args?: string[];
}

interface NodeState {
  server: LocalServer;
  port: number;
  bus: number;
  url: string;
  id: string;
  role: "master" | "replica";
  masterId?: string;
  slots: SlotRange[];
  alive: boolean;
}

/**
 * A local cluster whose every node agrees on the slots, with each replica
 * attached, when {@linkcode LocalCluster.start} resolves; `await using`
 * stops every node and removes their files.
 *
 * @example
 * ```ts ignore
 * import { LocalCluster } from "./local_cluster.ts";
 * await using cluster = await LocalCluster.start({ masters: 3, replicas: 1, nodeTimeoutMs: 1000 });
 * console.log(cluster.seedUrl, cluster.nodeOwning(0).url);
 * ```
 */
export class LocalCluster implements AsyncDisposable {
  readonly #nodes: NodeState[];

  private constructor(
    nodes: NodeState[],
    /** The binary every node runs. */
    readonly binary: string,
    /** `cluster-node-timeout` in ms. */
    readonly nodeTimeoutMs: number,
  ) {
    this.#nodes = nodes;
  }

  /** The binary's short name: `valkey-server` or `redis-server`. */
  get kind(): string {
    return this.binary.split("/").at(-1) ?? this.binary;
  }

  /** Every node, masters first (in slot order), then replicas, as last read from the cluster. */
  get nodes(): readonly ClusterNode[] {
    return [...this.#nodes].sort((a, b) => rank(a) - rank(b));
  }

  /** The masters that are alive, in slot order. */
  get masters(): readonly ClusterNode[] {
    return this.nodes.filter((n) => n.alive && n.role === "master");
  }

  /** The replicas that are alive. */
  get replicas(): readonly ClusterNode[] {
    return this.nodes.filter((n) => n.alive && n.role === "replica");
  }

  /** Every node's URL, masters first. */
  get urls(): string[] {
    return this.nodes.filter((n) => n.alive).map((n) => n.url);
  }

  /** A live master's URL, to give a cluster client as its seed. */
  get seedUrl(): string {
    const seed = this.masters[0] ?? this.nodes.find((n) => n.alive);
    if (!seed) throw new Error("No node of the cluster is alive");
    return seed.url;
  }

  /**
   * The master serving `slot`, as last read from the cluster.
   *
   * @param slot a hash slot, 0–16383
   * @returns the node
   * @throws {Error} when no live master serves it
   */
  nodeOwning(slot: number): ClusterNode {
    const node = this.#nodes.find((n) =>
      n.alive && n.role === "master" && n.slots.some(([a, b]) => a <= slot && slot <= b)
    );
    if (!node) throw new Error(`No live master serves slot ${slot}`);
    return node;
  }

  /**
   * The node with this id or port.
   *
   * @param idOrPort a node id or port
   * @returns the node
   * @throws {Error} when the cluster has none
   */
  node(idOrPort: string | number): ClusterNode {
    const node = this.#nodes.find((n) => n.id === idOrPort || n.port === idOrPort);
    if (!node) throw new Error(`The cluster has no node ${idOrPort}`);
    return node;
  }

  /**
   * The replicas of a master.
   *
   * @param master the master
   * @returns its replicas, alive or not
   */
  replicasOf(master: ClusterNode): ClusterNode[] {
    return this.#nodes.filter((n) => n.role === "replica" && n.masterId === master.id);
  }

  /**
   * Starts the nodes and forms the cluster: slots split evenly over the
   * masters, every node met, each replica attached to its master; resolves
   * when every node says `cluster_state:ok` and agrees on who serves what.
   *
   * @param options masters, replicas, node timeout, notifications, binary, ports
   * @returns the formed cluster
   * @throws {CliError} exit code 3 when no usable binary is installed, a node
   *   does not start or the cluster does not form in time; 1 when a port is taken
   */
  static async start(options: LocalClusterOptions = {}): Promise<LocalCluster> {
    const masters = options.masters ?? 3;
    const replicas = options.replicas ?? 0;
    if (!Number.isInteger(masters) || masters < 1) throw new RangeError("masters must be a whole number ≥ 1");
    if (replicas !== 0 && replicas !== 1) throw new RangeError("replicas must be 0 or 1");
    const binary = await findClusterBinary(options.binary);
    for (let attempt = 1;; attempt++) {
      try {
        return await LocalCluster.#start(options, masters, replicas, binary);
      } catch (err) {
        // A port (or bus port) picked here and taken by another process before a node bound it: other ports.
        if (!(options.port === undefined && attempt < START_ATTEMPTS && startedTooLate(err))) throw err;
      }
    }
  }

  static async #start(
    options: LocalClusterOptions,
    masters: number,
    replicas: 0 | 1,
    binary: string,
  ): Promise<LocalCluster> {
    const count = masters * (1 + replicas);
    const ports = await clusterPorts(count, options.port);
    const buses = await busPorts(ports);
    const nodeTimeoutMs = options.nodeTimeoutMs ?? 5000;
    const started = await Promise.allSettled(
      ports.map((port, k) =>
        LocalServer.start({
          binary,
          port,
          notifications: options.notifications,
          foreground: options.foreground,
          args: [...clusterArgs(port, buses[k]!, nodeTimeoutMs), ...options.args ?? []],
        })
      ),
    );
    const servers = started.flatMap((s) => s.status === "fulfilled" ? [s.value] : []);
    const failed = started.find((s): s is PromiseRejectedResult => s.status === "rejected");
    if (failed) {
      await Promise.all(servers.map((s) => s[Symbol.asyncDispose]()));
      throw failed.reason;
    }
    try {
      const nodes: NodeState[] = [];
      for (const [k, server] of servers.entries()) {
        const id = await command(server.port, "CLUSTER MYID");
        const { port, url } = server;
        nodes.push({ server, port, url, bus: buses[k]!, id, role: "master", slots: [], alive: true });
      }
      const cluster = new LocalCluster(nodes, binary, nodeTimeoutMs);
      await cluster.#form(masters, options.formTimeoutMs ?? 30_000);
      return cluster;
    } catch (err) {
      await Promise.all(servers.map((s) => s[Symbol.asyncDispose]()));
      throw err;
    }
  }

  async #form(masters: number, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const primaries = this.#nodes.slice(0, masters);
    const secondaries = this.#nodes.slice(masters);
    for (const [i, node] of primaries.entries()) {
      node.slots = [evenRange(i, masters)];
      await addSlots(node.port, node.slots[0]!);
      await command(node.port, `CLUSTER SET-CONFIG-EPOCH ${i + 1}`);
    }
    const [first, ...others] = this.#nodes;
    for (const node of others) await command(first!.port, `CLUSTER MEET 127.0.0.1 ${node.port} ${node.bus}`);
    await this.#until(deadline, "every node to know every other", async () => {
      for (const node of this.#nodes) {
        const known = parseClusterNodes(await command(node.port, "CLUSTER NODES"));
        const missing = this.#nodes.find((n) => !known.some((k) => k.id === n.id && !k.flags.has("handshake")));
        if (missing) return `${node.url} does not know ${missing.url} yet`;
      }
      return undefined;
    });
    for (const [i, node] of secondaries.entries()) {
      const master = primaries[i % masters]!;
      node.role = "replica";
      node.masterId = master.id;
      await command(node.port, `CLUSTER REPLICATE ${master.id}`);
    }
    await this.#until(deadline, "the cluster to form", () => this.#agreed(this.#nodes));
  }

  /** Polls `check` (undefined: done; else what is still missing) every 50 ms until `deadline`. */
  async #until(deadline: number, what: string, check: () => Promise<string | undefined>): Promise<void> {
    let missing: string | undefined = "no answer yet";
    while (Date.now() < deadline) {
      missing = await check().catch((err: Error) => err.message);
      if (missing === undefined) return;
      await delay(50);
    }
    throw new CliError(ExitCode.Connect, `Timed out waiting for ${what}: ${missing}`);
  }

  /**
   * Whether every live node says `cluster_state:ok`, serves the slots this
   * object expects, has its cluster bus links to the others up, sees the expected replicas, and each replica's link
   * to its master is up.
   */
  async #agreed(expected: NodeState[]): Promise<string | undefined> {
    const live = expected.filter((n) => n.alive);
    const want = slotMap(live);
    for (const node of live) {
      const info = await command(node.port, "CLUSTER INFO");
      if (!/^cluster_state:ok\r?$/m.test(info)) return `${node.url} says ${info.match(/cluster_state:\w+/)?.[0]}`;
      const view = parseClusterNodes(await command(node.port, "CLUSTER NODES"));
      const seen = slotMap(view.filter((v) => !v.flags.has("fail")));
      if (seen !== want) return `${node.url} sees the slots as ${seen}, not ${want}`;
      // A PUBLISH crosses the bus only on links that are up: cluster_state:ok can come before every link is.
      const unlinked = view.find((v) => live.some((n) => n.id === v.id) && !v.connected);
      if (unlinked) return `${node.url}'s cluster bus link to ${unlinked.address} is not up yet`;
      const unanswered = await linksWithoutPong(node.port, view.filter((v) => live.some((n) => n.id === v.id)));
      if (unanswered) return `${node.url} has had no PONG on its new link to ${unanswered} yet`;
      for (const replica of live.filter((n) => n.role === "replica")) {
        const entry = view.find((v) => v.id === replica.id);
        if (!entry?.flags.has("slave") || entry.masterId !== replica.masterId) {
          return `${node.url} does not see ${replica.url} as a replica of ${replica.masterId} yet`;
        }
      }
      if (node.role === "replica") {
        const replication = await command(node.port, "INFO replication");
        if (!/^master_link_status:up\r?$/m.test(replication)) return `${node.url}'s link to its master is not up yet`;
      }
    }
    return undefined;
  }

  /**
   * Reads who is master of what from a live node (after a failover, or a
   * restart) into {@linkcode nodes}.
   */
  async refresh(): Promise<void> {
    const live = this.#nodes.filter((n) => n.alive);
    let lastError: unknown = new Error("No node of the cluster is alive");
    for (const node of live) {
      try {
        this.#apply(parseClusterNodes(await command(node.port, "CLUSTER NODES")));
        return;
      } catch (err) {
        lastError = err;
      }
    }
    throw lastError;
  }

  #apply(view: ClusterNodeLine[]): void {
    for (const entry of view) {
      const node = this.#nodes.find((n) => n.id === entry.id);
      if (!node) continue;
      node.role = entry.flags.has("slave") ? "replica" : "master";
      node.masterId = node.role === "replica" ? entry.masterId : undefined;
      node.slots = entry.slots;
    }
  }

  /**
   * Kills a node at once (SIGKILL), as a crash would; its files stay, so
   * {@linkcode restart} brings it back.
   *
   * @param node the node
   */
  async kill(node: ClusterNode): Promise<void> {
    const state = this.#state(node);
    await state.server.kill();
    state.alive = false;
  }

  /**
   * Starts a killed node again on its port with its `nodes.conf`: it rejoins
   * the cluster (a master that was replaced comes back as a replica).
   *
   * @param node the node
   */
  async restart(node: ClusterNode): Promise<void> {
    const state = this.#state(node);
    await state.server.start();
    state.alive = true;
  }

  #state(node: ClusterNode): NodeState {
    const state = this.#nodes.find((n) => n.id === node.id);
    if (!state) throw new Error(`${node.url} is not a node of this cluster`);
    return state;
  }

  /**
   * Waits until a replica of the (killed) master `dead` has taken over its
   * slots in the view of every live node, with `cluster_state:ok`
   * everywhere; then {@linkcode nodes} shows the new roles.
   *
   * @param dead the master that was killed
   * @param timeoutMs how long to wait (default: 10 node timeouts, at least 15 s)
   * @returns the replica that is now master of `dead`'s slots
   * @throws {CliError} (exit code 4) when no replica took over in time
   */
  async waitFailover(dead: ClusterNode, timeoutMs = Math.max(15_000, 10 * this.nodeTimeoutMs)): Promise<ClusterNode> {
    const candidates = this.replicasOf(dead).filter((r) => r.alive).map((r) => r.id);
    if (candidates.length === 0) throw new Error(`${dead.url} has no live replica to take over`);
    const slots = dead.slots;
    const deadline = Date.now() + timeoutMs;
    let winner: string | undefined;
    try {
      await this.#until(deadline, `a replica of ${dead.url} to take over`, async () => {
        winner = undefined;
        for (const node of this.#nodes.filter((n) => n.alive)) {
          const info = await command(node.port, "CLUSTER INFO");
          if (!/^cluster_state:ok\r?$/m.test(info)) return `${node.url} says ${info.match(/cluster_state:\w+/)?.[0]}`;
          const view = parseClusterNodes(await command(node.port, "CLUSTER NODES"));
          const owner = view.find((v) =>
            v.flags.has("master") && !v.flags.has("fail") && sameSlots(v.slots, slots) && candidates.includes(v.id)
          );
          if (!owner) return `${node.url} does not see a replica of ${dead.url} serving its slots yet`;
          if (winner !== undefined && winner !== owner.id) return "the nodes disagree on the new master";
          winner = owner.id;
        }
        return undefined;
      });
    } catch (err) {
      if (err instanceof CliError) throw new CliError(ExitCode.Timeout, err.message);
      throw err;
    }
    await this.refresh();
    return this.node(winner!);
  }

  /** Resolves when every node has exited (killed or crashed); gives the last one and its exit code. */
  get exited(): Promise<{ node: LocalServer; code: number }> {
    return Promise.all(this.#nodes.map((n) => n.server.exited.then((code) => ({ node: n.server, code })))).then(
      (all) => all.at(-1)!,
    );
  }

  /** Stops every node and removes their files. */
  async [Symbol.asyncDispose](): Promise<void> {
    for (const n of this.#nodes) n.alive = false;
    await Promise.all(this.#nodes.map((n) => n.server[Symbol.asyncDispose]()));
  }
}

/**
 * The binary for a local cluster: `binary` if given, else valkey-server or
 * redis-server from PATH (`$SERVER` = valkey or redis picks one).
 *
 * @param binary a binary the caller chose
 * @returns its path
 * @throws {CliError} (exit code 3) naming what to install when there is none, or it is KeyDB
 * @example
 * ```ts ignore
 * import { findClusterBinary } from "./local_cluster.ts";
 * console.log(await findClusterBinary()); // e.g. /usr/bin/redis-server
 * ```
 */
export async function findClusterBinary(binary?: string): Promise<string> {
  const chosen = binary ??
    (readEnv("SERVER")?.startsWith("keydb") ? undefined : await findServerBinary(CLUSTER_BINARIES));
  if (!chosen || (chosen.split("/").at(-1) ?? "").startsWith("keydb")) {
    throw new CliError(ExitCode.Connect, CLUSTER_INSTALL_HINT);
  }
  return chosen;
}

/** Masters first, in slot order; then replicas, by port. */
function rank(node: NodeState): number {
  if (node.role === "master" && node.slots.length) return node.slots[0]![0];
  return CLUSTER_SLOTS + (node.role === "master" ? 0 : 70_000) + node.port;
}

/** The `i`-th of `n` even shares of the slots. */
function evenRange(i: number, n: number): SlotRange {
  return [Math.floor((i * CLUSTER_SLOTS) / n), Math.floor(((i + 1) * CLUSTER_SLOTS) / n) - 1];
}

/** CLUSTER ADDSLOTSRANGE (Redis ≥ 7), else ADDSLOTS in chunks an inline command can carry. */
async function addSlots(port: number, [first, last]: SlotRange): Promise<void> {
  try {
    await command(port, `CLUSTER ADDSLOTSRANGE ${first} ${last}`);
    return;
  } catch (err) {
    if (!(err instanceof ReplyError)) throw err;
  }
  for (let from = first; from <= last; from += 1000) {
    const slots = Array.from({ length: Math.min(1000, last - from + 1) }, (_, k) => from + k);
    await command(port, `CLUSTER ADDSLOTS ${slots.join(" ")}`);
  }
}

/**
 * Each node's cluster bus port: its port + 10000, the default, when that is a
 * port and free; else another free one (given with `--cluster-port`).
 */
async function busPorts(ports: number[]): Promise<number[]> {
  const buses: number[] = [];
  for (const port of ports) {
    const usual = port + 10_000;
    let bus = usual <= 65_535 && portFree(usual) ? usual : await freePort();
    for (let tries = 0; (ports.includes(bus) || buses.includes(bus)) && tries < 100; tries++) bus = await freePort();
    buses.push(bus);
  }
  return buses;
}

/** The arguments that make a server a cluster node. */
function clusterArgs(port: number, bus: number, nodeTimeoutMs: number): string[] {
  return [
    "--cluster-enabled",
    "yes",
    "--cluster-config-file",
    "nodes.conf",
    "--cluster-node-timeout",
    String(nodeTimeoutMs),
    // A replica may take over however long it has been cut off: a lab cluster has no stale data worth keeping.
    "--cluster-replica-validity-factor",
    "0",
    "--repl-diskless-sync-delay",
    "0",
    ...(bus === port + 10_000 ? [] : ["--cluster-port", String(bus)]),
  ];
}

/** `count` ports from `base` (all free, or a CliError), else free ports with room for their bus ports. */
async function clusterPorts(count: number, base: number | undefined): Promise<number[]> {
  if (base !== undefined) {
    const ports = Array.from({ length: count }, (_, k) => base + k);
    if (ports.at(-1)! > 65_535) {
      throw new CliError(ExitCode.Usage, `The cluster needs ${count} ports from ${base}: pick a lower base port.`);
    }
    const taken = ports.find((p) => !portFree(p));
    if (taken !== undefined) {
      throw new CliError(
        ExitCode.Failure,
        `Port ${taken} on 127.0.0.1 is in use: the cluster needs ${base}-${ports.at(-1)}; pick another base port.`,
      );
    }
    return ports;
  }
  const ports: number[] = [];
  for (let tries = 0; ports.length < count && tries < 100 * count; tries++) {
    const port = await freePort();
    if (!ports.includes(port)) ports.push(port);
  }
  return ports;
}

/** An error reply (`-ERR …`) of a node. */
class ReplyError extends Error {}

/** Sends one command to a node and gives its reply's text; throws on an error reply or no answer. */
async function command(port: number, text: string): Promise<string> {
  const reply = await askServer(port, text, 2000);
  if (reply === undefined) throw new Error(`127.0.0.1:${port} did not answer ${text.split(" ", 2).join(" ")}`);
  if (reply instanceof ErrorReply) throw new ReplyError(`127.0.0.1:${port}: ${reply.message}`);
  return String(reply);
}

/** The fields of a reply given as name, value, name, value… (a map on RESP2), by name. */
function fieldsOf(reply: Reply): Map<string, Reply> {
  const fields = new Map<string, Reply>();
  if (!Array.isArray(reply)) return fields;
  for (let i = 0; i + 1 < reply.length; i += 2) fields.set(String(reply[i]), reply[i + 1]!);
  return fields;
}

/**
 * The first node whose cluster bus links with the node at `port` are not both ready, if any: the outgoing one has had
 * no PONG since it was made, or the incoming one is not yet tied to its node.
 * Valkey 8.0 sends PUBLISH over such a link with its light header, which the other side drops (fixed upstream in
 * valkey-io/valkey#2817): until every link has had its PONG, a message published on one node may not reach
 * subscribers on another. Servers without CLUSTER LINKS (before 7.0) are not asked.
 */
async function linksWithoutPong(port: number, view: ClusterNodeLine[]): Promise<string | undefined> {
  const reply = await askServer(port, "CLUSTER LINKS", 2000);
  if (!Array.isArray(reply)) return undefined; // no answer, or an error: no CLUSTER LINKS
  const made = new Map<string, number>();
  // An incoming link is tied to its node by the first PING on it; until then the light messages on it are dropped.
  const tied = new Set<string>();
  for (const link of reply.map(fieldsOf)) {
    const node = String(link.get("node"));
    if (link.get("direction") === "to") made.set(node, Number(link.get("create-time")));
    else if (link.get("direction") === "from") tied.add(node);
  }
  const waiting = view.find((v) =>
    !v.flags.has("myself") && (!(v.pongReceivedMs >= (made.get(v.id) ?? Infinity)) || !tied.has(v.id))
  );
  return waiting?.address;
}

/** A canonical text of who serves which slots: `id:first-last,…` sorted. */
function slotMap(nodes: { id: string; slots: readonly SlotRange[] }[]): string {
  return nodes.filter((n) => n.slots.length).map((n) =>
    `${n.id.slice(0, 8)}:${n.slots.map(([a, b]) => `${a}-${b}`).join(",")}`
  )
    .sort().join(" ");
}

function sameSlots(a: readonly SlotRange[], b: readonly SlotRange[]): boolean {
  return slotMap([{ id: "", slots: a }]) === slotMap([{ id: "", slots: b }]);
}
