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
 *
 * Exit codes: 0 everything the labs need is there, 2 bad usage, 3 cannot connect, 6 a check failed
 * (including a server that stops answering: every command waits at most --timeout).
 *
 * @module
 */
import { COMMON_OPTIONS, runScript, type ScriptSpec } from "../lib/core/cli.ts";
import { Connection } from "../lib/core/client.ts";
import { redactUrl, resolveUrl } from "../lib/core/config.ts";
import { type Check, type DoctorReport, runDoctor } from "../lib/doctor/checks.ts";
import { CliError, ExitCode, UsageError } from "../lib/core/exit_codes.ts";
import { defaultIo, type Io, Printer, Reporter } from "../lib/core/output.ts";
import { onShutdown } from "../lib/core/shutdown.ts";

const SPEC: ScriptSpec = {
  name: "ping.ts",
  summary: "check the connection and everything the labs need from the server.",
  usage: ["[--timeout DURATION] [--json]"],
  options: {
    timeout: {
      type: "string",
      arg: "DURATION",
      help: "how long the connection, each command, a pub/sub message or a notification may take (default 2s)",
    },
    ...COMMON_OPTIONS,
  },
  examples: [
    "deno run -A scripts/ping.ts                          # the server in $REDIS_URL, else localhost:6379",
    "deno run -A scripts/ping.ts --url redis://127.0.0.1:6380",
    "deno run -A scripts/ping.ts --json | jq '.checks[] | select(.status != \"ok\")'",
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
    const url = resolveUrl(flags.string("url"));
    const out = new Printer(io.stdout);
    const status = new Reporter(io.stderr);

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

const MARK: Record<Check["status"], (p: Printer) => string> = {
  ok: (p) => p.green("✓"),
  warn: (p) => p.yellow("!"),
  fail: (p) => p.red("✗"),
};

function printText(out: Printer, report: DoctorReport): void {
  const width = Math.max(...report.checks.map((c) => c.name.length)) + 2;
  for (const c of report.checks) {
    out.line(`${MARK[c.status](out)} ${c.name.padEnd(width)}${c.detail}`);
    if (c.fix) out.line(`  ${" ".repeat(width)}${out.dim("→ " + c.fix)}`);
  }
  const failed = report.checks.filter((c) => c.status === "fail");
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
