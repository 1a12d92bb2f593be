/**
 * Lab 1 under load: `publisher.ts --repeat` → `subscriber.ts --quiet` on
 * loopback, next to `redis-benchmark -P 64 publish` with a `redis-cli`
 * subscriber attached, in the same run against the same server.
 *
 * @module
 */
import { LocalServer } from "../../lib/core/local_server.ts";
import { ScriptProcess } from "../harness.ts";
import { median, onPath, printTable, type Row, runCommand } from "./bench_kit.ts";

const MESSAGES = 200_000;
const RUNS = 3;

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

/** Runs the pub/sub benchmark and prints its table. */
export async function run(): Promise<void> {
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
