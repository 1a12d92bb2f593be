#!/usr/bin/env -S deno run -A
/**
 * `deno task cluster`: runs a local Redis/Valkey cluster for the labs in the
 * foreground, from a valkey-server or redis-server found on PATH (3 masters,
 * optionally a replica each), with keyspace notifications on; prints its
 * seed URL and who serves which slots. Ctrl+C stops it; nothing is kept on disk.
 *
 * @module
 */
import { runScript, type ScriptSpec } from "../lib/core/cli.ts";
import { ExitCode, UsageError } from "../lib/core/exit_codes.ts";
import { LAB_NOTIFICATIONS, untilStopped } from "../lib/core/foreground.ts";
import { defaultIo, type Io, Reporter } from "../lib/core/output.ts";
import { onShutdown } from "../lib/core/shutdown.ts";
import { type ClusterNode, LocalCluster } from "../lib/cluster/local_cluster.ts";

/** The first node's port when none is given, as in the Redis cluster tutorial: 7000, 7001, … */
const BASE_PORT = 7000;

const SPEC: ScriptSpec = {
  name: "cluster.ts",
  summary: "run a local cluster for the labs (valkey-server or redis-server, keyspace notifications on) until Ctrl+C.",
  usage: ["[--masters N] [--replicas 0|1] [--port BASE] [--notifications FLAGS]"],
  options: {
    masters: { type: "string", arg: "N", help: "how many masters (default 3; 1 to 10)" },
    replicas: { type: "string", arg: "0|1", help: "replicas per master (default 0)" },
    port: {
      type: "string",
      arg: "BASE",
      help: `the first node's port on 127.0.0.1; the others follow it (default ${BASE_PORT})`,
    },
    notifications: {
      type: "string",
      arg: "FLAGS",
      help: `notify-keyspace-events on every node (default ${LAB_NOTIFICATIONS}; "" for none)`,
    },
    help: { type: "boolean", short: "h", help: "show this help" },
  },
  examples: [
    "deno task cluster                   # 3 masters on 127.0.0.1:7000-7002",
    "deno task cluster --replicas 1      # and a replica each on 7003-7005, to try a failover",
    "deno task cluster --port 8000       # then: export REDIS_URL=redis://127.0.0.1:8000 REDIS_CLUSTER=1",
  ],
};

/**
 * Runs the cluster until Ctrl+C.
 *
 * @param args command-line arguments
 * @param io output streams and an optional stop signal
 * @returns the exit code
 */
export function main(args: string[], io: Io = defaultIo()): Promise<number> {
  return runScript(SPEC, args, io, async (flags) => {
    const masters = flags.int("masters", { min: 1, max: 10 }) ?? 3;
    const replicas = flags.int("replicas", { min: 0, max: 1 }) ?? 0;
    const count = masters * (1 + replicas);
    const port = flags.int("port", { min: 1, max: 65535 }) ?? BASE_PORT;
    if (port + count - 1 > 65535) {
      throw new UsageError(`--port leaves no room for ${count} nodes: at most ${65536 - count}`);
    }
    const notifications = flags.string("notifications") ?? LAB_NOTIFICATIONS;
    const status = new Reporter(io.stderr);
    using shutdown = onShutdown(io.signal);
    const starting = LocalCluster.start({ masters, replicas, port, notifications });
    // Ctrl+C while it forms: stop what was started once it is there.
    const cluster = await starting;
    if (shutdown.signal.aborted) {
      await cluster[Symbol.asyncDispose]();
      return ExitCode.Ok;
    }
    const shape = `${masters} master(s)` + (replicas ? ` with a replica each` : "");
    const events = notifications ? `keyspace notifications (${notifications})` : "keyspace notifications off";
    status.ok(`A ${cluster.kind} cluster of ${shape} is running, with ${events}. Ctrl+C stops it.`);
    for (const line of nodeTable(cluster)) status.info(`  ${line}`);
    status.info(`Seed URL: ${cluster.seedUrl}`);
    status.info(`Use it:   export REDIS_URL=${cluster.seedUrl} REDIS_CLUSTER=1`);
    status.info(`     or:  deno run -A scripts/ping.ts --url ${cluster.seedUrl} --cluster`);
    reportExits(cluster, status);
    return await untilStopped(shutdown, status, cluster.exited, cluster, "The cluster stopped.");
  });
}

/** `node  role  slots` lines: a master's slot ranges, a replica's master. */
function nodeTable(cluster: LocalCluster): string[] {
  const rows = cluster.nodes.map((n) => [`127.0.0.1:${n.port}`, n.role, describe(cluster, n)]);
  const all = [["node", "role", "slots"], ...rows];
  const width = (i: number) => Math.max(...all.map((r) => r[i]!.length));
  return all.map((r) => `${r[0]!.padEnd(width(0))}  ${r[1]!.padEnd(width(1))}  ${r[2]}`.trimEnd());
}

function describe(cluster: LocalCluster, node: ClusterNode): string {
  if (node.role === "master") return node.slots.map(([a, b]) => (a === b ? `${a}` : `${a}-${b}`)).join(",");
  const master = node.masterId ? cluster.node(node.masterId) : undefined;
  return master ? `(replica of 127.0.0.1:${master.port})` : "";
}

/** Says when a node exits while the others carry on (a lab may kill a master to watch its replica take over). */
function reportExits(cluster: LocalCluster, status: Reporter): void {
  for (const node of cluster.nodes) {
    node.server.exited.then((code) => {
      if (cluster.nodes.every((n) => !n.alive)) return; // stopped by us
      status.warn(`127.0.0.1:${node.port} (${node.role}) exited with code ${code}; the other nodes carry on.`);
    });
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
