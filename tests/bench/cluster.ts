/**
 * Pub/sub on a cluster, all in one run: a local cluster of 3 masters, one of
 * 6 and a single server (the same binary), the benchmark of bench.ts
 * (lib/bench, in this process) on each:
 * - delivered messages per second: PUBLISH → SUBSCRIBE on the single server
 *   (the baseline), PUBLISH → SUBSCRIBE and SPUBLISH → SSUBSCRIBE on each
 *   cluster;
 * - what the broadcast costs per message published, all nodes together: the
 *   servers' CPU time (INFO cpu), the cluster bus messages (`CLUSTER INFO`
 *   `cluster_stats_messages_publish_sent` and `…_publishshard_sent`) and the
 *   bytes the nodes sent on the bus (`bytes_sent` of every TCP connection to
 *   or from a node's bus port, from `ss -tin`; Linux only, skipped without
 *   `ss`);
 * - a linear model of that cost as masters grow, fitted on the 3-master
 *   figures and checked against the 6-master ones.
 *
 * @module
 */
import { LocalCluster } from "../../lib/cluster/local_cluster.ts";
import { LocalServer } from "../../lib/core/local_server.ts";
import { nullWriter, Reporter } from "../../lib/core/output.ts";
import { runBench } from "../../lib/bench/run.ts";
import { endpointFor } from "../../lib/endpoint/endpoint.ts";
import { withClient } from "../harness.ts";
import { median, onPath, printTable, type Row, runCommand, runRatios, serverCpuUs } from "./bench_kit.ts";

const RUNS = 3;
const MESSAGES = 60_000;
const PUBLISHERS = 3;
const SUBSCRIBERS = 2;
const CHANNELS = 3;
const SIZE = 64;
/** No run publishes for longer than this, whatever is left of its messages. */
const RUN_LIMIT_MS = 60_000;

/** A node's counters at one moment. */
interface NodeCounters {
  cpuUs: number;
  busPublish: number;
  busPort: number | undefined;
}

/** One configuration measured: its rate and per-message costs in each run. */
interface Series {
  name: string;
  urls: string[];
  cluster: boolean;
  masters: number;
  mode: "pubsub" | "sharded";
  rate: number[];
  cpuUs: number[];
  busMessages: number[];
  busBytes: number[];
  lost: number;
}

const field = (text: string, name: string): number =>
  Number(new RegExp(`^${name}:([\\d.]+)`, "m").exec(text)?.[1] ?? 0);

async function counters(url: string): Promise<NodeCounters> {
  return await withClient(url, async (redis) => {
    const cpuUs = await serverCpuUs(redis);
    const clusterInfo = String(await redis.cluster("INFO").catch(() => ""));
    const myself = String(await redis.cluster("NODES").catch(() => "")).split("\n").find((l) => l.includes("myself"));
    const busPort = /@(\d+)/.exec(myself ?? "")?.[1];
    return {
      cpuUs,
      busPublish: field(clusterInfo, "cluster_stats_messages_publish_sent") +
        field(clusterInfo, "cluster_stats_messages_publishshard_sent"),
      busPort: busPort === undefined ? undefined : Number(busPort),
    };
  });
}

/** Bytes sent so far on every established TCP connection to or from one of `ports` (`ss -tin`), or NaN. */
async function busBytesSent(ports: number[]): Promise<number> {
  if (ports.length === 0 || !(await onPath("ss"))) return Number.NaN;
  const text = await runCommand("ss", ["-tinH", "state", "established"], 10_000).catch(() => "");
  const wanted = new Set(ports.map(String));
  let total = 0, take = false;
  for (const line of text.split("\n")) {
    if (!/^\s/.test(line)) {
      const ends = line.trim().split(/\s+/).slice(-2).map((a) => a.slice(a.lastIndexOf(":") + 1));
      take = ends.some((p) => wanted.has(p));
    } else if (take) total += Number(/bytes_sent:(\d+)/.exec(line)?.[1] ?? 0);
  }
  return total;
}

async function measure(s: Series, reporter: Reporter): Promise<void> {
  const before = await Promise.all(s.urls.map(counters));
  const ports = before.flatMap((c) => c.busPort ?? []);
  const bytesBefore = await busBytesSent(ports);
  const result = await runBench({
    endpoint: endpointFor(s.cluster ? { cluster: true, urls: [s.urls[0]!] } : { cluster: false, url: s.urls[0]! }),
    reporter,
    publishers: PUBLISHERS,
    subscribers: SUBSCRIBERS,
    messages: MESSAGES,
    durationMs: RUN_LIMIT_MS,
    size: SIZE,
    rate: 0,
    channels: CHANNELS,
    mode: s.mode,
    signal: new AbortController().signal,
  });
  const bytesAfter = await busBytesSent(ports);
  const after = await Promise.all(s.urls.map(counters));
  const published = result.published.reduce((a, b) => a + b, 0);
  const sum = (f: (c: NodeCounters) => number) =>
    after.reduce((n, c, i) => n + f(c) - f(before[i]!), 0) / Math.max(published, 1);
  s.rate.push(result.subscribers.reduce((n, r) => n + (r.flowingMs > 0 ? (r.received * 1000) / r.flowingMs : 0), 0));
  s.cpuUs.push(sum((c) => c.cpuUs));
  s.busMessages.push(sum((c) => c.busPublish));
  s.busBytes.push((bytesAfter - bytesBefore) / Math.max(published, 1));
  s.lost += result.subscribers.reduce((n, r) => n + r.lost + r.duplicates, 0);
}

function rows(series: Series[], figure: (s: Series) => number[], unit: string): Row[] {
  const base = figure(series[0]!);
  return series.map((s) => ({ name: s.name, value: median(figure(s)), unit, ...runRatios(figure(s), base) }));
}

/** Runs the cluster benchmark and prints its tables. */
export async function run(): Promise<void> {
  await using three = await LocalCluster.start({ masters: 3 });
  await using six = await LocalCluster.start({ masters: 6 });
  await using single = await LocalServer.start({ binary: three.binary });
  const serie = (name: string, urls: string[], masters: number, mode: Series["mode"], cluster = true): Series => ({
    name,
    urls,
    cluster,
    masters,
    mode,
    rate: [],
    cpuUs: [],
    busMessages: [],
    busBytes: [],
    lost: 0,
  });
  const baseline = serie("single server, PUBLISH → SUBSCRIBE (baseline)", [single.url], 1, "pubsub", false);
  const pub3 = serie("3 masters, PUBLISH → SUBSCRIBE", three.masters.map((m) => m.url), 3, "pubsub");
  const shard3 = serie("3 masters, SPUBLISH → SSUBSCRIBE", three.masters.map((m) => m.url), 3, "sharded");
  const pub6 = serie("6 masters, PUBLISH → SUBSCRIBE", six.masters.map((m) => m.url), 6, "pubsub");
  const shard6 = serie("6 masters, SPUBLISH → SSUBSCRIBE", six.masters.map((m) => m.url), 6, "sharded");
  const all = [baseline, pub3, shard3, pub6, shard6];
  const reporter = new Reporter(nullWriter);
  for (let r = 0; r < RUNS; r++) for (const s of all) await measure(s, reporter);
  for (const s of all.filter((s) => s.lost > 0)) console.log(`  ${s.name}: ${s.lost} lost or duplicated in all`);
  const setup = `${PUBLISHERS} publishers → ${SUBSCRIBERS} subscribers, ${CHANNELS} channels (one per master on ` +
    `the clusters), ${MESSAGES.toLocaleString("en-US")} messages of ${SIZE} bytes (${three.kind}), median of ` +
    `${RUNS} runs; ratio: median (range) of the per-run ratios`;
  printTable(`delivered messages per second: ${setup}`, rows(all, (s) => s.rate, "msg/s"));
  printTable(
    "delivered messages per second on the clusters, against PUBLISH → SUBSCRIBE on 3 masters",
    rows([pub3, shard3, pub6, shard6], (s) => s.rate, "msg/s"),
  );
  printTable("server CPU time per message published, all nodes together", rows(all, (s) => s.cpuUs, "µs"));
  printTable(
    "cluster bus messages per message published (publish + publishshard sent, all nodes)",
    rows([pub3, pub6, shard3, shard6], (s) => s.busMessages, "msg"),
  );
  if ([pub3, pub6, shard3, shard6].every((s) => s.busBytes.every(Number.isFinite))) {
    printTable(
      "bytes sent on the cluster bus per message published (ss -tin bytes_sent of the bus connections, all nodes)",
      rows([pub3, pub6, shard3, shard6], (s) => s.busBytes, "B"),
    );
  }
  model(pub3, shard3, pub6, shard6);
}

/**
 * The broadcast's cost as masters grow: PUBLISH on N masters sends N − 1 bus
 * messages, SPUBLISH none (no replicas); the CPU time of one bus message is
 * the 3-master difference between the two divided by the bus messages, and
 * the model `cpu(N) = cpu(SPUBLISH) + (N − 1) × that` is checked against the
 * 6-master figure.
 */
function model(pub3: Series, shard3: Series, pub6: Series, shard6: Series): void {
  const perBus = (median(pub3.cpuUs) - median(shard3.cpuUs)) / median(pub3.busMessages);
  const predict = (n: number) => median(shard3.cpuUs) + (n - 1) * perBus;
  const bytes = median(pub3.busBytes) / median(pub3.busMessages);
  console.log(
    `\nmodel (fitted on 3 masters): one bus message costs ${perBus.toFixed(2)} µs of server CPU` +
      (Number.isFinite(bytes) ? ` and ${Math.round(bytes).toLocaleString("en-US")} bytes` : "") +
      `; PUBLISH costs ${median(shard3.cpuUs).toFixed(2)} + (N − 1) × ${perBus.toFixed(2)} µs per message on N masters`,
  );
  console.log(
    `  6 masters: predicted ${predict(6).toFixed(2)} µs, measured ${median(pub6.cpuUs).toFixed(2)} µs ` +
      `(SPUBLISH measured ${median(shard6.cpuUs).toFixed(2)} µs); predicted 10 masters ${predict(10).toFixed(2)} µs, ` +
      `20 masters ${predict(20).toFixed(2)} µs`,
  );
}

if (import.meta.main) await run();
