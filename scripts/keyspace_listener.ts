#!/usr/bin/env -S deno run -A
/**
 * Lab 3's listener (the seed's "Python02"): woken by keyspace notifications,
 * it reads the key that changed, shows how long the event took to arrive
 * (from the timestamp in the value), and acknowledges by writing the
 * handshake key.
 *
 *   deno run -A scripts/keyspace_listener.ts --url redis://localhost:6380     # lab 3, terminal 2
 *   deno run -A scripts/keyspace_listener.ts --key 'user:*' --event hset --event del --no-handshake --json
 *
 * @module
 */
import { COMMON_OPTIONS, type Flags, runScript, type ScriptSpec } from "../lib/core/cli.ts";
import { CLUSTER_OPTIONS, resolveTarget } from "../lib/cluster/target.ts";
import { checkUrl } from "../lib/core/config.ts";
import { UsageError } from "../lib/core/exit_codes.ts";
import { defaultIo, type Io, Printer, Reporter } from "../lib/core/output.ts";
import { onShutdown } from "../lib/core/shutdown.ts";
import { endpointFor } from "../lib/endpoint/endpoint.ts";
import { planWatch } from "../lib/keyspace/channels.ts";
import { HANDSHAKE_KEY, LAB_KEY } from "../lib/keyspace/handshake.ts";
import { listen } from "../lib/keyspace/listen.ts";
import type { ReconcileOptions } from "../lib/keyspace/reconciliation.ts";
import { METRICS_OPTIONS, startOps } from "../lib/ops/mod.ts";

const SPEC: ScriptSpec = {
  name: "keyspace_listener.ts",
  summary: "wake on keyspace notifications, read the key, show the delay of its timestamp, write a handshake.",
  usage: [
    "[--key KEY]... [--event EVENT]... [--db N] [--handshake-key KEY | --no-handshake] [--write-url URL] [--json]",
  ],
  options: {
    key: {
      type: "string",
      short: "k",
      multiple: true,
      arg: "KEY",
      help: `key or glob pattern to watch (default: ${LAB_KEY})`,
    },
    event: {
      type: "string",
      short: "e",
      multiple: true,
      arg: "EVENT",
      help: "event to watch: set, del, expired, expire, hset, lpush, … or all (default: set)",
    },
    db: { type: "string", arg: "N", help: "database number (default: the URL's, else 0)" },
    "handshake-key": {
      type: "string",
      arg: "KEY",
      help: `where the handshake is written (default: ${HANDSHAKE_KEY})`,
    },
    handshake: { type: "boolean", negatable: true, help: "write the handshake after each event (default: on)" },
    "write-url": {
      type: "string",
      arg: "URL",
      help: "server the handshake is written to, e.g. the primary of a read-only replica (default: --url)",
    },
    name: { type: "string", arg: "NAME", help: "the listener's name in the handshake value (default: listener)" },
    config: {
      type: "boolean",
      negatable: true,
      help: "turn on missing notify-keyspace-events letters (default: on; --no-config changes nothing)",
    },
    "restore-config": {
      type: "boolean",
      help: "at exit, put back the notify-keyspace-events value found (if nobody changed it since)",
    },
    count: { type: "string", short: "n", arg: "N", help: "exit after N events" },
    reconcile: {
      type: "boolean",
      help: "after an outage, SCAN the watched keys and report each one changed, added or deleted meanwhile " +
        "(missed_change) before the live events",
    },
    "reconcile-state": {
      type: "string",
      arg: "FILE",
      help: "with --reconcile: save what was seen to FILE at exit and compare with it at the next start",
    },
    "reconcile-max-keys": {
      type: "string",
      arg: "N",
      help: "with --reconcile: remember and compare at most N keys (default 1000000)",
    },
    ...COMMON_OPTIONS,
    ...CLUSTER_OPTIONS,
    ...METRICS_OPTIONS,
  },
  examples: [
    "deno run -A scripts/keyspace_listener.ts --url redis://localhost:6380   # lab 3: keydb_02, set of shared_key",
    "deno run -A scripts/keyspace_listener.ts --url redis://replica:6379 --write-url redis://primary:6379",
    "deno run -A scripts/keyspace_listener.ts --key 'session:*' --event expired --event del --no-handshake",
    "deno run -A scripts/keyspace_listener.ts --key '*' --event all --no-handshake --json | jq .",
    "deno run -A scripts/keyspace_listener.ts --url redis://127.0.0.1:7000 --cluster --key '*' --event set  # every master",
    "deno run -A scripts/keyspace_listener.ts --key 'user:*' --event all --no-handshake --reconcile --reconcile-state seen.json",
  ],
};

/** The validated URL of `--write-url`, if given. */
function writeUrlFlag(flags: Flags): string | undefined {
  const raw = flags.string("write-url");
  return raw === undefined ? undefined : checkUrl(raw, "--write-url");
}

/** `--reconcile` and its bounds, if asked for. */
function reconcileFlags(flags: Flags): ReconcileOptions | undefined {
  const maxKeys = flags.int("reconcile-max-keys", { min: 1 });
  const statePath = flags.string("reconcile-state");
  if (!flags.boolean("reconcile")) {
    if (maxKeys !== undefined || statePath !== undefined) {
      throw new UsageError("--reconcile-state and --reconcile-max-keys go with --reconcile");
    }
    return undefined;
  }
  return { maxKeys: maxKeys ?? 1_000_000, ...(statePath !== undefined ? { statePath } : {}) };
}

function nonEmpty(values: string[], flag: string): string[] {
  const empty = values.find((v) => v.trim() === "");
  if (empty !== undefined) throw new UsageError(`--${flag} must not be empty`);
  return values;
}

/**
 * Runs the keyspace listener.
 *
 * @param args command-line arguments
 * @param io output streams and an optional stop signal
 * @returns the exit code
 */
export function main(args: string[], io: Io = defaultIo()): Promise<number> {
  return runScript(SPEC, args, io, async (flags) => {
    const endpoint = endpointFor(resolveTarget(flags.list("url"), flags.boolean("cluster")));
    const writeUrl = writeUrlFlag(flags);
    const write = writeUrl === undefined
      ? undefined
      : { endpoint: endpoint.writesTo(writeUrl, "--write-url", "the handshake"), url: writeUrl };
    const db = endpoint.database(flags.int("db", { min: 0 }));
    const keys = nonEmpty(flags.list("key"), "key");
    const events = nonEmpty(flags.list("event"), "event").map((e) => e.toLowerCase());
    const reconcile = reconcileFlags(flags);
    using shutdown = onShutdown(io.signal);
    const status = new Reporter(io.stderr);
    await using ops = startOps(flags, { log: status, signal: shutdown.signal, starting: "connecting" });
    return await listen({
      ...(reconcile ? { reconcile } : {}),
      endpoint,
      ...(write ? { write } : {}),
      db,
      plan: planWatch(db, keys.length ? keys : [LAB_KEY], events.length ? events : ["set"]),
      keys,
      handshakeKey: flags.enabled("handshake") ? flags.string("handshake-key") ?? HANDSHAKE_KEY : undefined,
      name: flags.string("name") ?? "listener",
      change: flags.enabled("config"),
      restore: flags.boolean("restore-config"),
      count: flags.int("count", { min: 1 }),
      json: flags.boolean("json"),
      out: new Printer(io.stdout),
      status,
      shutdown: shutdown.signal,
      requested: shutdown.requested,
      ops,
    });
  });
}

if (import.meta.main) Deno.exit(await main(Deno.args));
