#!/usr/bin/env -S deno run -A
/**
 * Lab 1's publisher: plays the lab's demo, publishes one message, every
 * line of stdin, or a templated series at a chosen rate — and says how many
 * subscribers received each message.
 *
 *   deno run -A scripts/publisher.ts                       # the lab's six messages
 *   deno run -A scripts/publisher.ts chat:general "hello"
 *   deno run -A scripts/publisher.ts bench 'msg {{n}}' --repeat 100000 --quiet
 *   deno run -A scripts/publisher.ts --cluster --url redis://127.0.0.1:7000 --sharded orders "hi"   # lab 7
 *
 * @module
 */
import { COMMON_OPTIONS, type Flags, runScript, type ScriptSpec } from "../lib/core/cli.ts";
import { CLUSTER_OPTIONS, resolveTarget } from "../lib/cluster/target.ts";
import { ExitCode, UsageError } from "../lib/core/exit_codes.ts";
import { defaultIo, type Io, Printer, Reporter } from "../lib/core/output.ts";
import { onShutdown } from "../lib/core/shutdown.ts";
import { endpointFor } from "../lib/endpoint/mod.ts";
import { type PublishMode, PublishRun } from "../lib/pubsub_run/publish_run.ts";
import { publishRoute } from "../lib/pubsub_run/publish_route.ts";
import { appendRoute } from "../lib/streams/append_route.ts";
import { parseHistoryLimit } from "../lib/recover/history.ts";
import { historyRoute } from "../lib/recover/history_publisher.ts";

const SPEC: ScriptSpec = {
  name: "publisher.ts",
  summary: "publish messages and show how many subscribers received each one.",
  usage: [
    "                                   # the lab's demo: six messages",
    "CHANNEL MESSAGE                    # one message",
    "CHANNEL --stdin                    # one message per input line",
    "CHANNEL TEMPLATE --repeat N [--rate R | --interval DURATION] [--retry DURATION]",
    "--stream CHANNEL ...               # any of the above, appended to a stream (XADD) instead",
    "--sharded CHANNEL ...              # any of the above, published with SPUBLISH (sharded pub/sub)",
    "--history SIZE|AGE CHANNEL ...     # any of the above, kept in the channel's history for subscribers to recover",
    "--cluster --url SEED ...           # any of the above on a Redis/Valkey cluster",
  ],
  positionals: true,
  options: {
    stdin: { type: "boolean", help: "publish each line read from standard input (empty lines are skipped)" },
    repeat: { type: "string", arg: "N", help: "publish the message N times; {{n}}, {{ts}}, {{iso}} are filled in" },
    rate: { type: "string", arg: "R", help: "at most R messages per second (with --repeat)" },
    interval: {
      type: "string",
      arg: "DURATION",
      help: "pause between messages (--repeat, or the demo's pauses; default 0.5–1.5 s there)",
    },
    retry: {
      type: "string",
      arg: "DURATION",
      help: "with --repeat: when the server goes away, wait this long for it and carry on (default: stop at once)",
    },
    quiet: { type: "boolean", short: "q", help: "print only the summary, not each message" },
    stream: {
      type: "boolean",
      help: "append to the stream CHANNEL (XADD, field payload) instead of publishing: kept for later readers",
    },
    sharded: {
      type: "boolean",
      help: "publish with SPUBLISH (sharded pub/sub, Redis >= 7 or Valkey): on a cluster it stays on its slot's shard",
    },
    history: {
      type: "string",
      arg: "SIZE|AGE",
      help: "make the channel recoverable: each message numbered and kept in its history, the last SIZE messages " +
        "(e.g. 1000) or those of the last AGE (e.g. 10m), for subscriber.ts --recover",
    },
    ...COMMON_OPTIONS,
    ...CLUSTER_OPTIONS,
  },
  examples: [
    "deno run -A scripts/publisher.ts                                  # lab 1's demo",
    'deno run -A scripts/publisher.ts chat:general "Hello, team!"',
    "printf 'a\\nb\\n' | deno run -A scripts/publisher.ts news --stdin",
    "deno run -A scripts/publisher.ts ticks 'tick {{n}} at {{iso}}' --repeat 10 --interval 1s",
    "deno run -A scripts/publisher.ts bench 'msg {{n}} {{ts}}' --repeat 100000 --quiet",
    `deno run -A scripts/publisher.ts --stream key_submission '{"event_type":"key_submitted","timestamp":"{{iso}}","key_value":"k{{n}}"}' --repeat 1000`,
    "deno run -A scripts/publisher.ts ticks 'tick {{n}}' --repeat 600 --interval 1s --retry 30s",
    "deno run -A scripts/publisher.ts --cluster --url redis://127.0.0.1:7000 --sharded orders 'o {{n}}' --repeat 100",
    "deno run -A scripts/publisher.ts --history 1000 ticks 'tick {{n}}' --repeat 600 --interval 1s   # recoverable",
  ],
};

function chooseMode(flags: Flags): PublishMode {
  const [channel, message, ...extra] = flags.positionals;
  const repeat = flags.int("repeat", { min: 1 });
  const rate = flags.number("rate", { min: 0.001 });
  const intervalMs = flags.duration("interval");
  const retryMs = flags.duration("retry");
  if (retryMs !== undefined && repeat === undefined) throw new UsageError("--retry goes with --repeat N");
  if (retryMs !== undefined && retryMs <= 0) throw new UsageError("--retry must be more than 0, e.g. 30s");
  if (extra.length > 0) throw new UsageError(`Unexpected argument "${extra[0]}": quote a message that has spaces`);
  if (rate !== undefined && intervalMs !== undefined) throw new UsageError("Use --rate or --interval, not both");
  if (rate !== undefined && repeat === undefined) throw new UsageError("--rate goes with --repeat N");
  if (intervalMs !== undefined && (flags.boolean("stdin") || (message !== undefined && repeat === undefined))) {
    throw new UsageError("--interval goes with --repeat N or the demo (no arguments)");
  }
  if (flags.boolean("stdin")) {
    if (channel === undefined) throw new UsageError("--stdin needs a CHANNEL to publish to");
    if (message !== undefined || repeat !== undefined) {
      throw new UsageError("--stdin takes the messages from standard input: give only a CHANNEL");
    }
    return { kind: "stdin", channel };
  }
  if (repeat !== undefined) {
    if (channel === undefined || message === undefined) throw new UsageError("--repeat needs a CHANNEL and a MESSAGE");
    return { kind: "repeat", channel, template: message, count: repeat, rate, intervalMs, retryMs };
  }
  if (channel === undefined) return { kind: "demo", intervalMs };
  if (message === undefined) {
    throw new UsageError(`Missing MESSAGE after channel "${channel}" (or use --stdin to read messages)`);
  }
  return { kind: "one", message: { channel, payload: message } };
}

/**
 * Runs the publisher.
 *
 * @param args command-line arguments
 * @param io output streams, an optional stop signal, and standard input
 * @returns the exit code
 */
export function main(args: string[], io: Io & { stdin?: ReadableStream<Uint8Array> } = defaultIo()): Promise<number> {
  return runScript(SPEC, args, io, async (flags) => {
    const mode = chooseMode(flags);
    const status = new Reporter(io.stderr);
    const endpoint = endpointFor(resolveTarget(flags.list("url"), flags.boolean("cluster")));
    const stream = flags.boolean("stream");
    const sharded = flags.boolean("sharded");
    if (stream && sharded) throw new UsageError("--stream appends to a stream, --sharded publishes: choose one");
    const history = flags.string("history");
    const limit = history === undefined ? undefined : parseHistoryLimit(history);
    if (stream && limit) throw new UsageError("--stream keeps every message already: drop --history");
    using shutdown = onShutdown(io.signal);
    const retryMs = mode.kind === "repeat" ? mode.retryMs : undefined;
    const link = await endpoint.link({
      reporter: status,
      reconnect: retryMs !== undefined,
      signal: shutdown.signal,
      ...(retryMs !== undefined ? { lossNote: `Publishing waits for it, up to ${retryMs / 1000} s (--retry).` } : {}),
    });
    // --stream --retry: what was unconfirmed when the server went away is appended again, never twice.
    const route = stream
      ? appendRoute(link, retryMs !== undefined)
      : limit
      ? historyRoute(link, limit, sharded)
      : publishRoute(link, { sharded, series: mode.kind === "repeat" });
    const run = new PublishRun(link, route, {
      out: new Printer(io.stdout),
      status,
      json: flags.boolean("json"),
      quiet: flags.boolean("quiet"),
      signal: shutdown.signal,
      ...(io.stdin ? { stdin: io.stdin } : {}),
    });
    try {
      await run.play(mode);
    } catch (err) {
      return run.stopped(err);
    } finally {
      await route.close();
      await link.close();
    }
    run.summarize();
    return ExitCode.Ok;
  });
}

if (import.meta.main) Deno.exit(await main(Deno.args));
