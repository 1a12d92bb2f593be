/**
 * `deno task bench goals`: scripts/bench.ts measured against what it should
 * reach (issue 24), each goal next to its baseline in the same run, against
 * one throw-away server (the lab table's: room in the output buffer for a
 * subscriber that falls behind), three runs, the median and range of the
 * per-run ratios:
 * - `bench.ts --pub 1 --sub 1 --msgs 1000000`, delivered: ≥ ×0.8 of
 *   `redis-benchmark -P 64 publish` (a redis-cli subscriber attached, as in
 *   the pub/sub table) — the ceiling;
 * - `bench.ts --pub 2 --sub 2 --msgs 1000000`, delivered in all: ≥ ×1.5 of it;
 * - `bench.ts --rate 1000 --duration 10s`, p50: ≤ ×1.2 of the two-process pair's
 *   (`publisher.ts --rate 1000` → `subscriber.ts --json`, as in the latency table);
 * - for reference, the two-process pair's throughput
 *   (`publisher.ts --repeat` → `subscriber.ts --quiet`) next to the same ceiling,
 *   and what bench.ts says of its own CPU and the server's;
 * - the clock: a pair of threads of one process exchanging timestamps
 *   (lib/bench/clock.ts), 20 times: the offset and the trip it is known within;
 * - workers or processes: how long a subscriber takes to be connected and
 *   subscribed in a worker of bench.ts and as a process of its own
 *   (`subscriber.ts`), 5 times each.
 *
 * @module
 */
import { BenchWorker } from "../../lib/bench/bench_worker.ts";
import { CLOCK_BYTES, pingClock } from "../../lib/bench/clock.ts";
import { Counters } from "../../lib/bench/worker_protocol.ts";
import { LocalServer } from "../../lib/core/local_server.ts";
import { ScriptProcess } from "../harness.ts";
import { median, onPath, printTable, type Row, runRatios } from "./bench_kit.ts";
import { ourPair, pairLatencies, redisBenchmark } from "./pubsub.ts";
import { percentile } from "../../lib/core/stats.ts";

const RUNS = 3;
const MESSAGES = 1_000_000;
const CLOCK_CHECKS = 20;
const STARTS = 5;

/** One bench.ts run's `--json` summary (the fields read here). */
interface Summary {
  delivered: number;
  delivered_rate: number;
  published: number;
  lost: number;
  duplicates: number;
  reordered: number;
  latency_ms: { p50: number; p99: number };
  cpu: { bench_us_per_message: number; server_us_per_message: number; bench_cores: number; server_cores: number };
  clock_error_us: number | null;
}

/** Runs bench.ts with `--json` and gives its summary. */
async function bench(url: string, args: string[]): Promise<Summary> {
  await using run = new ScriptProcess("bench.ts", ["--url", url, ...args, "--json"]);
  const code = await run.exit(180_000);
  if (code !== 0) throw new Error(`bench.ts ${args.join(" ")} exited with ${code}: ${run.err.text}`);
  return JSON.parse(run.out.text.trim().split("\n").at(-1)!);
}

/** The clock check between this thread and one worker, `CLOCK_CHECKS` times. */
async function clockChecks(): Promise<{ offsetUs: number; tripUs: number }[]> {
  const checks = [];
  for (let i = 0; i < CLOCK_CHECKS; i++) {
    const worker = new Worker(new URL("./clock_worker.ts", import.meta.url).href, { type: "module" });
    const shared = new SharedArrayBuffer(CLOCK_BYTES);
    const ready = new Promise((resolve) => (worker.onmessage = resolve));
    worker.postMessage(shared);
    await ready;
    const check = pingClock(shared);
    worker.terminate();
    if (check) checks.push(check);
  }
  return checks;
}

/** ms until a subscriber is connected and subscribed: in a bench.ts worker, and as a `subscriber.ts` process. */
async function readyTimes(url: string): Promise<{ worker: number[]; process: number[] }> {
  const worker: number[] = [], process: number[] = [];
  const names = ["bench:goals:ready"];
  for (let i = 0; i < STARTS; i++) {
    const began = performance.now();
    const w = new BenchWorker("subscriber worker", {
      type: "init",
      role: "subscribers",
      shape: { mode: "pubsub", names, pattern: "bench:goals:*", size: 64, rate: 0, publishers: 1, channels: 1 },
      counters: new SharedArrayBuffer(Counters.bytes(1, 1)),
      clock: new SharedArrayBuffer(CLOCK_BYTES),
      members: [{ index: 0, legs: [{ url, node: url, clusterNode: false, names }] }],
    }, { log: () => {}, dropped: () => {}, died: () => {} });
    await w.next("ready");
    worker.push(performance.now() - began);
    w.post({ type: "finish" });
    await w.next("closed");
    w.terminate();
    const started = performance.now();
    await using sub = new ScriptProcess("subscriber.ts", ["--url", url, names[0]!, "--json"]);
    await sub.out.waitFor(/"event":"subscribe"/, 20_000);
    process.push(performance.now() - started);
    sub.kill("SIGTERM");
    await sub.exit();
  }
  return { worker, process };
}

/** Prints the goals table. */
export async function run(): Promise<void> {
  if (!(await onPath("redis-benchmark")) || !(await onPath("redis-cli"))) {
    throw new Error("The baseline needs redis-benchmark and redis-cli (Debian: apt-get install redis-tools)");
  }
  await using server = await LocalServer.start({ args: ["--client-output-buffer-limit", "pubsub 1gb 512mb 60"] });
  const ceiling: number[] = [], one: Summary[] = [], two: Summary[] = [], paced: Summary[] = [];
  const pairRate: number[] = [], pairP50: number[] = [];
  const msgs = ["--msgs", String(MESSAGES)];
  for (let r = 0; r < RUNS; r++) {
    ceiling.push(await redisBenchmark(server.port));
    one.push(await bench(server.url, ["--pub", "1", "--sub", "1", ...msgs]));
    two.push(await bench(server.url, ["--pub", "2", "--sub", "2", ...msgs]));
    pairRate.push((await ourPair(server.url, `bench:goals:pair:${r}`, MESSAGES)).subRate);
    pairP50.push(percentile(await pairLatencies(server.url, `bench:goals:latency:${r}`), 50));
    paced.push(await bench(server.url, ["--rate", "1000", "--duration", "10s"]));
    for (const [what, s] of [["1 → 1", one.at(-1)!], ["2 → 2", two.at(-1)!], ["paced", paced.at(-1)!]] as const) {
      if (s.lost || s.duplicates || s.reordered) {
        console.log(`  run ${r + 1}, ${what}: lost ${s.lost}, duplicates ${s.duplicates}, reordered ${s.reordered}`);
      }
    }
  }
  const row = (name: string, unit: string, values: number[], base: number[]): Row => ({
    name,
    value: median(values),
    unit,
    ...runRatios(values, base),
  });
  const title = `${MESSAGES.toLocaleString("en-US")} messages of 64 bytes on loopback (${server.kind}), ` +
    `median of ${RUNS} runs; ratio: median (range) of the per-run ratios`;
  printTable(`bench.ts next to redis-benchmark (the ceiling): ${title}`, [
    row("redis-benchmark -P 64 publish, redis-cli subscribed (baseline)", "msg/s", ceiling, ceiling),
    row("bench.ts --pub 1 --sub 1, delivered (goal ≥ ×0.8)", "msg/s", one.map((s) => s.delivered_rate), ceiling),
    row(
      "bench.ts --pub 2 --sub 2, delivered in all (goal ≥ ×1.5)",
      "msg/s",
      two.map((s) => s.delivered_rate),
      ceiling,
    ),
    row("publisher.ts --repeat → subscriber.ts --quiet, delivered", "msg/s", pairRate, ceiling),
  ]);
  printTable(`bench.ts --rate 1000 --duration 10s next to the two-process pair at the same pace: p50 one way`, [
    row("publisher.ts --rate 1000 → subscriber.ts, p50 (baseline)", "ms", pairP50, pairP50),
    row("bench.ts --rate 1000 --duration 10s, p50 (goal ≤ ×1.2)", "ms", paced.map((s) => s.latency_ms.p50), pairP50),
  ]);
  const us = (list: Summary[], f: (s: Summary) => number) => median(list.map(f));
  printTable(`who was busy in bench.ts, as it reports it (µs of CPU per message published, median of ${RUNS})`, [
    { name: "--pub 1 --sub 1: the server", value: us(one, (s) => s.cpu.server_us_per_message), unit: "µs" },
    { name: "--pub 1 --sub 1: bench.ts, every thread", value: us(one, (s) => s.cpu.bench_us_per_message), unit: "µs" },
    { name: "--pub 2 --sub 2: the server", value: us(two, (s) => s.cpu.server_us_per_message), unit: "µs" },
    { name: "--pub 2 --sub 2: bench.ts, every thread", value: us(two, (s) => s.cpu.bench_us_per_message), unit: "µs" },
  ]);
  const checks = await clockChecks();
  const offsets = checks.map((c) => Math.abs(c.offsetUs));
  const trips = checks.map((c) => c.tripUs);
  const tight = checks.filter((c) => c.tripUs < 5);
  printTable(`one clock across threads: ${checks.length} checks of a worker against this thread (lib/bench/clock.ts)`, [
    { name: "|offset|, median", value: median(offsets), unit: "µs" },
    { name: "|offset|, largest", value: Math.max(...offsets), unit: "µs" },
    { name: "trip of the best round, median (offset known to half of it)", value: median(trips), unit: "µs" },
    { name: "trip of the best round, largest", value: Math.max(...trips), unit: "µs" },
    { name: "checks whose best trip was under 5 µs", value: tight.length, unit: "" },
    {
      name: "…their largest |offset|",
      value: tight.length ? Math.max(...tight.map((c) => Math.abs(c.offsetUs))) : NaN,
      unit: "µs",
    },
    {
      name: "bench.ts's own clock_error_us (largest of a run), median of the runs above",
      value: median([...one, ...two, ...paced].map((s) => s.clock_error_us ?? NaN)),
      unit: "µs",
    },
  ]);
  const ready = await readyTimes(server.url);
  printTable(`a subscriber connected and subscribed: in a worker of bench.ts, or a process (median of ${STARTS})`, [
    { name: "subscriber.ts, a process of its own (baseline)", value: median(ready.process), unit: "ms" },
    { name: "a bench.ts worker (isolate, modules, clock check, connection)", value: median(ready.worker), unit: "ms" },
  ]);
}

if (import.meta.main) await run();
