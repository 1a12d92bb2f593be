/**
 * Lab 1 under load:
 * - `publisher.ts --repeat` → `subscriber.ts --quiet` on loopback, next to
 *   `redis-benchmark -P 64 publish` with a `redis-cli` subscriber attached
 *   and next to a plain ioredis pair (a pipelined ioredis publisher → a bare
 *   ioredis subscriber), in the same run against the same server;
 * - one-way latency at 1,000 msg/s (`publisher.ts --rate 1000 '{{ts}}'` →
 *   `subscriber.ts --json`, whose `time` is to the microsecond) next to an
 *   ioredis PING round trip of the same run;
 * - the RSS of `subscriber.ts --quiet` over 2,000,000 messages, sampled from
 *   /proc/PID/status;
 * - what receiving costs, in two tables (receive rate, and CPU time per
 *   message, which drifts less on a shared machine): one subscriber process
 *   at a time flooded by `redis-benchmark -P 64 publish` (which publishes
 *   faster than any of them receives, so each figure is the subscriber's
 *   own, first message to last), next to a bare ioredis 6.0.0 subscriber
 *   counting `message` events in the same run: the same on RESP2, ioredis
 *   5.11.1, lib/pubsub's path on RESP3 and RESP2, the same read ahead of
 *   ioredis's decoder, and `subscriber.ts --quiet` itself (rate only); then
 *   the read-ahead next to ioredis's decoder on its own;
 * - the publish side alone: publishSeries through a PublishLane next to
 *   ioredis's pipeline (the public path), one redis-cli subscribed.
 *
 * @module
 */
import { Redis } from "ioredis";
import { LocalServer } from "../../lib/core/local_server.ts";
import { percentile } from "../../lib/core/stats.ts";
import { waitUntil } from "../../lib/core/timing.ts";
import { ScriptProcess } from "../harness.ts";
import { median, onPath, printTable, type Row, runCommand, runRatios, sampleRss } from "./bench_kit.ts";

const MESSAGES = 1_000_000;
const LATENCY_MESSAGES = 3000;
const RSS_MESSAGES = 2_000_000;
const RUNS = 3;
const FLOOD = 500_000;
const FLOOD_PAYLOAD = "hello world 0123";

/** A subscriber for the receive tables: the script to run (ScriptProcess paths are relative to scripts/) and its args. */
export type Receiver = (url: string, channel: string) => [script: string, args: string[]];

/** A tests/bench/receiver.ts of one kind, for the receive tables. */
export const receiver = (kind: string): Receiver => (url, channel) => [
  "../tests/bench/receiver.ts",
  [kind, url, channel, String(FLOOD)],
];

const RECEIVERS: [string, Receiver][] = [
  ["ioredis 6.0.0, bare `message` counter, RESP3 (its default; baseline)", receiver("ioredis6-resp3")],
  ["ioredis 6.0.0, bare `message` counter, `protocol: 2`", receiver("ioredis6-resp2")],
  ["ioredis 5.11.1, bare `message` counter (RESP2)", receiver("ioredis5")],
  ["lib/pubsub onMessage → MessageCounter, RESP3", receiver("lib-resp3")],
  ["lib/pubsub onMessage → MessageCounter, RESP2", receiver("lib-resp2")],
  ["lib/pubsub onMessage → MessageCounter, RESP3, read ahead of ioredis's decoder", receiver("lib-resp3-ahead")],
  ["subscriber.ts --quiet (RESP3, the scripts' protocol)", (url, channel) => [
    "subscriber.ts",
    ["--url", url, channel, "--quiet", "--json", "--count", String(FLOOD), "--timeout", "10s"],
  ]],
];

/** `redis-benchmark -P 64 -n 1,000,000 publish` with a `redis-cli` subscriber attached: the ceiling, msg/s. */
export async function redisBenchmark(port: number): Promise<number> {
  const subscriber = new Deno.Command("redis-cli", {
    args: ["-p", String(port), "subscribe", "bench:rb"],
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    const csv = await runCommand("redis-benchmark", [
      "-p",
      String(port),
      "-P",
      "64",
      "-n",
      String(MESSAGES),
      "--csv",
      "publish",
      "bench:rb",
      "hello world 0123",
    ]);
    const line = csv.trim().split("\n").at(-1)!;
    return Number(line.split(",")[1]!.replaceAll('"', ""));
  } finally {
    subscriber.kill("SIGTERM");
    await subscriber.status;
  }
}

/** The last line a script printed, as JSON. */
const lastJson = (text: string) => JSON.parse(text.trim().split("\n").at(-1)!);

/** The subscriber.ts arguments of the pairs. */
const subscriberArgs = (url: string, channel: string, count: number) => [
  ...["--url", url, channel, "--quiet", "--json", "--count", String(count), "--timeout", "10s"],
];

/** What a pair run measured. */
export interface PairRun {
  received: number;
  subRate: number;
  pubRate: number;
  rss?: number[];
}

/** publisher.ts --repeat → subscriber.ts --quiet; with `sampleMs`, the subscriber's RSS sampled that often. */
export async function ourPair(url: string, channel: string, count: number, sampleMs?: number): Promise<PairRun> {
  await using sub = new ScriptProcess("subscriber.ts", subscriberArgs(url, channel, count));
  await sub.out.waitFor(/"event":"subscribe"/, 20_000);
  const rss = sampleMs ? sampleRss(sub.pid, sampleMs) : undefined;
  await using pub = new ScriptProcess("publisher.ts", [
    ...["--url", url, channel, "msg {{n}} {{ts}}", "--repeat", String(count), "--quiet", "--json"],
  ]);
  await pub.exit(120_000);
  await sub.exit(120_000);
  rss?.stop();
  const summary = lastJson(sub.out.text);
  return {
    received: summary.messages,
    subRate: summary.rate_per_second,
    pubRate: lastJson(pub.out.text).rate_per_second,
    ...(rss ? { rss: rss.samples } : {}),
  };
}

/** The plain ioredis pair: a pipelined ioredis publisher → a bare ioredis subscriber counting `message` events. */
async function plainPair(url: string, channel: string): Promise<PairRun> {
  await using sub = new ScriptProcess("../tests/bench/receiver.ts", ["ioredis6-resp3", url, channel, String(MESSAGES)]);
  await sub.out.waitFor(/subscribed/, 20_000);
  await using pub = new ScriptProcess("../tests/bench/plain_publisher.ts", [url, channel, String(MESSAGES)]);
  await pub.exit(60_000);
  await sub.exit(60_000);
  const summary = lastJson(sub.out.text);
  return {
    received: summary.messages,
    subRate: summary.rate_per_second,
    pubRate: lastJson(pub.out.text).rate_per_second,
  };
}

/** Round trips of PING on one ioredis connection, one every millisecond (the pace of the messages below), in ms. */
async function pingTimes(url: string, count: number): Promise<number[]> {
  const redis = new Redis(url);
  try {
    await redis.ping();
    const times: number[] = [];
    const start = performance.now();
    for (let i = 0; i < count; i++) {
      await waitUntil(start + i);
      const t = performance.now();
      await redis.ping();
      times.push(performance.now() - t);
    }
    return times;
  } finally {
    redis.disconnect();
  }
}

/** Epoch ms (with the microseconds) of a `time` as subscriber.ts writes it for a message. */
function epochMicros(time: string): number {
  return Date.parse(`${time.slice(0, 23)}Z`) + Number(time.slice(23, 26).padEnd(3, "0")) / 1000;
}

/** One-way latencies (ms) of publisher.ts --rate 1000 → subscriber.ts --json: `time` of each message minus its `{{ts}}`. */
export async function pairLatencies(url: string, channel: string): Promise<number[]> {
  await using sub = new ScriptProcess("subscriber.ts", [
    ...["--url", url, channel, "--json", "--count", String(LATENCY_MESSAGES), "--timeout", "10s"],
  ]);
  await sub.out.waitFor(/"event":"subscribe"/, 20_000);
  await using pub = new ScriptProcess("publisher.ts", [
    ...["--url", url, channel, "{{ts}}", "--repeat", String(LATENCY_MESSAGES), "--rate", "1000", "--quiet"],
  ]);
  await pub.exit(60_000);
  await sub.exit(60_000);
  const messages = sub.out.text.trim().split("\n").map((l) => JSON.parse(l)).filter((e) => e.event === "message");
  // The first messages pay for warming up (JIT, buffers): a tenth is left out.
  return messages.slice(Math.floor(messages.length / 10)).map((m) => epochMicros(m.time) - Number(m.payload));
}

/** One-way latencies (ms) of a pair of tests/bench/latency_pair.ts at the same pace, the first tenth left out. */
async function floorLatencies(kind: "bare" | "ioredis", url: string, channel: string): Promise<number[]> {
  const args = [url, channel, String(LATENCY_MESSAGES)];
  await using reader = new ScriptProcess("../tests/bench/latency_pair.ts", [kind, "reader", ...args]);
  await reader.out.waitFor(/subscribed/, 20_000);
  await using writer = new ScriptProcess("../tests/bench/latency_pair.ts", [kind, "writer", ...args]);
  await writer.exit(60_000);
  await reader.exit(60_000);
  const latencies: number[] = JSON.parse(reader.out.text.trim().split("\n").at(-1)!);
  return latencies.slice(Math.floor(latencies.length / 10));
}

/** The 50th and 99th percentile of some times. */
const p50p99 = (values: number[]) => [percentile(values, 50), percentile(values, 99)] as const;

/** The pairs' throughput, latency and memory tables (`deno eval` can run them alone). */
export async function labTable(): Promise<void> {
  if (!(await onPath("redis-benchmark")) || !(await onPath("redis-cli"))) {
    throw new Error("The baseline needs redis-benchmark and redis-cli (Debian: apt-get install redis-tools)");
  }
  // Room in the server's buffer for a subscriber that falls behind while the publisher runs ahead.
  await using server = await LocalServer.start({ args: ["--client-output-buffer-limit", "pubsub 1gb 512mb 60"] });
  const baseline: number[] = [];
  const plain: PairRun[] = [];
  const ours: PairRun[] = [];
  const ping: (readonly [number, number])[] = [];
  const latency: (readonly [number, number])[] = [];
  const bare: (readonly [number, number])[] = [];
  const plainLatency: (readonly [number, number])[] = [];
  for (let run = 0; run < RUNS; run++) {
    baseline.push(await redisBenchmark(server.port));
    plain.push(await plainPair(server.url, `bench:plain:${run}`));
    ours.push(await ourPair(server.url, `bench:lab:${run}`, MESSAGES));
    ping.push(p50p99(await pingTimes(server.url, LATENCY_MESSAGES)));
    latency.push(p50p99(await pairLatencies(server.url, `bench:latency:${run}`)));
    bare.push(p50p99(await floorLatencies("bare", server.url, `bench:bare:${run}`)));
    plainLatency.push(p50p99(await floorLatencies("ioredis", server.url, `bench:plain_latency:${run}`)));
    for (const [who, r] of [["plain pair", plain.at(-1)!], ["our pair", ours.at(-1)!]] as const) {
      if (r.received !== MESSAGES) console.log(`  run ${run + 1}, ${who}: received ${r.received} of ${MESSAGES}`);
    }
  }
  const rate = (name: string, values: number[], base: number[]): Row => ({
    name,
    value: median(values),
    unit: "msg/s",
    ...runRatios(values, base),
  });
  const title = `${MESSAGES.toLocaleString("en-US")} messages on loopback (${server.kind}), median of ${RUNS} runs; ` +
    `ratio: median (range) of the per-run ratios`;
  const delivered = ours.map((r) => r.subRate);
  printTable(`pub/sub throughput next to redis-benchmark: ${title}`, [
    rate("redis-benchmark -P 64 publish (redis-cli subscribed; baseline)", baseline, baseline),
    rate("publisher.ts --repeat → subscriber.ts --quiet (delivered; goal ≥ ×0.5)", delivered, baseline),
    rate("publisher.ts --repeat (publish side alone)", ours.map((r) => r.pubRate), baseline),
    rate(
      "plain ioredis pair: pipelined publisher → bare subscriber (delivered)",
      plain.map((r) => r.subRate),
      baseline,
    ),
    rate("plain ioredis pair: its publisher alone", plain.map((r) => r.pubRate), baseline),
  ]);
  const plainRates = plain.map((r) => r.subRate);
  printTable(`pub/sub throughput next to a plain ioredis pair: ${title}`, [
    rate("plain ioredis pair (delivered; baseline)", plainRates, plainRates),
    rate("publisher.ts --repeat → subscriber.ts --quiet (delivered)", delivered, plainRates),
  ]);
  const ms = (name: string, values: number[], base: number[]): Row => ({
    name,
    value: median(values),
    unit: "ms",
    ...runRatios(values, base),
  });
  const pingP50 = ping.map(([p]) => p);
  const pingP99 = ping.map(([, p]) => p);
  printTable(
    `one-way latency at 1,000 msg/s, publisher.ts --rate 1000 '{{ts}}' → subscriber.ts --json (\`time\` − {{ts}}, ` +
      `µs clocks, one machine), ${LATENCY_MESSAGES.toLocaleString("en-US")} messages, the first tenth left out, ` +
      `next to ioredis PING round trips (1 ms apart), median of ${RUNS} runs`,
    [
      ms("ioredis PING round trip, p50 (baseline of p50)", pingP50, pingP50),
      ms("publisher.ts → subscriber.ts, p50 (goal ≤ ×1)", latency.map(([p]) => p), pingP50),
      ms("plain ioredis publisher → subscriber, same pace, p50", plainLatency.map(([p]) => p), pingP50),
      ms("two bare Deno sockets, same pace, p50 (the floor)", bare.map(([p]) => p), pingP50),
      ms("ioredis PING round trip, p99 (baseline of p99)", pingP99, pingP99),
      ms("publisher.ts → subscriber.ts, p99 (goal ≤ ×3 of PING p99)", latency.map(([, p]) => p), pingP99),
      ms("plain ioredis publisher → subscriber, same pace, p99", plainLatency.map(([, p]) => p), pingP99),
      ms("two bare Deno sockets, same pace, p99", bare.map(([, p]) => p), pingP99),
    ],
  );
  await rssTable(server.url);
}

/** The subscriber's resident memory over {@linkcode RSS_MESSAGES} messages from publisher.ts. */
async function rssTable(url: string): Promise<void> {
  const run = await ourPair(url, "bench:rss", RSS_MESSAGES, 100);
  const samples = run.rss ?? [];
  // Warm-up: the first quarter of the samples (the JIT, ioredis's buffers, the first GCs).
  const settled = samples.slice(Math.floor(samples.length / 4));
  if (settled.length < 3) {
    console.log(`\nRSS: too few samples (${samples.length}) to say anything`);
    return;
  }
  const mb = (b: number) => b / 2 ** 20;
  const mid = median(settled);
  printTable(
    `subscriber.ts --quiet RSS (VmRSS) over ${RSS_MESSAGES.toLocaleString("en-US")} messages from publisher.ts ` +
      `(${run.received.toLocaleString("en-US")} received, ${samples.length} samples 100 ms apart, the first quarter ` +
      `left out as warm-up; goal: min and max within ×0.90–1.10 of the median)`,
    [
      { name: "median after warm-up (baseline)", value: mb(mid), unit: "MiB" },
      { name: "lowest after warm-up", value: mb(Math.min(...settled)), unit: "MiB" },
      { name: "highest after warm-up", value: mb(Math.max(...settled)), unit: "MiB" },
      { name: "last sample", value: mb(settled.at(-1)!), unit: "MiB" },
      {
        name: "highest before warm-up ended",
        value: mb(Math.max(...samples.slice(0, samples.length / 4))),
        unit: "MiB",
      },
    ],
  );
}

/** What one flooded subscriber reported: its rate, and its CPU time per message when it measures that. */
export interface Received {
  messages: number;
  rate_per_second: number;
  cpu_us_per_message?: number;
}

/** Starts one subscriber, floods its channel once it has subscribed, and gives what it measured. */
export async function flooded(server: LocalServer, make: Receiver, channel: string): Promise<Received> {
  const [script, args] = make(server.url, channel);
  await using sub = new ScriptProcess(script, args);
  await sub.out.waitFor(/subscribe/, 20_000);
  await runCommand("redis-benchmark", [
    ...["-p", String(server.port), "-P", "64", "-n", String(FLOOD), "-q"],
    ...["publish", channel, FLOOD_PAYLOAD],
  ]);
  const code = await sub.exit(60_000);
  if (code !== 0) throw new Error(`${script} exited with ${code}: ${sub.err.text}`);
  return JSON.parse(sub.out.text.trim().split("\n").at(-1)!);
}

async function receiveTables(): Promise<void> {
  // Room for the whole flood in the server's buffer for the subscriber (the default hard limit is 32 MB).
  await using server = await LocalServer.start({ args: ["--client-output-buffer-limit", "pubsub 512mb 256mb 60"] });
  const runs = RECEIVERS.map(() => [] as Received[]);
  for (let run = 0; run < RUNS; run++) {
    for (const [i, [name, make]] of RECEIVERS.entries()) {
      const received = await flooded(server, make, `bench:flood:${run}:${i}`);
      if (received.messages < FLOOD) {
        console.log(`  run ${run + 1}, ${name}: received ${received.messages} of ${FLOOD}`);
      }
      runs[i]!.push(received);
    }
  }
  const flood = `redis-benchmark -P 64 -n ${FLOOD.toLocaleString("en-US")} publish of ${FLOOD_PAYLOAD.length}-byte ` +
    `messages to one subscriber process at a time (${server.kind}), median of ${RUNS} runs; ratio: median ` +
    `(range) of the per-run ratios to the baseline`;
  const table = (title: string, unit: string, figure: (r: Received) => number | undefined) => {
    const base = runs[0]!.map((r) => figure(r)!);
    const rows = RECEIVERS.flatMap(([name], i): Row[] => {
      const values = runs[i]!.map(figure);
      if (values.some((v) => v === undefined)) return [];
      return [{ name, value: median(values as number[]), unit, ...runRatios(values as number[], base) }];
    });
    printTable(`${title}: ${flood}`, rows);
  };
  table("receive rate", "msg/s", (r) => r.rate_per_second);
  table("CPU time per message received (the subscriber process's own)", "µs", (r) => r.cpu_us_per_message);
  // The read-ahead (a bypass of ioredis's decoder) next to the public path it replaces, from the same runs.
  const byName = (kind: string) => runs[RECEIVERS.findIndex(([name]) => name.includes(kind))]!;
  const [decoder, ahead] = [byName("MessageCounter, RESP3"), byName("read ahead")];
  const rows = (figure: (r: Received) => number, unit: string): Row[] => [
    { name: "ioredis's decoder (public path; baseline)", value: median(decoder.map(figure)), unit, ratio: 1 },
    {
      name: "read ahead of it (readPushesAhead)",
      value: median(ahead.map(figure)),
      unit,
      ...runRatios(ahead.map(figure), decoder.map(figure)),
    },
  ];
  printTable(`read-ahead vs ioredis's decoder, lib/pubsub onMessage on RESP3, receive rate: ${flood}`, [
    ...rows((r) => r.rate_per_second, "msg/s"),
  ]);
  printTable(`read-ahead vs ioredis's decoder, CPU time per message: ${flood}`, [
    ...rows((r) => r.cpu_us_per_message!, "µs"),
  ]);
}

/** The publish side alone: publishSeries through a PublishLane next to ioredis's pipeline, one redis-cli subscribed. */
export async function publishSideTable(): Promise<void> {
  // Room in the server's buffer for redis-cli, which may fall behind a publisher at full speed.
  await using server = await LocalServer.start({ args: ["--client-output-buffer-limit", "pubsub 1gb 512mb 60"] });
  const listener = new Deno.Command("redis-cli", {
    args: ["-p", String(server.port), "subscribe", "bench:side"],
    stdout: "null",
    stderr: "null",
  }).spawn();
  const rates: Record<"pipeline" | "lane", number[]> = { pipeline: [], lane: [] };
  try {
    for (let run = 0; run < RUNS; run++) {
      for (const kind of ["pipeline", "lane"] as const) {
        await using pub = new ScriptProcess("../tests/bench/series_publisher.ts", [
          ...[kind, server.url, "bench:side", String(MESSAGES)],
        ]);
        await pub.exit(120_000);
        rates[kind].push(lastJson(pub.out.text).rate_per_second);
      }
    }
  } finally {
    try {
      listener.kill("SIGTERM");
    } catch {
      // it has ended already
    }
    await listener.status;
  }
  printTable(
    `publish side: publishSeries at full speed (batches of 1,000, two in flight), ${
      MESSAGES.toLocaleString("en-US")
    } ` +
      `messages, one redis-cli subscribed (${server.kind}), median of ${RUNS} runs; ratio: median (range) of the ` +
      `per-run ratios`,
    [
      {
        name: "ioredis pipeline, publishSender (public path; baseline)",
        value: median(rates.pipeline),
        unit: "msg/s",
        ratio: 1,
      },
      {
        name: "PublishLane (PUBLISH encoded by hand, a socket of its own)",
        value: median(rates.lane),
        unit: "msg/s",
        ...runRatios(rates.lane, rates.pipeline),
      },
    ],
  );
}

/** Runs the pub/sub benchmark and prints its tables. */
export async function run(): Promise<void> {
  await labTable();
  await receiveTables();
  await publishSideTable();
}
