#!/usr/bin/env -S deno run -A
/**
 * Lab 1's subscriber: listens to channels and patterns and prints every
 * message as it arrives.
 *
 *   deno run -A scripts/subscriber.ts                # the lab: 2 channels + alerts:*
 *   deno run -A scripts/subscriber.ts news -p 'log:*' --json | jq .
 *   deno run -A scripts/subscriber.ts --cluster --url redis://127.0.0.1:7000 --shard orders   # lab 7
 *
 * @module
 */
import { COMMON_OPTIONS, type Flags, runScript, type ScriptSpec } from "../lib/core/cli.ts";
import { CLUSTER_OPTIONS, resolveTarget } from "../lib/cluster/target.ts";
import { LAB_CHANNELS, LAB_PATTERN } from "../lib/pubsub/demo_messages.ts";
import { defaultIo, type Io, Reporter } from "../lib/core/output.ts";
import type { Subscription } from "../lib/pubsub/subscribe.ts";
import { endpointFor } from "../lib/endpoint/mod.ts";
import { onShutdown } from "../lib/core/shutdown.ts";
import { runSubscriber } from "../lib/pubsub_run/subscriber_run.ts";
import { parseRecoverFlags, recoverOptions } from "../lib/recover/recover_flags.ts";
import { METRICS_OPTIONS, startOps } from "../lib/ops/mod.ts";

const SPEC: ScriptSpec = {
  name: "subscriber.ts",
  summary: "subscribe to channels and patterns and print each message as it arrives.",
  usage: [
    "[CHANNEL...] [-c CHANNEL]... [-p PATTERN]... [-s CHANNEL]... [--count N] [--timeout DURATION] [--json | --quiet]",
    "--cluster --url SEED [...]            # the same on a Redis/Valkey cluster",
  ],
  positionals: true,
  options: {
    channel: { type: "string", short: "c", multiple: true, arg: "CHANNEL", help: "subscribe to a channel" },
    pattern: {
      type: "string",
      short: "p",
      multiple: true,
      arg: "PATTERN",
      help: "subscribe to a glob pattern, e.g. 'alerts:*'",
    },
    shard: {
      type: "string",
      short: "s",
      multiple: true,
      arg: "CHANNEL",
      help:
        "subscribe to a sharded channel (SSUBSCRIBE; Redis >= 7 or Valkey): on a cluster, on the master of its slot",
    },
    count: { type: "string", short: "n", arg: "N", help: "exit after N messages" },
    timeout: { type: "string", arg: "DURATION", help: "exit when nothing arrives for this long (e.g. 10s, 500ms)" },
    quiet: { type: "boolean", short: "q", help: "show a live count and rate instead of each message" },
    ...recoverOptions("publisher.ts --history"),
    ...COMMON_OPTIONS,
    ...CLUSTER_OPTIONS,
    ...METRICS_OPTIONS,
  },
  examples: [
    "deno run -A scripts/subscriber.ts                      # lab 1: system_notifications, chat:general, alerts:*",
    "deno run -A scripts/subscriber.ts news sports -p 'alerts:*'",
    "deno run -A scripts/subscriber.ts bench --quiet --timeout 5s",
    "deno run -A scripts/subscriber.ts --json news | jq -r 'select(.event == \"message\") | .payload'",
    "deno run -A scripts/subscriber.ts --cluster --url redis://127.0.0.1:7000 -s orders -s payments   # lab 7",
    "deno run -A scripts/subscriber.ts ticks --recover                # lab 2: back in order after an outage",
  ],
};

/** What the subscriber listens to: the arguments, or the lab's defaults. */
function chooseSubscriptions(flags: Flags): Subscription[] {
  const channels = [...flags.positionals, ...flags.list("channel")];
  const patterns = flags.list("pattern");
  const shards = flags.list("shard");
  if (channels.length === 0 && patterns.length === 0 && shards.length === 0) {
    return [
      ...LAB_CHANNELS.map((name) => ({ kind: "channel" as const, name })),
      { kind: "pattern", name: LAB_PATTERN },
    ];
  }
  return [
    ...channels.map((name) => ({ kind: "channel" as const, name })),
    ...patterns.map((name) => ({ kind: "pattern" as const, name })),
    ...shards.map((name) => ({ kind: "shard" as const, name })),
  ];
}

/**
 * Runs the subscriber.
 *
 * @param args command-line arguments
 * @param io output streams and an optional stop signal
 * @returns the exit code
 */
export function main(args: string[], io: Io = defaultIo()): Promise<number> {
  return runScript(SPEC, args, io, async (flags) => {
    const subscriptions = chooseSubscriptions(flags);
    const recover = parseRecoverFlags(flags);
    const [count, idleMs] = [flags.int("count", { min: 1 }), flags.duration("timeout")];
    const [json, quiet] = [flags.boolean("json"), flags.boolean("quiet")];
    const endpoint = endpointFor(resolveTarget(flags.list("url"), flags.boolean("cluster")));
    using shutdown = onShutdown(io.signal);
    const reporter = new Reporter(io.stderr);
    await using ops = startOps(flags, { log: reporter, signal: shutdown.signal, starting: "connecting" });
    const options = { endpoint, subscriptions, count, idleMs, json, quiet, recover, reporter, ops };
    return await runSubscriber(options, io, shutdown);
  });
}

if (import.meta.main) Deno.exit(await main(Deno.args));
