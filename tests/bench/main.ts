/**
 * `deno task bench [NAME...]`: runs the benchmarks (all, or those named)
 * against throw-away servers (and clusters) on loopback and prints each
 * one's table; `--help` lists them.
 *
 * @module
 */
const BENCHMARKS: Record<string, [about: string, load: () => Promise<{ run: () => Promise<void> }>]> = {
  pubsub: ["publisher.ts → subscriber.ts next to redis-benchmark; what receiving costs", () => import("./pubsub.ts")],
  goals: [
    "bench.ts next to redis-benchmark and the two-process pair (issue 24's goals); its clock across threads",
    () => import("./bench_goals.ts"),
  ],
  handshake: ["keyspace_writer ↔ keyspace_listener round trip next to PING", () => import("./handshake.ts")],
  event_processor: ["events handled next to a bare ioredis subscriber", () => import("./event_processor.ts")],
  kv_updater: ["updates persisted next to one awaited SET per message", () => import("./kv_updater.ts")],
  kv_chain: ["lab 4 at 100 updates/s: update → SSE client latency, commands per update", () => import("./kv_chain.ts")],
  streams: ["durable processing on streams next to plain XREADGROUP loops", () => import("./streams.ts")],
  sse_clients: ["api_server's SSE fan-out to many clients", () => import("./sse_clients.ts")],
  cluster: [
    "SPUBLISH/PUBLISH on local clusters of 3 and 6 masters next to one server; the broadcast's cost",
    () => import("./cluster.ts"),
  ],
  dashboard: ["the dashboard's own commands per second, idle and with processors", () => import("./dashboard.ts")],
  ops_metrics: ["what lib/ops's counters and histograms cost per message", () => import("./ops_metrics.ts")],
  recover: [
    "recoverable channels: publishing with history, subscribing with --recover, recovering 10,000 missed",
    () => import("./recover.ts"),
  ],
  dashboard_bytes: [
    "bytes one dashboard page gets per second with 10,000 channels",
    () => import("./dashboard_bytes.ts"),
  ],
};

if (Deno.args.includes("--help") || Deno.args.includes("-h")) {
  console.log(
    "deno task bench [NAME...]: runs the benchmarks named (default: all), each next to a baseline of the same run.\n",
  );
  const width = Math.max(...Object.keys(BENCHMARKS).map((n) => n.length));
  for (const [name, [about]] of Object.entries(BENCHMARKS)) console.log(`  ${name.padEnd(width)}  ${about}`);
  Deno.exit(0);
}
const names = Deno.args.length ? Deno.args : Object.keys(BENCHMARKS);
const unknown = names.filter((n) => !(n in BENCHMARKS));
if (unknown.length) {
  console.error(`Unknown benchmark "${unknown[0]}"; choose from: ${Object.keys(BENCHMARKS).join(", ")}`);
  Deno.exit(2);
}
for (const name of names) await (await BENCHMARKS[name]![1]()).run();
