/**
 * `demo_events.ts` on pub/sub: publishes a key submission, a profile
 * creation and a custom event, then waits for the event processor's results
 * on `processing_results` and prints them — the whole round trip in one
 * terminal (with `event_processor.ts` running in another).
 *
 * @module
 */
import { CliError, ExitCode } from "../core/exit_codes.ts";
import { toSeconds } from "../core/json_event.ts";
import { roundMs } from "../core/latency.ts";
import { answerWithin, NoAnswerError } from "../core/no_answer.ts";
import { type Io, Printer, Reporter } from "../core/output.ts";
import type { Shutdown } from "../core/shutdown.ts";
import { delay, whenAborted } from "../core/timing.ts";
import type { Endpoint } from "../endpoint/endpoint.ts";
import type { Link } from "../endpoint/link.ts";
import type { CreatedEvent, EventEnvelope } from "./envelope.ts";
import { keySubmittedEvent, profileEvent, TOPICS } from "./kinds.ts";
import { EventPublisher } from "./publisher.ts";
import { EventSubscriber } from "./subscriber.ts";
import { shardedRefusal } from "./processor_flags.ts";
import type { HistoryLimit } from "../recover/history.ts";

/** What the pub/sub demo is told by its command line. */
export interface PubSubDemoOptions {
  /** The server or cluster. */
  endpoint: Endpoint;
  /** `--sharded`: SPUBLISH and SSUBSCRIBE. */
  sharded: boolean;
  /** How long to wait for the results (and for each reply). */
  timeoutMs: number;
  /** Where the custom event goes. */
  customTopic: string;
  /** `--json`. */
  json: boolean;
  /** `--history SIZE|AGE`: the events go to recoverable channels (for event_processor.ts --recover). */
  history?: HistoryLimit;
}

const PROCESSOR_HINT = "Start the processor in another terminal: deno run -A scripts/event_processor.ts";

/**
 * Runs the pub/sub demo.
 *
 * @param o the parsed options
 * @param io output streams
 * @param shutdown the stop request
 * @returns 0 when every result came back (or on Ctrl+C)
 * @throws {CliError} exit code 4 when results are missing or the server does not answer
 */
export async function runPubSubDemo(o: PubSubDemoOptions, io: Io, shutdown: Shutdown): Promise<number> {
  const out = new Printer(io.stdout);
  const status = new Reporter(io.stderr);
  const startedAt = performance.now();
  // Every step that waits for the server also ends on Ctrl+C (undefined) or after --timeout (NoAnswerError).
  const step = <T>(reply: Promise<T>, what: string): Promise<T | undefined> =>
    Promise.race([answerWithin(reply, o.timeoutMs, what), whenAborted(shutdown.signal).then(() => undefined)]);
  const subConn = await o.endpoint.subscriber({ reporter: status, signal: shutdown.signal });
  let pubConn: Link | undefined;
  const waiting = new Map<string, { event: CreatedEvent; sentAt: number }>();
  const allBack = Promise.withResolvers<void>();
  const shown = new Set<string>(); // events whose "published" line is out
  const early = new Map<string, () => void>(); // results that came back before that line
  const subscriber = new EventSubscriber(subConn, {
    topics: {
      [TOPICS.processingResults]: (result) => {
        const original = result.original_event as EventEnvelope | undefined;
        const sent = typeof original?.id === "string" ? waiting.get(original.id) : undefined;
        if (!sent) return; // someone else's result
        waiting.delete(sent.event.id);
        const ms = performance.now() - sent.sentAt;
        const show = () => printResult(out, o.json, result, sent.event, ms);
        // A result can beat its PUBLISH's reply: it is shown after the line that says it was published.
        if (shown.has(sent.event.id)) show();
        else early.set(sent.event.id, show);
        if (waiting.size === 0) allBack.resolve();
      },
    },
    concurrency: 1,
    reporter: status,
    sharded: o.sharded,
  });
  try {
    pubConn = await o.endpoint.link({ reporter: status, reconnect: false, signal: shutdown.signal });
    // A plain PUBLISH on a cluster counts the receivers of the node that took it only: results are awaited anyway.
    const countsReceivers = pubConn.publishCountsAll || o.sharded;
    await step(
      subscriber.start().catch((err) => {
        throw o.sharded ? shardedRefusal(err, subConn.address) : err;
      }),
      "SUBSCRIBE",
    );
    const publisher = new EventPublisher(pubConn.redis, {
      source: "demo_events",
      sharded: o.sharded,
      ...(o.history ? { history: o.history } : {}),
    });
    const demo = [
      { topic: TOPICS.keySubmission, event: publisher.prepare(keySubmittedEvent("abc123", "Token1")) },
      {
        topic: TOPICS.profileEvents,
        event: publisher.prepare(
          profileEvent("created", 1, { dll_path: "/path/to/file.dll", token_name: "Profile Name", active: true }),
        ),
      },
      {
        topic: o.customTopic,
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
      printPublished(out, o.json, topic, event, receivers, sent !== undefined, countsReceivers);
      shown.add(event.id);
      early.get(event.id)?.();
    }
    if (shutdown.signal.aborted) {
      for (const id of [...waiting.keys()]) if (!shown.has(id)) waiting.delete(id);
      return stopped(out, o.json, status, expected, waiting.size, startedAt);
    }
    if (waiting.size === 0) allBack.resolve();
    if (expected === 0) {
      throw new CliError(ExitCode.Timeout, `Nobody is listening on ${TOPICS.keySubmission}. ${PROCESSOR_HINT}`);
    }
    status.info(`Waiting up to ${o.timeoutMs / 1000} s for ${expected} result(s) on ${TOPICS.processingResults}…`);
    const timer = new AbortController();
    await Promise.race([allBack.promise, delay(o.timeoutMs, timer.signal), shutdown.requested]);
    timer.abort();
    const got = expected - waiting.size;
    if (shutdown.signal.aborted && waiting.size > 0) {
      return stopped(out, o.json, status, expected, waiting.size, startedAt);
    }
    if (o.json) {
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
        `Got ${got} of ${expected} result(s) within ${o.timeoutMs / 1000} s; none came back for: ${missing}.\n` +
          `Is event_processor.ts running against the same server? ${PROCESSOR_HINT}`,
      );
    }
    if (!o.json) out.line(`${out.green("✓")} Round trip complete: ${got} of ${expected} results back.`);
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
