#!/usr/bin/env -S deno run -A
/**
 * Lab 5's demo: publishes a key submission, a profile creation and a custom
 * event, then waits for the event processor's results on
 * `processing_results` and prints them — the whole round trip in one
 * terminal (with `event_processor.ts` running in another).
 *
 *   deno run -A scripts/demo_events.ts
 *   deno run -A scripts/demo_events.ts --json | jq .
 *
 * @module
 */
import { COMMON_OPTIONS, runScript, type ScriptSpec } from "../lib/core/cli.ts";
import { CLUSTER_OPTIONS, resolveTarget } from "../lib/cluster/target.ts";
import { UsageError } from "../lib/core/exit_codes.ts";
import { defaultIo, type Io } from "../lib/core/output.ts";
import { onShutdown } from "../lib/core/shutdown.ts";
import { endpointFor } from "../lib/endpoint/endpoint.ts";
import { refuseTopicFlags, STREAMS_KEEP, TOPIC_OPTIONS } from "../lib/events/processor_flags.ts";
import { runDurableDemo } from "../lib/events/durable_demo.ts";
import { runPubSubDemo } from "../lib/events/pubsub_demo.ts";
import { parseHistoryLimit } from "../lib/recover/history.ts";

const SPEC: ScriptSpec = {
  name: "demo_events.ts",
  summary: "publish the lab's three events and print what the event processor sends back.",
  usage: [
    "[--timeout DURATION] [--custom-topic TOPIC] [--sharded] [--history SIZE|AGE] [--json]",
    "--durable [--count N [--rate R]] [--timeout DURATION] [--json]",
  ],
  options: {
    timeout: { type: "string", arg: "DURATION", help: "how long to wait for the results (default 5s)" },
    "custom-topic": { type: "string", arg: "TOPIC", help: "where the custom event goes (default my_topic)" },
    durable: {
      type: "boolean",
      help: "append to streams (XADD) for event_processor.ts --durable; results are read from a stream (lab 6)",
    },
    count: { type: "string", short: "n", arg: "N", help: "with --durable: append N events instead of the three" },
    rate: { type: "string", arg: "R", help: "with --count: at most R events per second" },
    history: {
      type: "string",
      arg: "SIZE|AGE",
      help: "publish to recoverable channels keeping the last SIZE events (or those of the last AGE, e.g. 10m), " +
        "for event_processor.ts --recover",
    },
    ...TOPIC_OPTIONS,
    ...COMMON_OPTIONS,
    ...CLUSTER_OPTIONS,
  },
  examples: [
    "deno run -A scripts/demo_events.ts                 # lab 5, terminal 2 (event_processor.ts in terminal 1)",
    "deno run -A scripts/demo_events.ts --timeout 10s --json | jq .",
    "deno run -A scripts/demo_events.ts --durable --count 1000 --rate 100 --timeout 2m   # lab 6",
    "deno run -A scripts/demo_events.ts --history 1000    # for event_processor.ts --recover",
    "deno run -A scripts/demo_events.ts --cluster --url redis://127.0.0.1:7000 --sharded   # lab 7: SPUBLISH",
  ],
};

/**
 * Runs the demo.
 *
 * @param args command-line arguments
 * @param io output streams and an optional stop signal
 * @returns 0 when every result came back (or on Ctrl+C); 4 when results are missing or the server does not answer
 * @example
 * ```ts ignore
 * import { main } from "./demo_events.ts";
 * Deno.exit(await main(["--url", "redis://localhost:6379"]));
 * ```
 */
export function main(args: string[], io: Io = defaultIo()): Promise<number> {
  return runScript(SPEC, args, io, async (flags) => {
    const timeoutMs = flags.duration("timeout") ?? 5000;
    if (timeoutMs <= 0) throw new UsageError("--timeout must be more than 0");
    const customTopic = flags.string("custom-topic") ?? "my_topic";
    const json = flags.boolean("json");
    const endpoint = endpointFor(resolveTarget(flags.list("url"), flags.boolean("cluster")));
    const count = flags.int("count", { min: 1, max: 10_000_000 });
    const rate = flags.number("rate", { min: 0.001 });
    if (rate !== undefined && count === undefined) throw new UsageError("--rate goes with --count N");
    const historyText = flags.string("history");
    if (flags.boolean("durable")) {
      refuseTopicFlags(flags);
      if (historyText !== undefined) throw new UsageError(STREAMS_KEEP("--history"));
      using shutdown = onShutdown(io.signal);
      return await runDurableDemo({ endpoint, timeoutMs, customTopic, json, count, rate }, io, shutdown);
    }
    if (count !== undefined) throw new UsageError("--count goes with --durable");
    using shutdown = onShutdown(io.signal);
    const sharded = flags.boolean("sharded");
    const history = historyText === undefined ? undefined : parseHistoryLimit(historyText);
    const options = { endpoint, sharded, timeoutMs, customTopic, json, ...(history ? { history } : {}) };
    return await runPubSubDemo(options, io, shutdown);
  });
}

if (import.meta.main) Deno.exit(await main(Deno.args));
