/**
 * What lib/ops's metrics cost the hot path:
 * - nanoseconds per operation of a bounded counter increment and a
 *   histogram observation, next to what subscriber.ts already does per
 *   message (MessageCounter.record) and a bare increment;
 * - CPU time per message of one subscriber flooded by `redis-benchmark -P 64
 *   publish` (tests/bench/receiver.ts): lib/pubsub's path as subscriber.ts
 *   runs it, then with the received and handled counters, then with a
 *   handler-latency histogram too; ratios per run, the runs interleaved.
 *
 * @module
 */
import { MessageCounter } from "../../lib/core/stats.ts";
import { LocalServer } from "../../lib/core/local_server.ts";
import { OpsRegistry } from "../../lib/ops/registry.ts";
import { ServiceMetrics } from "../../lib/ops/service_metrics.ts";
import { median, onPath, printTable, type Row, runRatios } from "./bench_kit.ts";
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

/** Runs both tables. */
export async function run(): Promise<void> {
  microTable();
  await floodTable();
}
