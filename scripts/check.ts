#!/usr/bin/env -S deno run -A
/**
 * Is it healthy? For scripts and monitoring: checks a consumer group's lag,
 * pending entries, longest idle pending entry and dead letters, a channel's
 * subscribers, keyspace notifications, a canary message's round trip, and a
 * cluster's state and masters without a replica, against `--warn` and
 * `--crit`. One line per check; the worst decides the exit code, in the
 * Nagios plugin convention (as `nats server check`), NOT the project's table:
 * 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
 *
 *   deno run -A scripts/check.ts --stream key_submission --group processors --warn lag=100 --crit dead=1
 *   deno run -A scripts/check.ts --channel processing_results --canary --crit latency=250ms --json
 *
 * @module
 */
import { COMMON_OPTIONS, type Flags, runScript, type ScriptSpec } from "../lib/core/cli.ts";
import { CLUSTER_OPTIONS, resolveTarget } from "../lib/cluster/target.ts";
import { ExitCode, UsageError } from "../lib/core/exit_codes.ts";
import { defaultIo, type Io, Printer, Reporter } from "../lib/core/output.ts";
import { endpointFor } from "../lib/endpoint/mod.ts";
import {
  type CheckPlan,
  DEFAULT_THRESHOLDS,
  MEASURES,
  NAGIOS_CODE,
  parseThresholds,
  resultLine,
  runChecks,
  worst,
} from "../lib/check/mod.ts";

const SPEC: ScriptSpec = {
  name: "check.ts",
  summary: "health checks for scripts and monitoring, one line each, in the Nagios plugin convention.",
  usage: [
    "[--stream STREAM... --group GROUP] [--channel NAME...] [--notifications [--notify-flags FLAGS]] [--canary] " +
    "[--cluster-state] [--warn NAME=VALUE]... [--crit NAME=VALUE]... [--timeout DURATION] [--json]",
  ],
  options: {
    stream: {
      type: "string",
      multiple: true,
      arg: "STREAM",
      help: "check --group on this stream (lag, pending, idle, dead)",
    },
    group: { type: "string", arg: "GROUP", help: "the consumer group of the --stream checks" },
    channel: {
      type: "string",
      multiple: true,
      arg: "NAME",
      help: "check the channel's subscribers (PUBSUB NUMSUB; default: CRITICAL below 1)",
    },
    notifications: { type: "boolean", help: "check that keyspace notifications are on, on every node holding data" },
    "notify-flags": { type: "string", arg: "FLAGS", help: "with --notifications: letters that must be on, e.g. K$" },
    canary: { type: "boolean", help: "publish a message and time its arrival on a subscriber (threshold: latency)" },
    "canary-channel": { type: "string", arg: "NAME", help: "the canary's channel (default: pubsub_lab:canary)" },
    "cluster-state": {
      type: "boolean",
      help: "check the cluster's state and its masters without a replica (default: WARNING above 0)",
    },
    warn: {
      type: "string",
      multiple: true,
      arg: "NAME=VALUE",
      help: `WARNING past this: ${Object.keys(MEASURES).join(", ")} (idle, latency: 500ms, 30s…; comma-separated ok)`,
    },
    crit: { type: "string", multiple: true, arg: "NAME=VALUE", help: "CRITICAL past this (the same names)" },
    timeout: { type: "string", arg: "DURATION", help: "how long connecting and each command may take (default 5s)" },
    ...COMMON_OPTIONS,
    ...CLUSTER_OPTIONS,
  },
  examples: [
    "deno run -A scripts/check.ts --stream key_submission --stream profile_events --group processors \\",
    "    --warn lag=100,pending=100,idle=1m --crit lag=1000,idle=5m,dead=1",
    "deno run -A scripts/check.ts --channel update --channel key_submission     # a subscriber on each",
    "deno run -A scripts/check.ts --notifications --notify-flags 'K$' --canary --warn latency=50ms --crit latency=500ms",
    "deno run -A scripts/check.ts --cluster --url redis://127.0.0.1:7000 --cluster-state --json",
  ],
  exitCodes: [
    "Exit codes (the Nagios plugin convention, as `nats server check`; not the other scripts' table):",
    "  0 OK, 1 WARNING, 2 CRITICAL (a check failed, or the server cannot be reached), 3 UNKNOWN (bad flags,",
    "  or a check that could not be made). The worst line decides: CRITICAL, then WARNING, then UNKNOWN.",
  ],
};

/** What the flags ask to check. */
function parsePlan(flags: Flags): CheckPlan {
  const streams = flags.list("stream");
  const group = flags.string("group");
  if (streams.length > 0 && group === undefined) throw new UsageError("--stream needs --group: the group to check");
  if (group !== undefined && streams.length === 0) throw new UsageError("--group needs at least one --stream");
  const needed = flags.string("notify-flags");
  if (needed !== undefined && !flags.boolean("notifications")) {
    throw new UsageError("--notify-flags goes with --notifications");
  }
  const canaryChannel = flags.string("canary-channel");
  if (canaryChannel !== undefined && !flags.boolean("canary")) {
    throw new UsageError("--canary-channel goes with --canary");
  }
  const plan: CheckPlan = {
    streams,
    ...(group !== undefined ? { group } : {}),
    channels: flags.list("channel"),
    ...(flags.boolean("notifications") ? { notifications: needed ?? "" } : {}),
    ...(flags.boolean("canary") ? { canary: canaryChannel ?? "pubsub_lab:canary" } : {}),
    cluster: flags.boolean("cluster-state"),
    thresholds: parseThresholds(flags.list("warn"), flags.list("crit"), DEFAULT_THRESHOLDS),
  };
  const chosen = streams.length > 0 || plan.channels.length > 0 || plan.notifications !== undefined ||
    plan.canary !== undefined || plan.cluster;
  if (!chosen) {
    throw new UsageError(
      "Choose what to check: --stream with --group, --channel, --notifications, --canary or --cluster-state",
    );
  }
  return plan;
}

/**
 * Runs the checks.
 *
 * @param args command-line arguments
 * @param io output streams
 * @returns 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (Nagios), the worst of the lines
 */
export async function main(args: string[], io: Io = defaultIo()): Promise<number> {
  let verdict: number | undefined;
  const code = await runScript(SPEC, args, io, async (flags) => {
    const plan = parsePlan(flags);
    const timeoutMs = flags.duration("timeout") ?? 5000;
    if (timeoutMs <= 0) throw new UsageError("--timeout must be more than 0");
    const endpoint = endpointFor(resolveTarget(flags.list("url"), flags.boolean("cluster")));
    const results = await runChecks(endpoint, plan, { reporter: new Reporter(io.stderr), timeoutMs });
    const status = worst(results.map((r) => r.status));
    const out = new Printer(io.stdout);
    for (const r of results) {
      if (flags.boolean("json")) {
        const { measure: _, ...fields } = r;
        out.event("check", { ...fields, warn: r.warn ?? null, crit: r.crit ?? null });
      } else out.line(resultLine(r));
    }
    if (flags.boolean("json")) out.event("summary", { status, exit_code: NAGIOS_CODE[status], checks: results.length });
    verdict = NAGIOS_CODE[status];
    return ExitCode.Ok;
  });
  // No verdict: --help (0), or bad flags or an unexpected failure, which runScript said on stderr: UNKNOWN.
  return verdict ?? (code === ExitCode.Ok ? NAGIOS_CODE.OK : NAGIOS_CODE.UNKNOWN);
}

if (import.meta.main) Deno.exit(await main(Deno.args));
