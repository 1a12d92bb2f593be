/**
 * The doctor's whole run behind ping.ts: connect, check, print, and the
 * exit code — the server's checks or the cluster's, whichever the
 * Endpoint is.
 *
 * @module
 */
import { ClusterConnection } from "../cluster/cluster_connection.ts";
import { Connection } from "../core/client.ts";
import { redactUrl } from "../core/config.ts";
import { CliError, ExitCode } from "../core/exit_codes.ts";
import type { Printer, Reporter } from "../core/output.ts";
import { onShutdown } from "../core/shutdown.ts";
import type { Endpoint } from "../endpoint/endpoint.ts";
import { type DoctorReport, runDoctor } from "./checks.ts";
import { type ClusterReport, runClusterDoctor } from "./cluster_checks.ts";
import { printClusterReport, printReport } from "./print.ts";

/** How {@linkcode runCheckup} checks and prints. */
export interface CheckupOptions {
  /** How long the connection, each command, a pub/sub message or a notification may take, in ms. */
  timeoutMs: number;
  /** One report event instead of lines. */
  json: boolean;
  /** Where the report goes. */
  out: Printer;
  /** Where progress and connection trouble go. */
  status: Reporter;
  /** Stops the connect at once (Ctrl+C). */
  signal?: AbortSignal;
}

/**
 * Checks the endpoint — one server, or a cluster and every node — and
 * prints what was found.
 *
 * @param endpoint what to check
 * @param options timeout and output
 * @returns 0 when nothing the labs need is missing, 6 when a check failed
 * @throws {CliError} when it cannot connect (with `json`, a server's failure is printed as a report first)
 */
export function runCheckup(endpoint: Endpoint, options: CheckupOptions): Promise<number> {
  return endpoint.checkup({
    server: (url) => checkServer(url, options),
    cluster: (urls) => checkCluster(urls, options),
  });
}

async function checkServer(url: string, { timeoutMs, json, out, status, signal }: CheckupOptions): Promise<number> {
  if (!json) status.info(`Checking ${redactUrl(url)} …`);
  let conn: Connection;
  try {
    // Ctrl+C while connecting stops at once; afterwards every check is bounded by --timeout.
    using shutdown = onShutdown(signal);
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
  printReport(out, json, conn.address, report);
  return report.ok ? ExitCode.Ok : ExitCode.CheckFailed;
}

async function checkCluster(urls: string[], { timeoutMs, json, out, status, signal }: CheckupOptions): Promise<number> {
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
  printClusterReport(out, json, conn.address, report);
  return report.ok ? ExitCode.Ok : ExitCode.CheckFailed;
}
