/**
 * Lab 6 under load, each figure next to plain ioredis doing the same in the
 * same run against the same server. 100,000 key submissions are already in
 * the stream; each consumer reads them in a group from the start, in
 * batches of 100; the rate is first read to last event handled.
 *
 * - no work: StreamConsumer with a handler that does nothing vs a plain
 *   loop of XREADGROUP, the envelope check every consumer here makes
 *   (`decodeEvent`), and one XACK per batch.
 * - processing: StreamConsumer with `event_processor.ts --durable`'s
 *   handlers at its defaults (100 at a time, results pipelined, XACKs
 *   batched) vs the same work by hand — XREADGROUP, decode, the processor's
 *   step, every result's XADD and the batch's XACK in one pipeline — and the
 *   pub/sub processor (EventSubscriber + event_processor's handlers, fed by
 *   redis-benchmark) for comparison.
 * - appending: `publisher.ts --stream --repeat` vs a plain loop of pipelined
 *   XADDs (1000 per pipeline).
 *
 * @module
 */
import type { Redis } from "ioredis";
import { Connection } from "../../lib/core/client.ts";
import { LocalServer } from "../../lib/core/local_server.ts";
import { Reporter } from "../../lib/core/output.ts";
import { withTimeout } from "../../lib/core/timing.ts";
import { decodeEvent } from "../../lib/events/envelope.ts";
import { TOPICS } from "../../lib/events/kinds.ts";
import { PROCESSOR_STEPS } from "../../lib/events/processing.ts";
import { StreamConsumer } from "../../lib/events/stream_consumer.ts";
import { durableProcessorHandlers } from "../../lib/events/durable_processor.ts";
import { PAYLOAD_FIELD, toEntries } from "../../lib/streams/entry.ts";
import { StreamPublisher } from "../../lib/events/stream_publisher.ts";
import { ScriptProcess } from "../harness.ts";
import { median, onPath, printTable, type Row } from "./bench_kit.ts";
import { EVENT, measure as measurePubSub, processorHandlersConsumer } from "./event_processor.ts";

const EVENTS = 100_000;
const APPENDS = 200_000;
const RUNS = 3;
const BATCH = 100;

type Open = (autoPipelining?: boolean) => Promise<Connection>;

/** Fills `key_submission` with EVENTS copies of the event, with a new group at the start. */
async function fill(redis: Redis): Promise<void> {
  await redis.del(TOPICS.keySubmission, TOPICS.processingResults);
  for (let sent = 0; sent < EVENTS; sent += 1000) {
    const pipeline = redis.pipeline();
    for (let i = 0; i < 1000; i++) pipeline.xadd(TOPICS.keySubmission, "*", PAYLOAD_FIELD, EVENT);
    await pipeline.exec();
  }
  await redis.xgroup("CREATE", TOPICS.keySubmission, "bench", "0");
}

/**
 * The plain loop: read a batch, check each event, and — with `work` — the
 * processor's step and a result appended per event; the batch's XACK in the
 * same pipeline.
 */
async function plainLoop(open: Open, work: boolean): Promise<number> {
  const conn = await open();
  const results = new StreamPublisher(conn.redis, { source: "event_processor" });
  const step = PROCESSOR_STEPS[TOPICS.keySubmission]!;
  try {
    let done = 0;
    const start = performance.now();
    while (done < EVENTS) {
      const reply = (await conn.redis.xreadgroup(
        ...["GROUP", "bench", "plain", "COUNT", BATCH, "BLOCK", 1000, "STREAMS", TOPICS.keySubmission, ">"] as const,
      )) as [string, unknown][] | null;
      const entries = toEntries(reply?.[0]?.[1]);
      if (entries.length === 0) continue;
      const pipeline = conn.redis.pipeline();
      for (const e of entries) {
        const event = decodeEvent(e.fields![PAYLOAD_FIELD]!);
        if (!work) continue;
        const result = results.prepare(TOPICS.processingResults, {
          ...step(event),
          source_stream: TOPICS.keySubmission,
          source_entry_id: e.id,
        });
        pipeline.xadd(TOPICS.processingResults, "*", PAYLOAD_FIELD, JSON.stringify(result));
      }
      pipeline.xack(TOPICS.keySubmission, "bench", ...entries.map((e) => e.id));
      await pipeline.exec();
      done += entries.length;
    }
    return (EVENTS * 1000) / (performance.now() - start);
  } finally {
    await conn.close();
  }
}

/** A StreamConsumer at its defaults; with `work`, the durable processor's handlers on a pipelining connection, as it runs them. */
async function durable(open: Open, work: boolean): Promise<number> {
  const [reader, commands] = [await open(), await open(true)];
  let handled = 0;
  const all = Promise.withResolvers<void>();
  const tick = () => void (++handled === EVENTS && all.resolve());
  const results = new StreamPublisher(commands.redis, { source: "event_processor" });
  const consumer = new StreamConsumer(reader.redis, commands.redis, {
    group: "bench",
    consumer: "durable",
    streams: work ? durableProcessorHandlers(results, { onProcessed: tick }) : { [TOPICS.keySubmission]: tick },
  });
  try {
    const start = performance.now();
    await consumer.start();
    await withTimeout(all.promise, 60_000, () => new Error(`only ${handled} of ${EVENTS} events handled`));
    return (EVENTS * 1000) / (performance.now() - start);
  } finally {
    await consumer.shutdown(5000);
    await reader.close();
    await commands.close();
  }
}

/** `publisher.ts --stream --repeat`: its own rate, as it reports it. */
async function publisherAppend(url: string): Promise<number> {
  await using p = new ScriptProcess("publisher.ts", [
    ...["--url", url, "--stream", "bench:append", "msg {{n}} {{ts}}", "--repeat", String(APPENDS), "--quiet", "--json"],
  ]);
  await p.exit(120_000);
  return JSON.parse(p.out.text.trim().split("\n").at(-1)!).rate_per_second;
}

/** Plain ioredis: pipelines of 1000 XADDs, one after the other. */
async function plainAppend(open: Open): Promise<number> {
  const conn = await open();
  try {
    const start = performance.now();
    for (let n = 0; n < APPENDS; n += 1000) {
      const pipeline = conn.redis.pipeline();
      for (let i = 1; i <= 1000; i++) pipeline.xadd("bench:plain", "*", PAYLOAD_FIELD, `msg ${n + i} ${Date.now()}`);
      await pipeline.exec();
    }
    return (APPENDS * 1000) / (performance.now() - start);
  } finally {
    await conn.close();
  }
}

/** Runs the streams benchmark and prints its tables. */
export async function run(): Promise<void> {
  if (!(await onPath("redis-benchmark"))) {
    throw new Error("The benchmark needs redis-benchmark (Debian: apt-get install redis-tools)");
  }
  await using server = await LocalServer.start({ args: ["--client-output-buffer-limit", "pubsub 512mb 256mb 60"] });
  const open: Open = (autoPipelining = false) =>
    Connection.open({ url: server.url, reporter: new Reporter(Deno.stderr), offlineQueue: true, autoPipelining });
  const admin = await open();
  const rates = {
    plainNoWork: [] as number[],
    noWork: [] as number[],
    plain: [] as number[],
    durable: [] as number[],
    pubsub: [] as number[],
  };
  const appends = { plain: [] as number[], publisher: [] as number[] };
  try {
    for (let run = 0; run < RUNS; run++) {
      const cases: [number[], () => Promise<number>][] = [
        [rates.plainNoWork, () => plainLoop(open, false)],
        [rates.noWork, () => durable(open, false)],
        [rates.plain, () => plainLoop(open, true)],
        [rates.durable, () => durable(open, true)],
      ];
      for (const [rate, measure] of cases) {
        await fill(admin.redis);
        rate.push(await measure());
      }
      await admin.redis.del(TOPICS.keySubmission, TOPICS.processingResults);
      rates.pubsub.push(await measurePubSub(server, TOPICS.keySubmission, processorHandlersConsumer));
      await admin.redis.del("bench:plain", "bench:append");
      appends.plain.push(await plainAppend(open));
      appends.publisher.push(await publisherAppend(server.url));
    }
  } finally {
    await admin.redis.del(TOPICS.keySubmission, TOPICS.processingResults, "bench:plain", "bench:append");
    await admin.close();
  }
  const title = (what: string) =>
    `streams on loopback (${server.kind}), ${what}: ${EVENTS.toLocaleString("en-US")} key submissions in the ` +
    `stream, median of ${RUNS} runs`;
  printTable(
    title("handler doing no work"),
    [
      {
        name: "plain ioredis: XREADGROUP 100, decodeEvent, XACK (baseline)",
        value: median(rates.plainNoWork),
        unit: "ev/s",
      },
      { name: "StreamConsumer, handler doing no work", value: median(rates.noWork), unit: "ev/s" },
    ] satisfies Row[],
  );
  printTable(
    title("processing: a result appended per event"),
    [
      {
        name: "plain ioredis: XREADGROUP 100, same steps, results + XACK in one pipeline (baseline)",
        value: median(rates.plain),
        unit: "ev/s",
      },
      { name: "StreamConsumer + event_processor --durable's handlers", value: median(rates.durable), unit: "ev/s" },
      { name: "pub/sub: EventSubscriber + event_processor's handlers", value: median(rates.pubsub), unit: "ev/s" },
    ] satisfies Row[],
  );
  printTable(
    `appending on loopback (${server.kind}): ${APPENDS.toLocaleString("en-US")} messages, median of ${RUNS} runs`,
    [
      { name: "plain ioredis: pipelines of 1000 XADDs (baseline)", value: median(appends.plain), unit: "msg/s" },
      { name: "publisher.ts --stream --repeat", value: median(appends.publisher), unit: "msg/s" },
    ],
  );
}

if (import.meta.main) await run();
