/**
 * `demo_events.ts --durable`: the lab's events appended to streams instead
 * of published, and the results read back from the `processing_results`
 * stream, matched by the source entry id they carry — so a duplicate (an
 * event processed again after a crash) is seen and dropped. With `--count N`
 * it appends N events, at a `--rate` if asked, and counts what came back.
 *
 * @module
 */
import type { Endpoint } from "../endpoint/endpoint.ts";
import type { Link } from "../endpoint/link.ts";
import { CliError, ExitCode } from "../core/exit_codes.ts";
import { escapeControl, type Io, Printer, Reporter } from "../core/output.ts";
import type { Shutdown } from "../core/shutdown.ts";
import { flowRate, toSeconds } from "../core/json_event.ts";
import { roundMs } from "../core/latency.ts";
import { formatNumber, MessageCounter } from "../core/stats.ts";
import { delay, onAbort } from "../core/timing.ts";
import type { CreatedEvent, EventEnvelope } from "./envelope.ts";
import { keySubmittedEvent, profileEvent, TOPICS } from "./kinds.ts";
import { publishSeries } from "../pubsub/publish.ts";
import { PAYLOAD_FIELD } from "../streams/entry.ts";
import { lastEntryId, readStream } from "../streams/reader.ts";
import { linkAppendSender } from "../streams/append.ts";
import { StreamPublisher } from "./stream_publisher.ts";

/** What the durable demo is told by its command line. */
export interface DurableDemoOptions {
  /** The server or cluster. */
  endpoint: Endpoint;
  /** How long to wait for the results after the last append. */
  timeoutMs: number;
  /** Where the custom event goes. */
  customTopic: string;
  /** `--json`. */
  json: boolean;
  /** `--count N`: append N events (3 key submissions to 1 profile update) instead of the lab's three. */
  count?: number;
  /** `--rate R`: at most R appends per second (with `count`). */
  rate?: number;
}

const PROCESSOR_HINT = "Start it in another terminal: deno run -A scripts/event_processor.ts --durable";

/** What came back for the events this run appended. */
class Tally {
  readonly sent = new Map<string, { event: CreatedEvent; topic: string; at: number }>();
  readonly seen = new Map<string, number>(); // every result's source, mine or not
  /** The first result of each source, while its event's append reply may still be on its way (three-event demo). */
  readonly firstResults = new Map<string, { result: EventEnvelope; entryId: string; at: number }>();
  back = 0;
  duplicates = 0;
  expected = 0;
  #wake = () => {};

  /** Records an appended event that the processor should answer. */
  sentOne(key: string, topic: string, event: CreatedEvent, at: number): boolean {
    this.sent.set(key, { event, topic, at });
    this.expected++;
    const times = this.seen.get(key) ?? 0;
    if (times > 0) {
      this.back++;
      this.duplicates += times - 1;
    }
    this.#wake();
    return times > 0;
  }

  /** Records a result; true the first time its source is one of ours. */
  result(key: string): boolean {
    const times = (this.seen.get(key) ?? 0) + 1;
    this.seen.set(key, times);
    if (!this.sent.has(key)) return false;
    if (times === 1) this.back++;
    else this.duplicates++;
    this.#wake();
    return times === 1;
  }

  /** Resolves when every expected result is back, or `ms` passed, or `stop` aborted. */
  async allBack(ms: number, stop: AbortSignal): Promise<void> {
    const timer = new AbortController();
    const done = new Promise<void>((resolve) => {
      this.#wake = () => this.back >= this.expected && resolve();
      this.#wake();
    });
    using _stop = onAbort(stop, () => timer.abort());
    await Promise.race([done, delay(ms, timer.signal)]);
    timer.abort();
  }
}

/**
 * Runs the durable demo.
 *
 * @param o the parsed options
 * @param io output streams
 * @param shutdown the stop request
 * @returns 0 when every result came back (or on Ctrl+C); 4 when results are missing
 */
export async function runDurableDemo(o: DurableDemoOptions, io: Io, shutdown: Shutdown): Promise<number> {
  const out = new Printer(io.stdout);
  const status = new Reporter(io.stderr);
  const conns = await openDemo(o.endpoint, status);
  const follow = new AbortController();
  let following: Promise<void> | undefined;
  const tally = new Tally();
  const started = performance.now();
  try {
    const publisher = new StreamPublisher(conns.commands.redis, { source: "demo_events" });
    // Results are read from the newest one now, so that none is missed however fast the processor is.
    let after = await lastEntryId(conns.commands.redis, TOPICS.processingResults);
    following = (async () => {
      // On a cluster a failover ends a blocking read: it starts again after the last result seen.
      for (let attempt = 0; !follow.signal.aborted; attempt++) {
        try {
          const pages = readStream(conns.reader.redis, TOPICS.processingResults, { kind: "new" }, {
            follow: true,
            after,
            signal: follow.signal,
          });
          for await (const page of pages) {
            after = page.at(-1)!.id;
            for (const entry of page) {
              const result = parseResult(entry.fields?.[PAYLOAD_FIELD]);
              if (!result) continue;
              const key = `${result.source_stream} ${result.source_entry_id}`;
              const first = tally.result(key);
              if (o.count !== undefined || tally.seen.get(key)! > 1) continue;
              const sent = tally.sent.get(key);
              // A result can beat its XADD's reply: it is shown after the line that says it was appended.
              if (!sent) tally.firstResults.set(key, { result, entryId: entry.id, at: performance.now() });
              else if (first) {
                printResult(out, o.json, result, sent.event, sent.topic, entry.id, performance.now() - sent.at);
              }
            }
          }
          return;
        } catch (err) {
          if (!conns.reader.isOutage(err) || follow.signal.aborted) throw err;
          await delay(Math.min(100 * 2 ** attempt, 1000), follow.signal);
        }
      }
    })();
    following.catch(() => {}); // awaited below
    if (o.count === undefined) await appendThree(publisher, o, out, tally);
    else await appendMany(conns, publisher, o, out, tally, shutdown.signal);
    if (!shutdown.signal.aborted && tally.back < tally.expected) {
      status.info(
        `Waiting up to ${o.timeoutMs / 1000} s for ${formatNumber(tally.expected - tally.back)} result(s) on the ` +
          `stream ${TOPICS.processingResults}…`,
      );
      await tally.allBack(o.timeoutMs, shutdown.signal);
    }
    return finish(out, status, o, tally, shutdown.signal.aborted, performance.now() - started);
  } finally {
    follow.abort();
    await following?.catch(() => {});
    await conns.close();
  }
}

/** The demo's links: XADD, and a blocking reader. */
interface DemoConnections {
  commands: Link;
  reader: Link;
  close(): Promise<void>;
}

async function openDemo(endpoint: Endpoint, status: Reporter): Promise<DemoConnections> {
  // One server lost ends the demo (no reconnect); on a cluster, appends wait while a failover is under way (offline
  // queue) and the reader, a link of its own (it blocks), reads again from the new master.
  const how = { reporter: status, reconnect: false, offlineQueue: true };
  const commands = await endpoint.link({ ...how, autoPipelining: true });
  const reader = await endpoint.link(how).catch(async (err) => {
    await commands.close();
    throw err;
  });
  return {
    commands,
    reader,
    close: async () => {
      await reader.close();
      await commands.close();
    },
  };
}

function parseResult(payload: string | undefined): EventEnvelope | undefined {
  if (payload === undefined) return undefined;
  try {
    const value = JSON.parse(payload);
    return typeof value === "object" && value !== null && typeof value.source_entry_id === "string" ? value : undefined;
  } catch {
    return undefined;
  }
}

async function appendThree(
  publisher: StreamPublisher,
  o: DurableDemoOptions,
  out: Printer,
  tally: Tally,
): Promise<void> {
  const demo = [
    {
      topic: TOPICS.keySubmission,
      event: publisher.prepare(TOPICS.keySubmission, keySubmittedEvent("abc123", "Token1")),
    },
    {
      topic: TOPICS.profileEvents,
      event: publisher.prepare(
        TOPICS.profileEvents,
        profileEvent("created", 1, { dll_path: "/path/to/file.dll", token_name: "Profile Name", active: true }),
      ),
    },
    {
      topic: o.customTopic,
      event: publisher.prepare(o.customTopic, { event_type: "custom", data: { anything: "you want" } }),
    },
  ];
  for (const { topic, event } of demo) {
    const at = performance.now();
    const entryId = await publisher.append(topic, event);
    const processed = topic === TOPICS.keySubmission || topic === TOPICS.profileEvents;
    if (o.json) {
      out.event("appended", { channel: topic, event_type: event.event_type, id: event.id, entry_id: entryId });
    } else {
      const note = processed ? "" : " — no processor reads that stream";
      out.line(`→ appended ${out.bold(event.event_type)} to ${out.cyan(topic)} as ${entryId}, id ${event.id}${note}`);
    }
    if (!processed) continue;
    const key = `${topic} ${entryId}`;
    tally.sentOne(key, topic, event, at);
    const early = tally.firstResults.get(key);
    if (early) printResult(out, o.json, early.result, event, topic, early.entryId, early.at - at);
  }
}

async function appendMany(
  conns: DemoConnections,
  publisher: StreamPublisher,
  o: DurableDemoOptions,
  out: Printer,
  tally: Tally,
  stop: AbortSignal,
): Promise<void> {
  const count = o.count!;
  const events = new Map<number, { topic: string; event: CreatedEvent }>();
  const flow = new MessageCounter();
  const started = performance.now();
  const make = (n: number) => {
    const topic = n % 4 === 0 ? TOPICS.profileEvents : TOPICS.keySubmission;
    const input = topic === TOPICS.profileEvents
      ? profileEvent("updated", n, { n })
      : keySubmittedEvent(`key-${n}`, "Demo");
    const event = publisher.prepare(topic, input);
    events.set(n, { topic, event });
    return { channel: topic, payload: JSON.stringify(event) };
  };
  const { published: appended } = await publishSeries(
    conns.commands.redis,
    count,
    make,
    { rate: o.rate },
    (p) => {
      const { topic, event } = events.get(p.n)!;
      events.delete(p.n);
      flow.record(topic);
      tally.sentOne(`${topic} ${p.entryId}`, topic, event, performance.now());
    },
    stop,
    { send: linkAppendSender(conns.commands) },
  );
  const seconds = (performance.now() - started) / 1000;
  if (o.json) {
    const rate = flowRate(flow.total, flow.flowingMs);
    out.event("appended", {
      appended,
      channels: Object.fromEntries(flow.byName),
      flowing_seconds: toSeconds(flow.flowingMs),
      ...(rate !== undefined ? { rate_per_second: rate } : {}),
    });
    return;
  }
  const split = [...flow.byName].map(([t, n]) => `${formatNumber(n)} to ${t}`).join(", ");
  out.line(`→ appended ${formatNumber(appended)} event(s) (${split}) in ${seconds.toFixed(1)} s`);
}

function finish(out: Printer, status: Reporter, o: DurableDemoOptions, t: Tally, stopped: boolean, ms: number): number {
  const dups = t.duplicates > 0
    ? `; ${formatNumber(t.duplicates)} duplicate(s) dropped (the same source entry processed again after a crash)`
    : "";
  if (o.json) {
    out.event("summary", {
      expected: t.expected,
      received: t.back,
      duplicates: t.duplicates,
      seconds: toSeconds(ms),
      stopped,
    });
  }
  if (stopped) {
    status.info(`Stopped: ${formatNumber(t.back)} of ${formatNumber(t.expected)} results back${dups}.`);
    return ExitCode.Ok;
  }
  if (t.back < t.expected) {
    throw new CliError(
      ExitCode.Timeout,
      `${formatNumber(t.expected - t.back)} of ${formatNumber(t.expected)} result(s) did not come back within ` +
        `${o.timeoutMs / 1000} s. The events are kept in their streams and are processed when a processor ` +
        `runs. ${PROCESSOR_HINT}`,
    );
  }
  if (!o.json) {
    const what = o.count === undefined ? "Round trip complete" : "All back";
    out.line(`${out.green("✓")} ${what}: ${formatNumber(t.back)} of ${formatNumber(t.expected)} results back${dups}.`);
  }
  return ExitCode.Ok;
}

function printResult(
  out: Printer,
  json: boolean,
  result: EventEnvelope,
  original: CreatedEvent,
  topic: string,
  resultId: string,
  ms: number,
): void {
  if (json) {
    out.event("result", { round_trip_ms: roundMs(ms), result_entry_id: resultId, result });
    return;
  }
  out.line(
    `← ${out.bold(result.event_type)} for ${escapeControl(original.event_type)} ${original.id.slice(0, 8)} ` +
      `(${topic} ${result.source_entry_id}) on ${out.cyan(TOPICS.processingResults)} as ${resultId} ` +
      `after ${ms.toFixed(1)} ms:`,
  );
  for (const line of JSON.stringify(result, null, 2).split("\n")) out.line(`    ${line}`);
}
