/**
 * Lab 1 under load:
 * - `publisher.ts --repeat` → `subscriber.ts --quiet` on loopback, next to
 *   `redis-benchmark -P 64 publish` with a `redis-cli` subscriber attached,
 *   in the same run against the same server;
 * - what receiving costs, in two tables (receive rate, and CPU time per
 *   message, which drifts less on a shared machine): one subscriber process
 *   at a time flooded by `redis-benchmark -P 64 publish` (which publishes
 *   faster than any of them receives, so each figure is the subscriber's
 *   own, first message to last), next to a bare ioredis 6.0.0 subscriber
 *   counting `message` events in the same run: the same on RESP2, ioredis
 *   5.11.1, lib/pubsub's path on RESP3 and RESP2, and `subscriber.ts --quiet`
 *   itself (rate only).
 *
 * @module
 */
import { LocalServer } from "../../lib/core/local_server.ts";
import { ScriptProcess } from "../harness.ts";
import { median, onPath, printTable, type Row, runCommand, runRatios } from "./bench_kit.ts";

const MESSAGES = 200_000;
const RUNS = 3;
const FLOOD = 500_000;
const FLOOD_PAYLOAD = "hello world 0123";

/** A subscriber for the receive tables: the script to run (ScriptProcess paths are relative to scripts/) and its args. */
type Receiver = (url: string, channel: string) => [script: string, args: string[]];

const receiver = (kind: string): Receiver => (url, channel) => [
  "../tests/bench/receiver.ts",
  [kind, url, channel, String(FLOOD)],
];

const RECEIVERS: [string, Receiver][] = [
  ["ioredis 6.0.0, bare `message` counter, RESP3 (its default; baseline)", receiver("ioredis6-resp3")],
  ["ioredis 6.0.0, bare `message` counter, `protocol: 2`", receiver("ioredis6-resp2")],
  ["ioredis 5.11.1, bare `message` counter (RESP2)", receiver("ioredis5")],
  ["lib/pubsub onMessage → MessageCounter, RESP3", receiver("lib-resp3")],
  ["lib/pubsub onMessage → MessageCounter, RESP2", receiver("lib-resp2")],
  ["subscriber.ts --quiet (RESP3, the scripts' protocol)", (url, channel) => [
    "subscriber.ts",
    ["--url", url, channel, "--quiet", "--json", "--count", String(FLOOD), "--timeout", "10s"],
  ]],
];

async function redisBenchmark(port: number): Promise<number> {
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

async function ourPair(url: string, run: number): Promise<{ received: number; subRate: number; pubRate: number }> {
  const channel = `bench:lab:${run}`;
  await using sub = new ScriptProcess("subscriber.ts", [
    "--url",
    url,
    channel,
    "--quiet",
    "--json",
    "--count",
    String(MESSAGES),
    "--timeout",
    "10s",
  ]);
  await sub.out.waitFor(/"event":"subscribe"/, 20_000);
  await using pub = new ScriptProcess("publisher.ts", [
    "--url",
    url,
    channel,
    "msg {{n}} {{ts}}",
    "--repeat",
    String(MESSAGES),
    "--quiet",
    "--json",
  ]);
  await pub.exit(60_000);
  await sub.exit(60_000);
  const summary = JSON.parse(sub.out.text.trim().split("\n").at(-1)!);
  const published = JSON.parse(pub.out.text.trim().split("\n").at(-1)!);
  return { received: summary.messages, subRate: summary.rate_per_second, pubRate: published.rate_per_second };
}

/** What one flooded subscriber reported: its rate, and its CPU time per message when it measures that. */
interface Received {
  messages: number;
  rate_per_second: number;
  cpu_us_per_message?: number;
}

/** Starts one subscriber, floods its channel once it has subscribed, and gives what it measured. */
async function flooded(server: LocalServer, make: Receiver, channel: string): Promise<Received> {
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
}

async function labTable(): Promise<void> {
  if (!(await onPath("redis-benchmark")) || !(await onPath("redis-cli"))) {
    throw new Error("The baseline needs redis-benchmark and redis-cli (Debian: apt-get install redis-tools)");
  }
  await using server = await LocalServer.start();
  const baseline: number[] = [];
  const sustained: number[] = [];
  const publishing: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    baseline.push(await redisBenchmark(server.port));
    const ours = await ourPair(server.url, run);
    if (ours.received !== MESSAGES) console.log(`  run ${run + 1}: received ${ours.received} of ${MESSAGES}`);
    sustained.push(ours.subRate);
    publishing.push(ours.pubRate);
  }
  const rows: Row[] = [
    { name: "redis-benchmark -P 64 publish (redis-cli subscribed)", value: median(baseline), unit: "msg/s" },
    { name: "publisher.ts --repeat → subscriber.ts --quiet (delivered)", value: median(sustained), unit: "msg/s" },
    { name: "publisher.ts --repeat (publish side alone)", value: median(publishing), unit: "msg/s" },
  ];
  printTable(
    `pub/sub on loopback (${server.kind}): ${MESSAGES.toLocaleString("en-US")} messages, median of ${RUNS} runs`,
    rows,
  );
}

/** Runs the pub/sub benchmark and prints its tables. */
export async function run(): Promise<void> {
  await labTable();
  await receiveTables();
}
