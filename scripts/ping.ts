#!/usr/bin/env -S deno run -A
/**
 * The connection doctor — the first thing to run when something does not
 * work: connects, says which server answers (KeyDB, Valkey or Redis) and
 * how fast, checks that a pub/sub message makes the trip, and whether
 * keyspace notifications are on and CONFIG is allowed. Each check ✓, ! or ✗
 * with what to do.
 *
 *   deno run -A scripts/ping.ts
 *   deno run -A scripts/ping.ts --url redis://:secret@db.example:6379/0 --json | jq .
 *   deno run -A scripts/ping.ts --cluster --url redis://127.0.0.1:7000   # every node of a cluster
 *
 * Exit codes: 0 everything the labs need is there, 2 bad usage, 3 cannot connect, 6 a check failed
 * (including a server that stops answering: every command waits at most --timeout).
 *
 * @module
 */
import { COMMON_OPTIONS, runScript, type ScriptSpec } from "../lib/core/cli.ts";
import { Connection } from "../lib/core/client.ts";
import { redactUrl } from "../lib/core/config.ts";
import { type Check, type DoctorReport, runDoctor } from "../lib/doctor/checks.ts";
import { type ClusterReport, runClusterDoctor } from "../lib/doctor/cluster_checks.ts";
import { ClusterConnection } from "../lib/cluster/cluster_connection.ts";
import { CLUSTER_OPTIONS, resolveTarget } from "../lib/cluster/target.ts";
import { CliError, ExitCode, UsageError } from "../lib/core/exit_codes.ts";
import { defaultIo, type Io, Printer, Reporter } from "../lib/core/output.ts";
import { onShutdown } from "../lib/core/shutdown.ts";

const SPEC: ScriptSpec = {
  name: "ping.ts",
  summary: "check the connection and everything the labs need from the server.",
  usage: ["[--timeout DURATION] [--json]", "--cluster [--url SEED]... [--timeout DURATION] [--json]"],
  options: {
    timeout: {
      type: "string",
      arg: "DURATION",
      help: "how long the connection, each command, a pub/sub message or a notification may take (default 2s)",
    },
    ...COMMON_OPTIONS,
    ...CLUSTER_OPTIONS,
  },
  examples: [
    "deno run -A scripts/ping.ts                          # the server in $REDIS_URL, else localhost:6379",
    "deno run -A scripts/ping.ts --url redis://127.0.0.1:6380",
    "deno run -A scripts/ping.ts --json | jq '.checks[] | select(.status != \"ok\")'",
    "deno run -A scripts/ping.ts --cluster --url redis://127.0.0.1:7000   # state, every node, slots, round trips",
  ],
};

/**
 * Runs the doctor.
 *
 * @param args command-line arguments
 * @param io output streams
 * @returns 0 when nothing the labs need is missing, 3 when the server cannot be reached, 6 when a check failed
 * @example
 * ```ts
 * import { main } from "./ping.ts";
 * import { LocalServer } from "../lib/core/local_server.ts";
 * await using server = await LocalServer.start();
 * console.assert(await main(["--url", server.url]) === 0);
 * ```
 */
export function main(args: string[], io: Io = defaultIo()): Promise<number> {
  return runScript(SPEC, args, io, async (flags) => {
    const timeoutMs = flags.duration("timeout") ?? 2000;
    if (timeoutMs <= 0) throw new UsageError("--timeout must be more than 0");
    const json = flags.boolean("json");
    const target = resolveTarget(flags.list("url"), flags.boolean("cluster"));
    const out = new Printer(io.stdout);
    const status = new Reporter(io.stderr);
    if (target.cluster) return await checkCluster(target.urls, timeoutMs, json, out, status, io.signal);
    const url = target.url;

    if (!json) status.info(`Checking ${redactUrl(url)} …`);
    let conn: Connection;
    try {
      // Ctrl+C while connecting stops at once; afterwards every check is bounded by --timeout.
      using shutdown = onShutdown(io.signal);
      conn = await Connection.open({
        url,
        reporter: status,
        reconnect: false,
        connectTimeoutMs: timeoutMs,
        signal: shutdown.signal,
      });
    } catch (err) {
      if (json && err instanceof CliError && err.exitCode !== ExitCode.Ok) {
        const [detail, ...fix] = err.message.split("\n");
        out.event("report", {
          url: redactUrl(url),
          ok: false,
          server: null,
          ping_ms: null,
          notifications: null,
          config_allowed: null,
          checks: [{ name: "connect", status: "fail", detail, fix: fix.join(" ") }],
        });
      }
      throw err;
    }
    let report: DoctorReport;
    try {
      report = await runDoctor(conn, url, status, timeoutMs);
    } finally {
      await conn.close();
    }
    if (json) printJson(out, conn.address, report);
    else printText(out, report);
    return report.ok ? ExitCode.Ok : ExitCode.CheckFailed;
  });
}

/** ping.ts --cluster: the cluster doctor, then its checks and a table of the nodes (or one `cluster_report`). */
async function checkCluster(
  urls: string[],
  timeoutMs: number,
  json: boolean,
  out: Printer,
  status: Reporter,
  signal: AbortSignal | undefined,
): Promise<number> {
  if (!json) status.info(`Checking the cluster at ${urls.map(redactUrl).join(", ")} …`);
  let conn: ClusterConnection;
  {
    using shutdown = onShutdown(signal);
    conn = await ClusterConnection.open({
      urls,
      reporter: status,
      connectTimeoutMs: timeoutMs,
      signal: shutdown.signal,
    });
  }
  let report: ClusterReport;
  try {
    report = await runClusterDoctor(conn, status, timeoutMs);
  } finally {
    await conn.close();
  }
  if (json) {
    out.event("cluster_report", {
      url: conn.address.replace(/^cluster /, ""),
      ok: report.ok,
      state: report.state,
      slots_ok: report.slotsOk,
      server: report.server ? { name: report.server.name, version: report.server.version } : null,
      sharded_pubsub: report.sharded,
      nodes: report.nodes,
      checks: report.checks,
    });
  } else {
    printChecks(out, report.checks);
    printNodes(out, report);
    printVerdict(out, report.checks);
  }
  return report.ok ? ExitCode.Ok : ExitCode.CheckFailed;
}

/** The nodes as a table: address, role, slots (or master), round trip, notifications. */
function printNodes(out: Printer, report: ClusterReport): void {
  const rows = report.nodes.map((n) => [
    n.address,
    n.down ? "down" : n.role,
    n.role === "master" ? n.slots || "(no slots)" : `of ${n.master ?? "?"}`,
    n.ping_ms === null ? "–" : `${n.ping_ms.toFixed(2)} ms`,
    n.role === "master" ? (n.notifications === null ? "unknown" : `"${n.notifications}"`) : "",
  ]);
  const head = ["node", "role", "slots", "ping", "notifications"];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const fmt = (cells: string[]) => "  " + cells.map((c, i) => c.padEnd(widths[i]!)).join("  ").trimEnd();
  out.line(out.dim(fmt(head)));
  for (const r of rows) out.line(fmt(r));
}

const MARK: Record<Check["status"], (p: Printer) => string> = {
  ok: (p) => p.green("✓"),
  warn: (p) => p.yellow("!"),
  fail: (p) => p.red("✗"),
};

function printText(out: Printer, report: DoctorReport): void {
  printChecks(out, report.checks);
  printVerdict(out, report.checks);
}

function printChecks(out: Printer, checks: Check[]): void {
  const width = Math.max(...checks.map((c) => c.name.length)) + 2;
  for (const c of checks) {
    out.line(`${MARK[c.status](out)} ${c.name.padEnd(width)}${c.detail}`);
    if (c.fix) out.line(`  ${" ".repeat(width)}${out.dim("→ " + c.fix)}`);
  }
}

function printVerdict(out: Printer, checks: Check[]): void {
  const failed = checks.filter((c) => c.status === "fail");
  if (failed.length === 0) out.line(`${out.green("✓")} Everything the labs need is there.`);
  else {
    out.line(
      `${out.red("✗")} ${failed.length} check(s) failed (${failed.map((c) => c.name).join(", ")}): ` +
        "the labs that need them will not work until that is fixed.",
    );
  }
}

function printJson(out: Printer, address: string, report: DoctorReport): void {
  out.event("report", {
    url: address,
    ok: report.ok,
    server: report.server
      ? {
        name: report.server.name,
        version: report.server.version,
        redis_version: report.server.redisVersion,
        mode: report.server.mode ?? null,
        evidence: report.server.evidence,
      }
      : null,
    ping_ms: report.pingMs ?? null,
    notifications: report.notifications,
    config_allowed: report.configAllowed,
    checks: report.checks,
  });
}

if (import.meta.main) Deno.exit(await main(Deno.args));
