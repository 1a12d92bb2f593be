/**
 * What lib/ops's metrics cost the hot path:
 * - nanoseconds per operation of a bounded counter increment and a
 *   histogram observation, next to what subscriber.ts already does per
 *   message (MessageCounter.record) and a bare increment;
 * - CPU time per message of one subscriber flooded by `redis-benchmark -P 64
 *   publish` (tests/bench/receiver.ts): lib/pubsub's path as subscriber.ts
 *   runs it, then with the received and handled counters, then with a
 *   handler-latency histogram too; ratios per run, the runs interleaved;
 * - the real scripts, subscriber.ts and event_processor.ts (both `--quiet`),
 *   each flooded alike without and with `--metrics-port`: their CPU time per
 *   message from /proc, the runs interleaved.
 *
 * @module
 */
import { MessageCounter } from "../../lib/core/stats.ts";
import { LocalServer } from "../../lib/core/local_server.ts";
import { OpsRegistry } from "../../lib/ops/registry.ts";
import { ServiceMetrics } from "../../lib/ops/service_metrics.ts";
import { delay } from "../../lib/core/timing.ts";
import { ScriptProcess } from "../harness.ts";
import { median, onPath, printTable, processCpuMs, type Row, runCommand, runRatios } from "./bench_kit.ts";
import { EVENT } from "./event_processor.ts";
import { flooded, type Received, receiver } from "./pubsub.ts";

const OPS = 5_000_000;
const RUNS = 5;

/** Nanoseconds per call of `op`, median of 5 rounds of {@linkcode OPS} calls after a warm-up. */
function nsPerOp(op: (i: number) => void): number {
  for (let i = 0; i < 200_000; i++) op(i);
  const rounds: number[] = [];
  for (let r = 0; r < 5; r++) {
    const start = performance.now();
    for (let i = 0; i < OPS; i++) op(i);
    rounds.push(((performance.now() - start) * 1e6) / OPS);
  }
  return median(rounds);
}

function microTable(): void {
  const metrics = new ServiceMetrics(new OpsRegistry());
  const counter = new MessageCounter();
  const channels = ["news", "sports", "weather"];
  let n = 0;
  const bare = nsPerOp(() => void n++);
  const rows: Row[] = [
    { name: "n++ (baseline)", value: bare, unit: "ns/op" },
    {
      name: "MessageCounter.record(channel): subscriber.ts's count",
      value: nsPerOp((i) => counter.record(channels[i % 3]!, 0)),
      unit: "ns/op",
    },
    {
      name: "metrics.received.inc(channel): bounded counter",
      value: nsPerOp((i) => metrics.received.inc(channels[i % 3]!)),
      unit: "ns/op",
    },
    {
      name: "metrics.handlerSeconds.observe(channel, s): histogram, 14 buckets",
      value: nsPerOp((i) => metrics.handlerSeconds.observe(channels[i % 3]!, (i % 1000) / 1e6)),
      unit: "ns/op",
    },
  ];
  printTable(
    `lib/ops per operation, ${OPS.toLocaleString("en-US")} calls, median of 5 rounds (3 channels in turn)`,
    rows,
  );
  if (n === 0) console.log(n);
}

async function floodTable(): Promise<void> {
  if (!(await onPath("redis-benchmark"))) {
    throw new Error("The flood needs redis-benchmark (apt-get install redis-tools)");
  }
  await using server = await LocalServer.start({ args: ["--client-output-buffer-limit", "pubsub 512mb 256mb 60"] });
  const kinds = [
    ["lib/pubsub onMessage → MessageCounter, RESP3 (subscriber.ts's path; baseline)", "lib-resp3"],
    ["the same + received and handled counters", "lib-resp3-counters"],
    ["the same + counters + a handler-latency histogram", "lib-resp3-histogram"],
  ] as const;
  const runs = kinds.map(() => [] as Received[]);
  for (let run = 0; run < RUNS; run++) {
    for (const [i, [, kind]] of kinds.entries()) {
      runs[i]!.push(await flooded(server, receiver(kind), `bench:ops:${run}:${i}`));
    }
  }
  const cpu = runs.map((r) => r.map((x) => x.cpu_us_per_message!));
  printTable(
    `CPU time per message received, one subscriber flooded by redis-benchmark -P 64 publish (${server.kind}), ` +
      `median of ${RUNS} interleaved runs; ratio: median (range) of the per-run ratios`,
    kinds.map(([name], i) => ({ name, value: median(cpu[i]!), unit: "µs/msg", ...runRatios(cpu[i]!, cpu[0]!) })),
  );
}

/** Messages each script is flooded with in the scripts' table: a CPU time of a second or more (read to 10 ms). */
const SCRIPT_FLOOD = { subscriber: 1_000_000, event_processor: 200_000 };

/** The process's CPU time once it has gone idle: sampled every 250 ms until it grows by under 15 ms (at most 60 s). */
async function cpuWhenIdle(pid: number): Promise<number> {
  let last = processCpuMs(pid)!;
  for (const limit = performance.now() + 60_000; performance.now() < limit;) {
    await delay(250);
    const now = processCpuMs(pid)!;
    if (now - last < 15) return now;
    last = now;
  }
  return last;
}

/**
 * One script flooded: started with `args`, ready once it prints its subscriptions, then `count` messages on
 * `channel` from redis-benchmark; CPU per message received, from its CPU time just before the flood to when it went
 * idle after it, and the messages its --json summary counts.
 */
async function floodScript(
  server: LocalServer,
  script: string,
  args: string[],
  flood: { channel: string; payload: string; count: number },
  received: (summary: Record<string, unknown>) => number,
): Promise<{ cpuUsPerMessage: number; messages: number }> {
  await using proc = new ScriptProcess(script, args);
  await proc.out.waitFor(/"event":"subscribe"/, 20_000);
  await delay(500); // its start-up's compilation and first timers over
  const before = await cpuWhenIdle(proc.pid);
  await runCommand("redis-benchmark", [
    ...["-p", String(server.port), "-P", "64", "-n", String(flood.count), "-q"],
    ...["publish", flood.channel, flood.payload],
  ]);
  const after = await cpuWhenIdle(proc.pid);
  proc.kill("SIGINT");
  const code = await proc.exit(30_000);
  if (code !== 0) throw new Error(`${script} exited with ${code}: ${proc.err.text}`);
  const line = proc.out.text.trim().split("\n").reverse().find((l) => l.includes('"event":"summary"'))!;
  const messages = received(JSON.parse(line));
  return { cpuUsPerMessage: ((after - before) * 1000) / messages, messages };
}

/** The scripts' table alone: `deno eval 'await (await import("./tests/bench/ops_metrics.ts")).scriptsTable()'`. */
export async function scriptsTable(): Promise<void> {
  await using server = await LocalServer.start({ args: ["--client-output-buffer-limit", "pubsub 512mb 256mb 60"] });
  const ops = ["--metrics-port", "0"];
  const subscriber = (extra: string[]) => (run: number) =>
    floodScript(
      server,
      "subscriber.ts",
      ["--url", server.url, `bench:ops:sub:${run}`, "--quiet", "--json", ...extra],
      { channel: `bench:ops:sub:${run}`, payload: "hello world 0123", count: SCRIPT_FLOOD.subscriber },
      (s) => Number(s.messages),
    );
  const processor = (extra: string[]) => (_run: number) =>
    floodScript(
      server,
      "event_processor.ts",
      ["--url", server.url, "--quiet", "--json", "--publish-stats", "0", "--stats-interval", "0", ...extra],
      { channel: "key_submission", payload: EVENT, count: SCRIPT_FLOOD.event_processor },
      (s) => (s.topics as { topic: string; received: number }[]).find((t) => t.topic === "key_submission")!.received,
    );
  const kinds = [
    ["subscriber.ts --quiet (baseline)", subscriber([]), SCRIPT_FLOOD.subscriber],
    ["subscriber.ts --quiet --metrics-port 0", subscriber(ops), SCRIPT_FLOOD.subscriber],
    ["event_processor.ts --quiet (baseline)", processor([]), SCRIPT_FLOOD.event_processor],
    ["event_processor.ts --quiet --metrics-port 0", processor(ops), SCRIPT_FLOOD.event_processor],
  ] as const;
  const cpu = kinds.map(() => [] as number[]);
  const lost: string[] = [];
  for (let run = 0; run < RUNS; run++) {
    for (const [i, [name, flood, count]] of kinds.entries()) {
      const { cpuUsPerMessage, messages } = await flood(run);
      if (messages < count) lost.push(`${name}, run ${run + 1}: received ${messages} of ${count}`);
      cpu[i]!.push(cpuUsPerMessage);
    }
  }
  printTable(
    `The scripts' CPU time per message received (/proc, from just before the flood to idle after it), flooded by ` +
      `redis-benchmark -P 64 (subscriber.ts ${SCRIPT_FLOOD.subscriber.toLocaleString("en-US")} messages, ` +
      `event_processor.ts ${
        SCRIPT_FLOOD.event_processor.toLocaleString("en-US")
      } events; ${server.kind}), without and ` +
      `with --metrics-port; median of ${RUNS} interleaved runs; ratio: median (range) of the per-run ratios to the ` +
      `script without it`,
    kinds.map(([name], i) => ({
      name,
      value: median(cpu[i]!),
      unit: "µs/msg",
      ...runRatios(cpu[i]!, cpu[i - (i % 2)]!),
    })),
  );
  for (const line of lost) console.log(`  ${line}`);
}

/** Runs the three tables. */
export async function run(): Promise<void> {
  microTable();
  await floodTable();
  await scriptsTable();
}
