/**
 * Lab 5 under load: how many events per second the event library handles on
 * loopback, each next to a baseline doing the same with plain ioredis, in the
 * same run against the same server. `redis-benchmark -P 64` publishes faster
 * than the consumers consume, so each figure is the consumer's own rate
 * (first event to last).
 *
 * Two tables: a handler doing no work (EventSubscriber's decode, validation,
 * dispatch and statistics vs a bare subscriber that counts messages), and
 * the processor's real work (check the key, publish a result per event, at
 * the processor's default concurrency of 64) vs the same by hand with no
 * validation, no concurrency bound and no statistics. EventSubscriber's
 * messages are read as event_processor.ts reads them, cut out of the socket
 * ahead of ioredis (lib/wire/push_cutter.ts); the baselines use ioredis's
 * own `messageBuffer` events.
 *
 * @module
 */
import type { Redis } from "ioredis";
import { Connection } from "../../lib/core/client.ts";
import { EventPublisher } from "../../lib/events/publisher.ts";
import { processorHandlers } from "../../lib/events/processing.ts";
import { EventSubscriber } from "../../lib/events/subscriber.ts";
import { readPushesAhead } from "../../lib/core/ioredis_guard.ts";
import { LocalServer } from "../../lib/core/local_server.ts";
import { Reporter } from "../../lib/core/output.ts";
import { delay, withTimeout } from "../../lib/core/timing.ts";
import { ScriptProcess } from "../harness.ts";
import { median, onPath, printTable, type Row, rssBytes, runCommand, runRatios } from "./bench_kit.ts";

const EVENTS = 100_000;
const RUNS = 3;
/** One lab event as published, for the event benchmarks. */
export const EVENT = JSON.stringify({
  event_type: "key_submitted",
  timestamp: "2026-01-01T10:00:00.000Z",
  id: "0b7e0d4e-58c4-4a5e-9d55-6f1f0b0c3a11",
  source: "bench",
  key_value: "abc123",
  token_name: "Token1",
});

/** Sets up a consumer on `channel` that calls `tick` once per event handled; returns its teardown. */
export type Consumer = (redis: Redis, url: string, channel: string, tick: () => void) => Promise<() => Promise<void>>;

const plainIoredis: Consumer = async (redis, _url, channel, tick) => {
  redis.on("messageBuffer", tick);
  await redis.subscribe(channel);
  return async () => {
    redis.off("messageBuffer", tick);
    await redis.unsubscribe(channel);
  };
};

/** EventSubscriber with a handler doing nothing, its messages read as event_processor.ts reads them. */
export const noOpConsumer: Consumer = async (redis, _url, channel, tick) => {
  // As on event_processor.ts's SubscriberConnection: messages cut out of the socket ahead of ioredis.
  const readAhead = readPushesAhead(redis);
  const subscriber = new EventSubscriber(redis, { topics: { [channel]: tick } });
  await subscriber.start();
  return async () => {
    await subscriber.shutdown(5000);
    readAhead.stop();
  };
};

/** EventSubscriber with a handler doing nothing, its messages decoded by ioredis (the public path: no read-ahead). */
const noOpDecodedConsumer: Consumer = async (redis, _url, channel, tick) => {
  const subscriber = new EventSubscriber(redis, { topics: { [channel]: tick } });
  await subscriber.start();
  return async () => {
    await subscriber.shutdown(5000);
  };
};

/**
 * EventSubscriber with the processor's handlers, its messages read as event_processor.ts reads them (also the
 * pub/sub row of the streams benchmark).
 */
export const processorHandlersConsumer: Consumer = async (redis, url, _channel, tick) => {
  // As event_processor.ts opens it: results auto-pipelined, one write per burst of them.
  const pub = await Connection.open({
    url,
    reporter: new Reporter(Deno.stderr),
    offlineQueue: true,
    autoPipelining: true,
  });
  const readAhead = readPushesAhead(redis);
  const subscriber = new EventSubscriber(redis, {
    topics: processorHandlers(new EventPublisher(pub.redis, { source: "bench" }), tick),
  });
  await subscriber.start();
  return async () => {
    await subscriber.shutdown(5000);
    readAhead.stop();
    await pub.close();
  };
};

/** The same work by hand: parse each message, publish a result, no validation, no limits, no statistics. */
const plainParseAndPublish: Consumer = async (redis, url, channel, tick) => {
  const pub = await Connection.open({ url, reporter: new Reporter(Deno.stderr), offlineQueue: true });
  const onMessage = (_channel: Uint8Array, payload: Uint8Array) => {
    const event = JSON.parse(new TextDecoder().decode(payload));
    const result = { event_type: "key_processed", original_event: event, result: { length: event.key_value.length } };
    pub.redis.publish("processing_results", JSON.stringify(result)).then(tick);
  };
  redis.on("messageBuffer", onMessage);
  await redis.subscribe(channel);
  return async () => {
    redis.off("messageBuffer", onMessage);
    await redis.unsubscribe(channel);
    await pub.close();
  };
};

/**
 * Publishes EVENTS events on `channel` with redis-benchmark and measures how fast `consumer` handles them.
 *
 * @param server the server
 * @param channel where the events are published
 * @param consumer sets up the consumer
 * @returns events per second, first to last
 */
export async function measure(server: LocalServer, channel: string, consumer: Consumer): Promise<number> {
  const conn = await Connection.open({ url: server.url, reporter: new Reporter(Deno.stderr) });
  let received = 0;
  let first = 0;
  let last = 0;
  const done = Promise.withResolvers<void>();
  const tick = () => {
    if (received++ === 0) first = performance.now();
    if (received === EVENTS) {
      last = performance.now();
      done.resolve();
    }
  };
  const teardown = await consumer(conn.redis, server.url, channel, tick);
  try {
    await runCommand("redis-benchmark", [
      ...["-p", String(server.port), "-c", "4", "-P", "64", "-n", String(EVENTS), "-q"],
      ...["publish", channel, EVENT],
    ]);
    await withTimeout(done.promise, 30_000, () => new Error(`only ${received} of ${EVENTS} events arrived`));
    return ((EVENTS - 1) * 1000) / (last - first);
  } finally {
    await teardown();
    await conn.close();
  }
}

const FLOOD = 500_000;

/** One sample of the flooded processor: its RSS, and its last stats line's counts for the topic. */
interface FloodSample {
  rss: number;
  received: number;
  dropped: number;
}

/** The key_submission counts of the last `stats` (or `summary`) line printed, and whether nothing waits. */
function lastStats(text: string): { received: number; dropped: number; processed: number; idle: boolean } | undefined {
  const line = text.trimEnd().split("\n").at(-1);
  if (!line?.startsWith("{")) return undefined;
  const stats = JSON.parse(line);
  const topic = stats.topics?.find((t: { topic: string }) => t.topic === "key_submission");
  if (!topic) return undefined;
  const { received, dropped, processed } = topic;
  return { received, dropped, processed, idle: stats.in_flight === 0 && stats.queued === 0 };
}

/**
 * event_processor.ts (the script, its default queue of 100,000 and concurrency of 64) under a flood beyond what it
 * handles: FLOOD events from redis-benchmark -P 64; what it handled and dropped, whether it said so on stderr, and
 * its RSS every 100 ms while the flood lasted (from its first drop, the queue full, to the last event received;
 * the first quarter of those left out as warm-up).
 */
async function floodTable(server: LocalServer): Promise<void> {
  await using proc = new ScriptProcess("event_processor.ts", [
    ...["--url", server.url, "--quiet", "--json", "--stats-interval", "100ms", "--publish-stats", "0"],
  ]);
  await proc.err.waitFor(/Processing events on/, 20_000);
  const started = performance.now();
  const flood = runCommand("redis-benchmark", [
    ...["-p", String(server.port), "-P", "64", "-n", String(FLOOD), "-q"],
    ...["publish", "key_submission", EVENT],
  ]);
  const samples: FloodSample[] = [];
  // Bounded: until every event is received and handled or dropped (nothing queued or in flight), or 60 s.
  for (const limit = performance.now() + 60_000; performance.now() < limit;) {
    await delay(100);
    const stats = lastStats(proc.out.text);
    const rss = rssBytes(proc.pid);
    if (stats && rss !== undefined) samples.push({ rss, received: stats.received, dropped: stats.dropped });
    if (stats && stats.received >= FLOOD && stats.idle) break;
  }
  const seconds = (performance.now() - started) / 1000;
  const published = Number(/([\d.]+) requests per second/.exec(await flood)?.[1]);
  proc.kill("SIGINT");
  await proc.exit(20_000);
  const end = lastStats(proc.out.text)!;
  const notes = (proc.err.text.match(/Dropped .* more event\(s\)|dropped so far/g) ?? []).length;
  const flooded = samples.filter((x) => x.dropped > 0 && x.received < FLOOD).map((x) => x.rss);
  const during = flooded.slice(Math.floor(flooded.length / 4)); // the first quarter: warm-up, as for the subscriber
  const mb = (b: number) => b / 2 ** 20;
  const mid = during.length ? median(during) : NaN;
  printTable(
    `event_processor.ts flooded: ${FLOOD.toLocaleString("en-US")} events from redis-benchmark -P 64 ` +
      `(${server.kind}); ${end.dropped.toLocaleString("en-US")} dropped, said in ${notes} stderr line(s); RSS ` +
      `every 100 ms while flooded, from its first drop to the last event received (${flooded.length} samples, the ` +
      `first quarter left out as warm-up; goal: flat, ±10%)`,
    [
      { name: "published by redis-benchmark (baseline)", value: published, unit: "ev/s" },
      {
        name: "handled by event_processor.ts, from the flood's start to the last",
        value: end.processed / seconds,
        unit: "ev/s",
      },
      { name: "RSS while flooded: median (baseline of the rows below)", value: mb(mid), unit: "MiB", ratio: 1 },
      ...[["lowest", Math.min(...during)], ["highest", Math.max(...during)]].map(([what, bytes]) => ({
        name: `RSS while flooded: ${what}`,
        value: mb(bytes as number),
        unit: "MiB",
        ratio: (bytes as number) / mid,
      })),
      {
        name: "RSS at the end, everything handled",
        value: mb(samples.at(-1)?.rss ?? NaN),
        unit: "MiB",
        ratio: (samples.at(-1)?.rss ?? NaN) / mid,
      },
    ],
  );
}

/** Runs the event-processing benchmark and prints its table. */
export async function run(): Promise<void> {
  if (!(await onPath("redis-benchmark"))) {
    throw new Error("The benchmark needs redis-benchmark (Debian: apt-get install redis-tools)");
  }
  // Room for a whole burst in the server's buffer for a slow subscriber (the default hard limit is 32 MB).
  await using server = await LocalServer.start({ args: ["--client-output-buffer-limit", "pubsub 512mb 256mb 60"] });
  const tables: [string, [string, string, Consumer][]][] = [
    ["handler doing no work", [
      ["plain ioredis subscriber, counting (baseline)", "bench:events:plain", plainIoredis],
      ["EventSubscriber, handler doing no work (goal ≥ ×0.8)", "bench:events:noop", noOpConsumer],
      [
        "EventSubscriber, handler doing no work, ioredis's decoder (no read-ahead)",
        "bench:events:noop_decoded",
        noOpDecodedConsumer,
      ],
    ]],
    ["processing: a result published per event", [
      ["plain ioredis: parse, publish a result (baseline)", "bench:events:by_hand", plainParseAndPublish],
      [
        "EventSubscriber + event_processor's handlers (concurrency 64; goal ≥ ×0.9)",
        "key_submission",
        processorHandlersConsumer,
      ],
    ]],
  ];
  const cases = tables.flatMap(([, rows]) => rows);
  const rates = new Map(cases.map(([name]) => [name, [] as number[]]));
  for (let run = 0; run < RUNS; run++) {
    for (const [name, channel, consumer] of cases) rates.get(name)!.push(await measure(server, channel, consumer));
  }
  for (const [title, rows] of tables) {
    printTable(
      `events handled on loopback (${server.kind}), ${title}: ${EVENTS.toLocaleString("en-US")} events ` +
        `of ${EVENT.length} bytes, median of ${RUNS} runs (ratio: median and range of the runs')`,
      // Each row's ratio is the median (and range) of its per-run ratios to the baseline of the same run.
      rows.map(([name]): Row => ({
        name,
        value: median(rates.get(name)!),
        unit: "ev/s",
        ...runRatios(rates.get(name)!, rates.get(rows[0]![0])!),
      })),
    );
  }
  await floodTable(server);
}

if (import.meta.main) await run();
