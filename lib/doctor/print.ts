/**
 * How ping.ts shows what the doctor found: each check ✓, ! or ✗ with what
 * to do, a cluster's nodes as a table, the verdict — or one `report` or
 * `cluster_report` event.
 *
 * @module
 */
import type { Printer } from "../core/output.ts";
import type { Check, DoctorReport } from "./checks.ts";
import type { ClusterReport } from "./cluster_checks.ts";

/**
 * Prints a server's report.
 *
 * @param out where it goes
 * @param json one `report` event instead of lines
 * @param address the server's address, password hidden
 * @param report what the doctor found
 */
export function printReport(out: Printer, json: boolean, address: string, report: DoctorReport): void {
  if (json) printJson(out, address, report);
  else printText(out, report);
}

/**
 * Prints a cluster's report: its checks, its nodes, the verdict.
 *
 * @param out where it goes
 * @param json one `cluster_report` event instead of lines
 * @param address the first seed's address, password hidden (as `cluster redis://…`)
 * @param report what the doctor found
 */
export function printClusterReport(out: Printer, json: boolean, address: string, report: ClusterReport): void {
  if (json) {
    out.event("cluster_report", {
      url: address.replace(/^cluster /, ""),
      ok: report.ok,
      state: report.state,
      slots_ok: report.slotsOk,
      server: report.server ? { name: report.server.name, version: report.server.version } : null,
      sharded_pubsub: report.sharded,
      nodes: report.nodes,
      checks: report.checks,
    });
    return;
  }
  printChecks(out, report.checks);
  printNodes(out, report);
  printVerdict(out, report.checks);
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
