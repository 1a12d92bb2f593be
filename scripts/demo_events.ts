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
import { Connection } from "../lib/core/client.ts";
import { refuseTopicFlags, TOPIC_OPTIONS, type TopicPublisher, topicTransport } from "../lib/events/transport.ts";
import type { CreatedEvent, EventEnvelope } from "../lib/events/envelope.ts";
import { keySubmittedEvent, profileEvent, TOPICS } from "../lib/events/kinds.ts";
import { EventPublisher } from "../lib/events/publisher.ts";
import { EventSubscriber } from "../lib/events/subscriber.ts";
import { CliError, ExitCode, UsageError } from "../lib/core/exit_codes.ts";
import { defaultIo, type Io, Printer, Reporter } from "../lib/core/output.ts";
import { onShutdown } from "../lib/core/shutdown.ts";
import { answerWithin, NoAnswerError } from "../lib/core/no_answer.ts";
import { delay, whenAborted } from "../lib/core/timing.ts";
import { toSeconds } from "../lib/core/json_event.ts";
import { roundMs } from "../lib/core/latency.ts";
import { runDurableDemo } from "../lib/events/durable_demo.ts";

const SPEC: ScriptSpec = {
  name: "demo_events.ts",
  summary: "publish the lab's three events and print what the event processor sends back.",
  usage: [
    "[--timeout DURATION] [--custom-topic TOPIC] [--sharded] [--json]",
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
    ...TOPIC_OPTIONS,
    ...COMMON_OPTIONS,
    ...CLUSTER_OPTIONS,
  },
  examples: [
    "deno run -A scripts/demo_events.ts                 # lab 5, terminal 2 (event_processor.ts in terminal 1)",
    "deno run -A scripts/demo_events.ts --timeout 10s --json | jq .",
    "deno run -A scripts/demo_events.ts --durable --count 1000 --rate 100 --timeout 2m   # lab 6",
    "deno run -A scripts/demo_events.ts --cluster --url redis://127.0.0.1:7000 --sharded   # lab 7: SPUBLISH",
  ],
};

const PROCESSOR_HINT = "Start the processor in another terminal: deno run -A scripts/event_processor.ts";

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
    const target = resolveTarget(flags.list("url"), flags.boolean("cluster"));
    const count = flags.int("count", { min: 1, max: 10_000_000 });
    const rate = flags.number("rate", { min: 0.001 });
    if (rate !== undefined && count === undefined) throw new UsageError("--rate goes with --count N");
    if (flags.boolean("durable")) {
      refuseTopicFlags(flags);
      using shutdown = onShutdown(io.signal);
      return await runDurableDemo({ target, timeoutMs, customTopic, json, count, rate }, io, shutdown);
    }
    if (count !== undefined) throw new UsageError("--count goes with --durable");
    const out = new Printer(io.stdout);
    const status = new Reporter(io.stderr);
    const topics = topicTransport(target, flags.boolean("sharded"));

    using shutdown = onShutdown(io.signal);
    const startedAt = performance.now();
    // Every step that waits for the server also ends on Ctrl+C (undefined) or after --timeout (NoAnswerError).
    const step = <T>(reply: Promise<T>, what: string): Promise<T | undefined> =>
      Promise.race([answerWithin(reply, timeoutMs, what), whenAborted(shutdown.signal).then(() => undefined)]);
    const how = { reporter: status, reconnect: false, signal: shutdown.signal };
    const subConn = target.cluster || topics.sharded
      ? await topics.subscriber(how)
      : await Connection.open({ url: target.url, ...how });
    let pubConn: TopicPublisher | undefined;
    const waiting = new Map<string, { event: CreatedEvent; sentAt: number }>();
    const allBack = Promise.withResolvers<void>();
    const shown = new Set<string>(); // events whose "published" line is out
    const early = new Map<string, () => void>(); // results that came back before that line
    // A plain PUBLISH on a cluster counts the receivers of the node that took it only: results are awaited anyway.
    const countsReceivers = !topics.cluster || topics.sharded;
    const subscriber = new EventSubscriber(subConn instanceof Connection ? subConn.redis : subConn, {
      topics: {
        [TOPICS.processingResults]: (result) => {
          const original = result.original_event as EventEnvelope | undefined;
          const sent = typeof original?.id === "string" ? waiting.get(original.id) : undefined;
          if (!sent) return; // someone else's result
          waiting.delete(sent.event.id);
          const ms = performance.now() - sent.sentAt;
          const show = () => printResult(out, json, result, sent.event, ms);
          // A result can beat its PUBLISH's reply: it is shown after the line that says it was published.
          if (shown.has(sent.event.id)) show();
          else early.set(sent.event.id, show);
          if (waiting.size === 0) allBack.resolve();
        },
      },
      concurrency: 1,
      reporter: status,
    });
    try {
      pubConn = await topics.publisher({ reporter: status, reconnect: false, signal: shutdown.signal });
      await step(subscriber.start(), "SUBSCRIBE");
      const publisher = new EventPublisher(pubConn.redis, { source: "demo_events", sharded: topics.sharded });
      const demo = [
        { topic: TOPICS.keySubmission, event: publisher.prepare(keySubmittedEvent("abc123", "Token1")) },
        {
          topic: TOPICS.profileEvents,
          event: publisher.prepare(
            profileEvent("created", 1, { dll_path: "/path/to/file.dll", token_name: "Profile Name", active: true }),
          ),
        },
        {
          topic: customTopic,
          event: publisher.prepare({ event_type: "custom", data: { anything: "you want" } }),
        },
      ];
      const processedTopics: string[] = [TOPICS.keySubmission, TOPICS.profileEvents];
      // All are awaited before the first is sent: a fast result must not find the list empty.
      for (const { topic, event } of demo) {
        if (processedTopics.includes(topic)) waiting.set(event.id, { event, sentAt: performance.now() });
      }
      let expected = 0;
      for (const { topic, event } of demo) {
        if (shutdown.signal.aborted) break;
        const sent = waiting.get(event.id);
        if (sent) sent.sentAt = performance.now();
        const receivers = await step(publisher.publish(topic, event), "PUBLISH");
        if (receivers === undefined) break;
        if (sent && (receivers > 0 || !countsReceivers)) expected++;
        else waiting.delete(event.id);
        printPublished(out, json, topic, event, receivers, sent !== undefined, countsReceivers);
        shown.add(event.id);
        early.get(event.id)?.();
      }
      if (shutdown.signal.aborted) {
        for (const id of [...waiting.keys()]) if (!shown.has(id)) waiting.delete(id);
        return stopped(out, json, status, expected, waiting.size, startedAt);
      }
      if (waiting.size === 0) allBack.resolve();
      if (expected === 0) {
        throw new CliError(ExitCode.Timeout, `Nobody is listening on ${TOPICS.keySubmission}. ${PROCESSOR_HINT}`);
      }
      status.info(`Waiting up to ${timeoutMs / 1000} s for ${expected} result(s) on ${TOPICS.processingResults}…`);
      const timer = new AbortController();
      await Promise.race([allBack.promise, delay(timeoutMs, timer.signal), shutdown.requested]);
      timer.abort();
      const got = expected - waiting.size;
      if (shutdown.signal.aborted && waiting.size > 0) {
        return stopped(out, json, status, expected, waiting.size, startedAt);
      }
      if (json) {
        out.event("summary", {
          expected,
          received: got,
          seconds: toSeconds(performance.now() - startedAt),
          stopped: false,
        });
      }
      if (waiting.size > 0) {
        const missing = [...waiting.values()].map((w) => w.event.event_type).join(", ");
        throw new CliError(
          ExitCode.Timeout,
          `Got ${got} of ${expected} result(s) within ${timeoutMs / 1000} s; none came back for: ${missing}.\n` +
            `Is event_processor.ts running against the same server? ${PROCESSOR_HINT}`,
        );
      }
      if (!json) out.line(`${out.green("✓")} Round trip complete: ${got} of ${expected} results back.`);
      return ExitCode.Ok;
    } catch (err) {
      if (!(err instanceof NoAnswerError)) throw err;
      throw new CliError(
        ExitCode.Timeout,
        `The server at ${subConn.address} stopped answering: ${err.message}.\n` +
          "Check that it is running and answering (deno run -A scripts/ping.ts), then run the demo again.",
      );
    } finally {
      await subscriber.shutdown(1000);
      await pubConn?.close();
      await subConn.close();
    }
  });
}

/** The end after Ctrl+C: how many results came back, exit code 0. */
function stopped(
  out: Printer,
  json: boolean,
  status: Reporter,
  expected: number,
  missing: number,
  startedAt: number,
): number {
  const got = expected - missing;
  const seconds = toSeconds(performance.now() - startedAt);
  if (json) out.event("summary", { expected, received: got, seconds, stopped: true });
  else status.info(`Stopped: ${got} of ${expected} results back.`);
  return ExitCode.Ok;
}

function printPublished(
  out: Printer,
  json: boolean,
  topic: string,
  event: CreatedEvent,
  receivers: number,
  processed: boolean,
  countsReceivers: boolean,
): void {
  if (json) {
    out.event("published", { channel: topic, event_type: event.event_type, id: event.id, receivers });
    return;
  }
  const who = `${receivers} receiver${receivers === 1 ? "" : "s"}${countsReceivers ? "" : " on the node that took it"}`;
  const note = receivers === 0 && countsReceivers
    ? (processed ? " — no event processor is listening" : " — nobody listens there")
    : "";
  out.line(`→ published ${out.bold(event.event_type)} on ${out.cyan(topic)} (${who}) id ${event.id}${note}`);
}

function printResult(out: Printer, json: boolean, result: EventEnvelope, original: CreatedEvent, ms: number): void {
  if (json) {
    out.event("result", { round_trip_ms: roundMs(ms), result });
    return;
  }
  out.line(
    `← ${out.bold(result.event_type)} for ${original.event_type} ${original.id.slice(0, 8)} ` +
      `on ${out.cyan(TOPICS.processingResults)} after ${ms.toFixed(1)} ms:`,
  );
  for (const line of JSON.stringify(result, null, 2).split("\n")) out.line(`    ${line}`);
}

if (import.meta.main) Deno.exit(await main(Deno.args));
