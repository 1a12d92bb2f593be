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
import { type CliError, ExitCode } from "../lib/core/exit_codes.ts";
import { defaultIo, type Io, Printer, Reporter } from "../lib/core/output.ts";
import { liveProgress } from "../lib/core/progress.ts";
import type { Subscription } from "../lib/pubsub/subscribe.ts";
import { endpointFor } from "../lib/endpoint/mod.ts";
import { onShutdown } from "../lib/core/shutdown.ts";
import { ListenLimits } from "../lib/pubsub/listen_limits.ts";
import { recoverAround } from "../lib/recover/recovering_subscriber.ts";
import { parseRecoverFlags, recoverOptions } from "../lib/recover/recover_flags.ts";
import { messagePrinter, printConfirmation, printSubscriberSummary } from "../lib/pubsub_run/subscriber_output.ts";
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

const LOSS_NOTE = "Messages published until it is back are lost: pub/sub keeps nothing for absent subscribers.";
const RECOVER_NOTE = "Messages published until it is back are read from the history then (--recover).";

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
    const json = flags.boolean("json");
    const quiet = flags.boolean("quiet");
    const out = new Printer(io.stdout);
    const status = new Reporter(io.stderr);

    using shutdown = onShutdown(io.signal);
    await using ops = startOps(flags, { log: status, signal: shutdown.signal, starting: "connecting" });
    const endpoint = endpointFor(resolveTarget(flags.list("url"), flags.boolean("cluster")));
    const conn = await endpoint.subscriber({
      reporter: status,
      signal: shutdown.signal,
      lossNote: recover ? RECOVER_NOTE : LOSS_NOTE,
      remedies: quiet ? [] : ["--quiet (printing each message is the slow part)"],
    });
    if (json) conn.onMove((move) => out.event("shard_moved", { ...move }));
    const recovering = recover
      ? await recoverAround(endpoint, conn, {
        reporter: status,
        signal: shutdown.signal,
        events: json ? out : undefined,
        ...recover,
      })
      : undefined;
    const source = recovering ?? conn;
    const limits = new ListenLimits(count, idleMs);
    let exitCode: number = ExitCode.Ok;
    let fatal: CliError | undefined;
    try {
      const print = messagePrinter(out, json);
      // Read from the count it keeps anyway, at each scrape: nothing added per message.
      for (const counter of [ops.metrics.received, ops.metrics.handled]) {
        counter.followEach(() => limits.counter.byName);
      }
      const stopListening = source.listen((m) => {
        if (limits.take(m.channel) && !quiet) print(m);
      });
      await source.subscribe(subscriptions, (c) => printConfirmation(out, c, json));
      ops.readiness.started();
      status.info(`Listening on ${conn.address}. Press Ctrl+C to stop.`);
      using _progress = quiet ? liveProgress(status.printer, limits.counter) : undefined;
      fatal = await Promise.race([shutdown.requested, limits.reached(), conn.failed]) ?? undefined;
      if (!fatal && limits.silent && !shutdown.signal.aborted) {
        status.warn(`Nothing received within ${idleMs! / 1000} s.`);
        exitCode = ExitCode.Timeout;
      }
      // Unsubscribed first: its confirmation comes after every message the server sent before it, and those are
      // handled too (a publisher told "received by 1 subscriber" just before the stop finds its message counted).
      await conn.unsubscribe();
      stopListening();
    } finally {
      limits[Symbol.dispose](); // its idle timer
      await recovering?.close();
      await conn.close();
    }
    printSubscriberSummary(out, json, limits.counter, Date.now() - limits.startedAt, conn, recovering);
    if (fatal) throw fatal;
    return exitCode;
  });
}

if (import.meta.main) Deno.exit(await main(Deno.args));
