#!/usr/bin/env -S deno run -A
/**
 * Lab 3's writer (the seed's "Python01"): writes `shared_key` =
 * `"<name> timestamp <epoch-µs>"`, waits for the listener's handshake —
 * woken by the keyspace notification of the handshake key, not by polling —
 * and prints each round trip, then min / p50 / p99 / max and the timeouts.
 *
 *   deno run -A scripts/keyspace_writer.ts                         # lab 3, terminal 1 (keydb_01)
 *   deno run -A scripts/keyspace_writer.ts --count 50 --interval 0 --json
 *
 * @module
 */
import { COMMON_OPTIONS, runScript, type ScriptSpec } from "../lib/core/cli.ts";
import { CLUSTER_OPTIONS, resolveTarget } from "../lib/cluster/target.ts";
import { UsageError } from "../lib/core/exit_codes.ts";
import { defaultIo, type Io, Printer, Reporter } from "../lib/core/output.ts";
import { onShutdown } from "../lib/core/shutdown.ts";
import { endpointFor } from "../lib/endpoint/endpoint.ts";
import { HANDSHAKE_COPY_BYTES, HANDSHAKE_KEY, LAB_KEY } from "../lib/keyspace/handshake.ts";
import { writeRounds } from "../lib/keyspace/write_rounds.ts";

const SPEC: ScriptSpec = {
  name: "keyspace_writer.ts",
  summary: "write a timestamped key, wait for the listener's handshake, and measure the round trips.",
  usage: ["[--count N] [--interval DURATION] [--timeout DURATION] [--key KEY] [--handshake-key KEY] [--json]"],
  options: {
    count: { type: "string", short: "n", arg: "N", help: "rounds to run (default: 10)" },
    interval: { type: "string", short: "i", arg: "DURATION", help: "pause between rounds (default: 1s; 0 for none)" },
    timeout: {
      type: "string",
      short: "t",
      arg: "DURATION",
      help: "how long each round waits for its handshake (default: 5s)",
    },
    key: { type: "string", short: "k", arg: "KEY", help: `key to write (default: ${LAB_KEY})` },
    "handshake-key": {
      type: "string",
      arg: "KEY",
      help: `key the listener acknowledges on (default: ${HANDSHAKE_KEY})`,
    },
    name: { type: "string", arg: "NAME", help: "name at the start of each value (default: writer)" },
    seconds: {
      type: "boolean",
      help: "whole epoch seconds in each value, the seed's form (with --name Python01); --interval at least 1s",
    },
    db: { type: "string", arg: "N", help: "database number (default: the URL's, else 0)" },
    config: {
      type: "boolean",
      negatable: true,
      help: "turn on missing notify-keyspace-events letters (default: on; --no-config changes nothing)",
    },
    "restore-config": {
      type: "boolean",
      help: "at exit, put back the notify-keyspace-events value found (if nobody changed it since)",
    },
    ...COMMON_OPTIONS,
    ...CLUSTER_OPTIONS,
  },
  examples: [
    "deno run -A scripts/keyspace_writer.ts                          # lab 3: keydb_01 on localhost:6379",
    "deno run -A scripts/keyspace_writer.ts --count 100 --interval 0  # measure 100 handshakes back to back",
    "deno run -A scripts/keyspace_writer.ts --name Python01 --seconds   # the seed's value: Python01 timestamp 1725543675",
    "deno run -A scripts/keyspace_writer.ts --json | jq -c 'select(.event == \"summary\")'",
    "deno run -A scripts/keyspace_writer.ts --url redis://127.0.0.1:7000 --cluster   # the keys on different masters",
  ],
};

/**
 * Runs the keyspace writer.
 *
 * @param args command-line arguments
 * @param io output streams and an optional stop signal
 * @returns the exit code: 0; 1 when the server was unavailable for every round; 4 when no handshake arrived at all
 */
export function main(args: string[], io: Io = defaultIo()): Promise<number> {
  return runScript(SPEC, args, io, async (flags) => {
    const endpoint = endpointFor(resolveTarget(flags.list("url"), flags.boolean("cluster")));
    const db = endpoint.database(flags.int("db", { min: 0 }));
    const count = flags.int("count", { min: 1 }) ?? 10;
    const intervalMs = flags.duration("interval") ?? 1000;
    const timeoutMs = flags.duration("timeout") ?? 5000;
    if (timeoutMs <= 0) throw new UsageError("--timeout must be more than 0");
    const key = flags.string("key") ?? LAB_KEY;
    const handshakeKey = flags.string("handshake-key") ?? HANDSHAKE_KEY;
    if (key === "" || handshakeKey === "") throw new UsageError("--key and --handshake-key must not be empty");
    if (key === handshakeKey) throw new UsageError(`--key and --handshake-key must differ (both are "${key}")`);
    const name = flags.string("name") ?? "writer";
    const longest = HANDSHAKE_COPY_BYTES - new TextEncoder().encode(" timestamp 0000000000000000").length;
    if (new TextEncoder().encode(name).length > longest) {
      // The listener copies the value's first bytes into its handshake: the round's value must fit in them.
      throw new UsageError(
        `--name must be at most ${longest} bytes (the handshake carries the first ${HANDSHAKE_COPY_BYTES})`,
      );
    }
    const seconds = flags.boolean("seconds");
    if (seconds && intervalMs < 1000) {
      throw new UsageError("--seconds needs --interval 1s or more: each value must differ");
    }
    using shutdown = onShutdown(io.signal);
    return await writeRounds({
      endpoint,
      db,
      key,
      handshakeKey,
      name,
      seconds,
      count,
      intervalMs,
      timeoutMs,
      change: flags.enabled("config"),
      restore: flags.boolean("restore-config"),
      json: flags.boolean("json"),
      out: new Printer(io.stdout),
      status: new Reporter(io.stderr),
      signal: shutdown.signal,
    });
  });
}

if (import.meta.main) Deno.exit(await main(Deno.args));
