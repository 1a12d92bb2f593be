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
import { slotOf } from "../lib/cluster/topology.ts";
import { LAB_CHANNELS, LAB_PATTERN } from "../lib/pubsub/demo_messages.ts";
import { type CliError, ExitCode } from "../lib/core/exit_codes.ts";
import { clock, defaultIo, escapeControl, type Io, Printer, Reporter, showPayload } from "../lib/core/output.ts";
import { liveProgress } from "../lib/core/progress.ts";
import type { Confirmation, PubSubMessage, Subscription } from "../lib/pubsub/subscribe.ts";
import { endpointFor, type Subscriber } from "../lib/endpoint/mod.ts";
import { onShutdown } from "../lib/core/shutdown.ts";
import { formatNumber, MessageCounter } from "../lib/core/stats.ts";
import { flowRate, preciseNow, toSeconds } from "../lib/core/json_event.ts";
import { whenAborted } from "../lib/core/timing.ts";

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
    ...COMMON_OPTIONS,
    ...CLUSTER_OPTIONS,
  },
  examples: [
    "deno run -A scripts/subscriber.ts                      # lab 1: system_notifications, chat:general, alerts:*",
    "deno run -A scripts/subscriber.ts news sports -p 'alerts:*'",
    "deno run -A scripts/subscriber.ts bench --quiet --timeout 5s",
    "deno run -A scripts/subscriber.ts --json news | jq -r 'select(.event == \"message\") | .payload'",
    "deno run -A scripts/subscriber.ts --cluster --url redis://127.0.0.1:7000 -s orders -s payments   # lab 7",
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
    const count = flags.int("count", { min: 1 });
    const idleMs = flags.duration("timeout");
    const json = flags.boolean("json");
    const quiet = flags.boolean("quiet");
    const out = new Printer(io.stdout);
    const status = new Reporter(io.stderr);

    using shutdown = onShutdown(io.signal);
    const target = resolveTarget(flags.list("url"), flags.boolean("cluster"));
    const conn = await endpointFor(target).subscriber({
      reporter: status,
      signal: shutdown.signal,
      lossNote: LOSS_NOTE,
      remedies: quiet ? [] : ["--quiet (printing each message is the slow part)"],
    });
    if (json) conn.onMove((move) => out.event("shard_moved", { ...move }));
    const counter = new MessageCounter();
    const startedAt = Date.now();
    const done = new AbortController();
    let exitCode: number = ExitCode.Ok;
    let fatal: CliError | undefined;
    try {
      const print = json ? printJson(out) : printText(out);
      const stopListening = conn.listen((m) => {
        if (counter.total === count) return; // --count reached: what still arrives before the unsubscribe is not ours
        counter.record(m.channel);
        if (!quiet) print(m);
        if (counter.total === count) done.abort();
      });
      await conn.subscribe(subscriptions, (c) => printConfirmation(out, c, json));
      status.info(`Listening on ${conn.address}. Press Ctrl+C to stop.`);
      using _progress = quiet ? liveProgress(status.printer, counter) : undefined;
      if (idleMs !== undefined) watchIdle(counter, startedAt, idleMs, done);
      const failure = await Promise.race([shutdown.requested, whenAborted(done.signal), conn.failed]);
      if (failure) fatal = failure;
      if (!fatal && idleMs !== undefined && counter.total === 0 && !shutdown.signal.aborted) {
        status.warn(`Nothing received within ${idleMs / 1000} s.`);
        exitCode = ExitCode.Timeout;
      }
      // Unsubscribed first: its confirmation comes after every message the server sent before it, and those are
      // handled too (a publisher told "received by 1 subscriber" just before the stop finds its message counted).
      await conn.unsubscribe();
      stopListening();
    } finally {
      done.abort();
      await conn.close();
    }
    printSummary(out, json, counter, Date.now() - startedAt, conn);
    if (fatal) throw fatal;
    return exitCode;
  });
}

const CONFIRMATION_EVENT = { channel: "subscribe", pattern: "psubscribe", shard: "ssubscribe" } as const;

function printConfirmation(out: Printer, c: Confirmation, json: boolean): void {
  if (json) {
    const name = c.kind === "pattern" ? { pattern: c.name } : { channel: c.name };
    const where = c.node !== undefined ? { node: c.node, slot: slotOf(c.name) } : {};
    out.event(CONFIRMATION_EVENT[c.kind], { ...name, active: c.active, ...where });
  } else {
    const what = c.kind === "shard" ? "sharded channel" : c.kind;
    const where = c.node !== undefined ? ` on ${out.bold(c.node)} ${out.dim(`(slot ${slotOf(c.name)})`)}` : "";
    out.line(`${out.green("✓")} subscribed to ${what} ${out.bold(escapeControl(c.name))}${where} (${c.active} active)`);
  }
}

function printText(out: Printer): (m: PubSubMessage) => void {
  return (m) => {
    const body = showPayload(m.payload).text;
    const channel = out.cyan(escapeControl(m.channel));
    const where = m.pattern !== undefined
      ? `${out.dim("pmessage")} ${out.magenta(escapeControl(m.pattern))} ${out.dim("matched")} ${channel}`
      : m.sharded
      ? `${out.dim("smessage")} ${channel}`
      : `${out.dim("message ")} ${channel}`;
    const from = m.node !== undefined ? `  ${out.dim(`(from ${m.node})`)}` : "";
    out.line(`${out.dim(clock())} ${where}: ${body}${from}`);
  };
}

function printJson(out: Printer): (m: PubSubMessage) => void {
  return (m) => {
    const at = preciseNow(); // `time` to the microsecond: minus a `{{ts}}` in the payload, a one-way latency
    const payload = showPayload(m.payload).json;
    if (m.pattern !== undefined) out.event("pmessage", { pattern: m.pattern, channel: m.channel, ...payload }, at);
    else if (m.sharded) {
      const node = m.node !== undefined ? { node: m.node } : {};
      out.event("smessage", { channel: m.channel, ...payload, ...node }, at);
    } else out.event("message", { channel: m.channel, ...payload }, at);
  };
}

/** Aborts `done` once no message has arrived for `idleMs`. */
function watchIdle(counter: MessageCounter, startedAt: number, idleMs: number, done: AbortController): void {
  const check = () => {
    if (done.signal.aborted) return;
    const idleFor = Date.now() - (counter.lastAt ?? startedAt);
    if (idleFor >= idleMs) return done.abort();
    const timer = setTimeout(check, idleMs - idleFor);
    done.signal.addEventListener("abort", () => clearTimeout(timer), { once: true });
  };
  check();
}

function printSummary(
  out: Printer,
  json: boolean,
  counter: MessageCounter,
  elapsedMs: number,
  conn: Subscriber,
): void {
  const rate = flowRate(counter.total, counter.flowingMs);
  if (json) {
    out.event("summary", {
      messages: counter.total,
      seconds: toSeconds(elapsedMs),
      flowing_seconds: toSeconds(counter.flowingMs),
      ...(rate !== undefined ? { rate_per_second: rate } : {}),
      channels: Object.fromEntries(counter.byName),
      ...conn.outageJson(),
    });
    return;
  }
  out.line(
    `Received ${formatNumber(counter.total)} message(s) in ${(elapsedMs / 1000).toFixed(1)} s` +
      (rate !== undefined ? ` (${formatNumber(rate)}/s while messages were flowing)` : "") + ".",
  );
  const width = Math.max(0, ...[...counter.byName.keys()].map((k) => escapeControl(k).length));
  for (const [channel, n] of counter.byName) out.line(`  ${escapeControl(channel).padEnd(width)}  ${formatNumber(n)}`);
  const outages = conn.outageSummary("messages published then were not received.");
  if (outages) out.line(outages);
}

if (import.meta.main) Deno.exit(await main(Deno.args));
