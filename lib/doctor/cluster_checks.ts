/**
 * The connection doctor on a cluster: the cluster's state, every master and
 * replica with its slots and round trip, whether keyspace notifications are
 * on on every master (they are emitted by the node that owns the key), and
 * whether sharded pub/sub is there.
 *
 * @module
 */
import type { ClusterConnection } from "../cluster/cluster_connection.ts";
import { type ClusterNodeLine, describeSlots, parseClusterNodes } from "../cluster/topology.ts";
import { Connection } from "../core/client.ts";
import { formatMs, roundMs, summarizeLatency } from "../core/latency.ts";
import { answerWithin, NoAnswerError } from "../core/no_answer.ts";
import type { Reporter } from "../core/output.ts";
import { readServerIdentity, type ServerIdentity } from "../core/server_identity.ts";
import { readNotifyConfig } from "../keyspace/notifications.ts";
import { missingFlags } from "../keyspace/notify_flags.ts";
import { type Check, LAB_NOTIFY_FLAGS } from "./checks.ts";

/** One node as the doctor saw it. */
export interface NodeReport {
  /** `host:port`. */
  address: string;
  /** Its id in the cluster. */
  id: string;
  /** Its role. */
  role: "master" | "replica";
  /** A replica's master, `host:port` (or its id when unknown). */
  master: string | null;
  /** The slots a master serves, e.g. `0-5460`. */
  slots: string;
  /** Median PING round trip in ms; null when the node could not be reached. */
  ping_ms: number | null;
  /** `notify-keyspace-events` of a master; null when CONFIG is refused or the node unreachable (and on replicas). */
  notifications: string | null;
  /** Whether the cluster takes it for failed, or it could not be reached. */
  down: boolean;
}

/** Everything the cluster doctor found. */
export interface ClusterReport {
  /** `cluster_state` from CLUSTER INFO. */
  state: string;
  /** How many of the 16384 slots are served. */
  slotsOk: number;
  /** The server of the first master reached. */
  server?: ServerIdentity;
  /** Every node. */
  nodes: NodeReport[];
  /** Whether SSUBSCRIBE / SPUBLISH exist; null when it could not be told. */
  sharded: boolean | null;
  /** The checks in order. */
  checks: Check[];
  /** No check failed. */
  ok: boolean;
}

const PINGS = 3;

/**
 * Runs the cluster checks.
 *
 * @param conn a connected cluster
 * @param reporter where the per-node connections report trouble
 * @param timeoutMs how long each connection and command may take
 * @returns the report
 */
export async function runClusterDoctor(
  conn: ClusterConnection,
  reporter: Reporter,
  timeoutMs: number,
): Promise<ClusterReport> {
  const checks: Check[] = [];
  const info = String(await answerWithin(conn.cluster.cluster("INFO"), timeoutMs, "CLUSTER INFO"));
  const state = /cluster_state:(\w+)/.exec(info)?.[1] ?? "unknown";
  const slotsOk = Number(/cluster_slots_ok:(\d+)/.exec(info)?.[1] ?? 0);
  checks.push(
    state === "ok" ? { name: "cluster", status: "ok", detail: `state ok, all 16384 slots served` } : {
      name: "cluster",
      status: "fail",
      detail: `state ${state}: ${slotsOk} of 16384 slots served`,
      fix: "Every slot needs a reachable master: start the missing nodes, or assign their slots " +
        "(redis-cli --cluster fix HOST:PORT).",
    },
  );
  const lines = inReadingOrder(
    parseClusterNodes(String(await answerWithin(conn.cluster.cluster("NODES"), timeoutMs, "CLUSTER NODES"))),
  );
  const byId = new Map(lines.map((l) => [l.id, l.address]));
  const seen = await Promise.all(lines.map((l) => visit(conn, l, reporter, timeoutMs)));
  const nodes: NodeReport[] = lines.map((l, i) => ({
    address: l.address,
    id: l.id,
    role: l.role,
    master: l.masterId ? byId.get(l.masterId) ?? l.masterId : null,
    slots: describeSlots(l.slots),
    ping_ms: seen[i]!.pingMs,
    notifications: seen[i]!.notifications,
    down: l.down || seen[i]!.pingMs === null,
  }));
  const server = seen.find((s) => s.server)?.server;
  if (server) checks.push({ name: "server", status: "ok", detail: `${server.name} ${server.version}` });
  checks.push(...nodeChecks(nodes));
  const sharded = server ? Number(server.redisVersion.split(".")[0]) >= 7 : null;
  checks.push(
    sharded
      ? { name: "sharded pub/sub", status: "ok", detail: "SSUBSCRIBE / SPUBLISH available (Redis 7 protocol)" }
      : {
        name: "sharded pub/sub",
        status: "warn",
        detail: sharded === null ? "unknown: INFO did not say the version" : `not available on ${server!.version}`,
        fix: "Sharded pub/sub needs Redis 7 or Valkey; plain PUBLISH / SUBSCRIBE work on every node meanwhile.",
      },
  );
  return {
    state,
    slotsOk,
    ...(server ? { server } : {}),
    nodes,
    sharded,
    checks,
    ok: checks.every((c) => c.status !== "fail"),
  };
}

/** Masters by their first slot, each followed by its replicas; nodes of no master last. */
function inReadingOrder(lines: ClusterNodeLine[]): ClusterNodeLine[] {
  const first = (l: ClusterNodeLine) => l.slots[0]?.[0] ?? Infinity;
  const masters = lines.filter((l) => l.role === "master").sort((a, b) => first(a) - first(b));
  const ordered = masters.flatMap((m) => [m, ...lines.filter((l) => l.masterId === m.id)]);
  return [...ordered, ...lines.filter((l) => !ordered.includes(l))];
}

/** What one node's own connection found: round trip, notifications (masters), the server. */
async function visit(
  conn: ClusterConnection,
  line: ClusterNodeLine,
  reporter: Reporter,
  timeoutMs: number,
): Promise<{ pingMs: number | null; notifications: string | null; server?: ServerIdentity }> {
  if (line.down || line.address.startsWith(":")) return { pingMs: null, notifications: null };
  let node: Connection;
  try {
    node = await Connection.open({
      url: conn.nodeUrl(line.address),
      reporter,
      reconnect: false,
      clusterNode: true,
      connectTimeoutMs: timeoutMs,
    });
  } catch {
    return { pingMs: null, notifications: null };
  }
  try {
    const times: number[] = [];
    for (let i = 0; i < PINGS; i++) {
      const started = performance.now();
      await answerWithin(node.redis.ping(), timeoutMs, "PING");
      times.push(performance.now() - started);
    }
    const server = await answerWithin(readServerIdentity(node.redis), timeoutMs, "INFO").catch(() => undefined);
    let notifications: string | null = null;
    if (line.role === "master") {
      const config = await answerWithin(readNotifyConfig(node.redis), timeoutMs, "CONFIG GET");
      notifications = config.allowed ? config.flags : null;
    }
    return { pingMs: roundMs(summarizeLatency(times).p50), notifications, ...(server ? { server } : {}) };
  } catch (err) {
    if (!(err instanceof NoAnswerError)) throw err;
    return { pingMs: null, notifications: null };
  } finally {
    await node.close();
  }
}

/** The checks drawn from the nodes: all reachable, replicas for failover, notifications on every master. */
function nodeChecks(nodes: NodeReport[]): Check[] {
  const checks: Check[] = [];
  const masters = nodes.filter((n) => n.role === "master" && n.slots !== "");
  const replicas = nodes.filter((n) => n.role === "replica");
  const down = nodes.filter((n) => n.down);
  const pings = nodes.filter((n) => n.ping_ms !== null).map((n) => n.ping_ms!);
  const s = summarizeLatency(pings);
  checks.push(
    down.length === 0
      ? {
        name: "nodes",
        status: "ok",
        detail: `${masters.length} master(s), ${replicas.length} replica(s), all reachable ` +
          `(PING ${formatMs(s.min)}–${formatMs(s.max)})`,
      }
      : {
        name: "nodes",
        status: down.some((n) => n.role === "master" && n.slots !== "") ? "fail" : "warn",
        detail: `${down.length} of ${nodes.length} node(s) down or unreachable: ${
          down.map((n) => n.address).join(", ")
        }`,
        fix: "Start the nodes that are down; a master without a live replica leaves its slots unserved.",
      },
  );
  const alone = masters.filter((m) => !replicas.some((r) => r.master === m.address && !r.down));
  checks.push(
    alone.length === 0 ? { name: "failover", status: "ok", detail: "every master has a replica to take over" } : {
      name: "failover",
      status: "warn",
      detail: `${alone.length} master(s) without a live replica (${alone.map((m) => m.address).join(", ")}): ` +
        "if one dies, its slots are unserved until it is back",
      fix: "Add a replica per master (deno task cluster --replicas 1 for a local one).",
    },
  );
  const unknown = masters.filter((m) => m.notifications === null && !m.down);
  const off = masters.filter((m) => m.notifications !== null && missingFlags(m.notifications, LAB_NOTIFY_FLAGS) !== "");
  if (off.length === 0 && unknown.length === 0) {
    checks.push({ name: "notifications", status: "ok", detail: `on on every master (${LAB_NOTIFY_FLAGS} at least)` });
  } else {
    checks.push({
      name: "notifications",
      status: "warn",
      detail: [
        off.length ? `off or partly on on ${off.map((m) => `${m.address} ("${m.notifications}")`).join(", ")}` : "",
        unknown.length ? `unknown on ${unknown.map((m) => m.address).join(", ")} (CONFIG refused)` : "",
      ].filter((x) => x).join("; "),
      fix: "Each master emits the events of its own keys: keyspace_listener.ts --cluster turns them on on every " +
        "master when CONFIG is allowed; else CONFIG SET notify-keyspace-events KEA on each.",
    });
  }
  return checks;
}
