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
import { runCheckup } from "../lib/doctor/checkup.ts";
import { CLUSTER_OPTIONS, resolveTarget } from "../lib/cluster/target.ts";
import { UsageError } from "../lib/core/exit_codes.ts";
import { defaultIo, type Io, Printer, Reporter } from "../lib/core/output.ts";
import { endpointFor } from "../lib/endpoint/mod.ts";

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
    const endpoint = endpointFor(resolveTarget(flags.list("url"), flags.boolean("cluster")));
    return await runCheckup(endpoint, {
      timeoutMs,
      json: flags.boolean("json"),
      out: new Printer(io.stdout),
      status: new Reporter(io.stderr),
      signal: io.signal,
    });
  });
}

if (import.meta.main) Deno.exit(await main(Deno.args));
