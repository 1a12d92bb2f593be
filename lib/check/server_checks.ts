/**
 * The checks of a server or a cluster: a channel's subscriber count on every
 * node that holds data, keyspace notifications on every such node, a canary
 * message's round trip, and a cluster's state and masters without a replica.
 *
 * @module
 */
import { Connection } from "../core/client.ts";
import type { Reporter } from "../core/output.ts";
import { parseClusterNodes } from "../cluster/topology.ts";
import type { Endpoint, Link } from "../endpoint/mod.ts";
import { readNotifyConfig } from "../keyspace/notifications.ts";
import { deliversEvents, missingFlags } from "../keyspace/notify_flags.ts";
import { type CheckResult, judge, notChecked, type Thresholds } from "./nagios.ts";

/** How the checks connect. */
export interface CheckConnection {
  /** Where connections report. */
  reporter: Reporter;
  /** How long connecting and each command may take, in ms. */
  timeoutMs: number;
}

/**
 * Runs `body` with a connection to each node that holds data (the server; each master of a cluster).
 *
 * @param endpoint the server or cluster
 * @param how where to report, and the time bound
 * @param body what to ask each node
 * @returns what `body` gave, per node (`host:port`)
 */
export async function onEachNode<T>(
  endpoint: Endpoint,
  how: CheckConnection,
  body: (node: string, conn: Connection) => Promise<T>,
): Promise<[string, T][]> {
  const nodes = await endpoint.nodes({
    open: (node) =>
      Connection.open({
        url: node.url,
        reporter: how.reporter,
        reconnect: false,
        clusterNode: node.clusterNode,
        connectTimeoutMs: how.timeoutMs,
        commandTimeoutMs: how.timeoutMs,
      }),
  }, { reporter: how.reporter });
  try {
    return await Promise.all(
      nodes.entries().map(async ([node, conn]) => [node, await body(node, conn)] as [string, T]),
    );
  } finally {
    await nodes.close();
  }
}

/**
 * Checks that `channel` has at least so many subscribers (PUBSUB NUMSUB, summed over the nodes that hold data; on a
 * cluster a subscriber attached to a replica is not counted).
 *
 * @param endpoint the server or cluster
 * @param how where to report, and the time bound
 * @param channel the channel
 * @param thresholds `subscribers`
 * @returns one line
 */
export async function checkSubscribers(
  endpoint: Endpoint,
  how: CheckConnection,
  channel: string,
  thresholds: Thresholds,
): Promise<CheckResult> {
  const counts = await onEachNode(endpoint, how, async (_, conn) => {
    const reply = await conn.redis.pubsub("NUMSUB", channel) as unknown[];
    return Number(reply[1] ?? 0);
  });
  const n = counts.reduce((sum, [, c]) => sum + c, 0);
  const where = counts.length > 1 ? ` on ${counts.length} masters` : "";
  return judge(`${channel} subscribers`, "subscribers", n, `${n} subscriber(s)${where}`, thresholds);
}

/**
 * Checks that keyspace notifications are on, on every node that holds data.
 *
 * @param endpoint the server or cluster
 * @param how where to report, and the time bound
 * @param needed letters that must be on (e.g. `K$`); empty: any setting that delivers events
 * @returns one line per node
 */
export async function checkNotifications(
  endpoint: Endpoint,
  how: CheckConnection,
  needed: string,
): Promise<CheckResult[]> {
  const found = await onEachNode(endpoint, how, (_, conn) => readNotifyConfig(conn.redis));
  return found.map(([node, config]) => {
    const name = `notifications on ${node}`;
    if (!config.allowed) return notChecked(name, "UNKNOWN", `cannot be read: ${config.reason}`);
    const missing = needed ? missingFlags(config.flags, needed) : "";
    if (!deliversEvents(config.flags)) {
      return notChecked(name, "CRITICAL", `off (notify-keyspace-events "${config.flags}")`);
    }
    if (missing) return notChecked(name, "CRITICAL", `"${config.flags}" lacks ${missing} (needed: ${needed})`);
    return notChecked(name, "OK", `on ("${config.flags}")`);
  });
}

/**
 * Publishes a message on a channel of its own and times its arrival on a subscriber.
 *
 * @param endpoint the server or cluster
 * @param link a command link to publish on
 * @param how where to report, and the time bound (also how long the message may take)
 * @param channel the canary's channel
 * @param thresholds `latency` (seconds)
 * @returns one line: CRITICAL when the message did not come within the time bound
 */
export async function checkCanary(
  endpoint: Endpoint,
  link: Link,
  how: CheckConnection,
  channel: string,
  thresholds: Thresholds,
): Promise<CheckResult> {
  const subscriber = await endpoint.subscriber({ reporter: how.reporter });
  const token = crypto.randomUUID();
  const arrived = Promise.withResolvers<number>();
  const stop = subscriber.listen((m) => {
    if (m.channel === channel && new TextDecoder().decode(m.payload) === token) arrived.resolve(performance.now());
  });
  const timer = setTimeout(() => arrived.reject(new Error("no arrival")), how.timeoutMs);
  try {
    await subscriber.subscribe([{ kind: "channel", name: channel }]);
    const sent = performance.now();
    await link.redis.publish(channel, token);
    const at = await arrived.promise.catch(() => undefined);
    if (at === undefined) {
      return notChecked(
        `canary on ${channel}`,
        "CRITICAL",
        `a message published did not arrive within ${how.timeoutMs / 1000} s`,
      );
    }
    const seconds = Math.round((at - sent) * 1000) / 1e6;
    return judge(
      `canary on ${channel}`,
      "latency",
      seconds,
      `round trip ${(seconds * 1000).toFixed(2)} ms`,
      thresholds,
    );
  } finally {
    clearTimeout(timer);
    stop();
    await subscriber.unsubscribe();
    await subscriber.close();
  }
}

/**
 * Checks a cluster: its state, and its masters without a replica that is up.
 *
 * @param link a command link to the cluster (on one server the check says it is not a cluster)
 * @param thresholds `orphans`
 * @returns two lines, or one UNKNOWN line when the target is not a cluster
 */
export async function checkCluster(link: Link, thresholds: Thresholds): Promise<CheckResult[]> {
  let info: string;
  try {
    info = String(await link.redis.cluster("INFO"));
  } catch (err) {
    return [notChecked("cluster", "UNKNOWN", `not a cluster (CLUSTER INFO: ${(err as Error).message})`)];
  }
  const field = (name: string) => info.match(new RegExp(`^${name}:(\\S+)`, "m"))?.[1] ?? "?";
  const state = field("cluster_state");
  const assigned = field("cluster_slots_assigned");
  const stateLine = notChecked(
    "cluster state",
    state === "ok" ? "OK" : "CRITICAL",
    `${state} (${assigned} of 16384 slots assigned, ${field("cluster_slots_fail")} failing)`,
  );
  const nodes = parseClusterNodes(String(await link.redis.cluster("NODES")));
  const masters = nodes.filter((n) => n.role === "master" && !n.down && n.slots.length > 0);
  const orphans = masters.filter((m) => !nodes.some((r) => r.role === "replica" && r.masterId === m.id && !r.down));
  const which = orphans.length ? `: ${orphans.map((m) => m.address).join(", ")}` : "";
  return [
    stateLine,
    judge(
      "cluster masters without a replica",
      "orphans",
      orphans.length,
      `${orphans.length} of ${masters.length}${which}`,
      thresholds,
    ),
  ];
}
