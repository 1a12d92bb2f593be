/**
 * A run's figures three ways: the text table, one `--json` object's fields
 * (README's `--json` table, `bench.ts` row) and CSV for spreadsheets — all
 * from one {@linkcode BenchSummary}, so they cannot disagree.
 *
 * @module
 */
import { formatBytes } from "../core/byte_size.ts";
import { toSeconds } from "../core/json_event.ts";
import { roundMs } from "../core/latency.ts";
import { formatNumber } from "../core/stats.ts";
import type { BenchMode } from "./modes.ts";
import type { BenchResult } from "./run.ts";

/** What was asked for, as the report says it. */
export interface BenchSetup {
  /** How messages travel. */
  mode: BenchMode;
  /** Publishers. */
  publishers: number;
  /** Subscribers. */
  subscribers: number;
  /** Payload bytes. */
  size: number;
  /** Channels. */
  channels: number;
  /** Per publisher, 0 for as fast as possible. */
  rate: number;
}

/** The figures of a run, flat, in the units of `--json`. */
export interface BenchSummary extends BenchSetup {
  /** Confirmed publishes. */
  published: number;
  /** Publishes per second (first sent to last confirmed), null for too few. */
  publish_rate: number | null;
  /** Messages received by all subscribers. */
  delivered: number;
  /** Sum of the subscribers' receive rates, null for too few. */
  delivered_rate: number | null;
  /** Each subscriber (`died`: its worker died; duplicates and order of it unknown). */
  per_subscriber: { delivered: number; rate: number | null; lost: number; dropped: boolean; died?: boolean }[];
  /** One-way latency percentiles in ms. */
  latency_ms: { p50: number; p90: number; p99: number; p99_9: number; max: number };
  /** Deliveries that never came: published × subscribers − distinct received. */
  lost: number;
  /** Extra copies received. */
  duplicates: number;
  /** Messages that came after a later one from the same publisher. */
  reordered: number;
  /** Subscribers the server dropped for falling behind. */
  slow_consumer_disconnects: number;
  /** Subscribers whose connection closed for another reason. */
  other_disconnects: number;
  /** Largest `omem` of one subscriber, null when CLIENT LIST is refused. */
  peak_output_bytes: number | null;
  /** The whole run, seconds. */
  seconds: number;
  /** Ctrl+C before the end. */
  stopped: boolean;
  /** redis-benchmark's PUBLISH rate, with `--baseline`. */
  baseline_rate?: number;
  /** publish_rate / baseline_rate. */
  baseline_ratio?: number;
  /** On a cluster (`--cluster`): where the channels live and who connected where. */
  cluster?: ClusterSummary;
  /** Who was busy, from the start of publishing to the end of the drain. */
  cpu: CpuSummary;
  /** How far apart two workers' clocks may be, µs (measured at the start); null when not measured. */
  clock_error_us: number | null;
  /** The workers that died, a line each (only when one did). */
  worker_failures?: string[];
}

/** The CPU part of a {@linkcode BenchSummary}: µs per message and cores busy (CPU time / wall time). */
export interface CpuSummary {
  /** The benchmark process (every thread), per message published. */
  bench_us_per_message: number | null;
  /** …its cores busy. */
  bench_cores: number;
  /** Each worker's own thread: role, µs per message (published for a publisher worker, received for a subscriber one), cores busy. */
  workers: { role: "publisher" | "subscriber"; us_per_message: number | null; cores: number }[];
  /** The servers (INFO cpu, every node), per message published; null when INFO is refused. */
  server_us_per_message: number | null;
  /** …their cores busy; null when INFO is refused. */
  server_cores: number | null;
}

/** The cluster part of a {@linkcode BenchSummary}. */
export interface ClusterSummary {
  /** The masters (`host:port`), in slot order. */
  masters: string[];
  /** The master serving each channel (or stream), by name. */
  channels: Record<string, string>;
  /** The nodes each publisher sent to. */
  publisher_nodes: string[][];
  /** The nodes each subscriber was connected to. */
  subscriber_nodes: string[][];
}

/** Fewer messages than this give no rate. */
const MIN_FOR_RATE = 100;

const perMessage = (ms: number | undefined, count: number): number | null =>
  ms === undefined || count < MIN_FOR_RATE ? null : Math.round((ms * 1000 * 1000) / count) / 1000;
const cores = (ms: number, wallMs: number): number => wallMs > 0 ? Math.round((ms / wallMs) * 100) / 100 : 0;

/** The CPU summary of a run. */
function cpuSummary(result: BenchResult, published: number, delivered: number): CpuSummary {
  const c = result.cpu;
  const worker = (role: "publisher" | "subscriber", count: number) => (ms: number | undefined) => ({
    role,
    us_per_message: perMessage(ms, count),
    cores: cores(ms ?? 0, c.wallMs),
  });
  return {
    bench_us_per_message: perMessage(c.processMs, published),
    bench_cores: cores(c.processMs, c.wallMs),
    workers: [
      ...c.publisherWorkersMs.map(worker("publisher", published / Math.max(1, c.publisherWorkersMs.length))),
      ...c.subscriberWorkersMs.map(worker("subscriber", delivered / Math.max(1, c.subscriberWorkersMs.length))),
    ],
    server_us_per_message: perMessage(c.serverMs, published),
    server_cores: c.serverMs === undefined ? null : cores(c.serverMs, c.wallMs),
  };
}

const rate = (count: number, ms: number): number | null =>
  count < MIN_FOR_RATE || !(ms > 0) ? null : Math.round((count * 10_000) / ms) / 10;

/**
 * Flattens a run into its summary.
 *
 * @param setup what was asked for
 * @param result what was measured
 * @param baseline redis-benchmark's rate, if run
 * @returns the summary
 */
export function summarize(setup: BenchSetup, result: BenchResult, baseline?: number): BenchSummary {
  const published = result.published.reduce((a, b) => a + b, 0);
  const subs = result.subscribers;
  const perSub = subs.map((s) => ({
    delivered: s.received,
    rate: rate(s.received, s.flowingMs),
    lost: s.lost,
    dropped: s.dropped,
    ...(s.died ? { died: true } : {}),
  }));
  const delivered = subs.reduce((n, s) => n + s.received, 0);
  const publishRate = rate(published, result.publishingMs);
  const rates = perSub.map((s) => s.rate);
  const l = result.latency;
  return {
    ...setup,
    published,
    publish_rate: publishRate,
    delivered,
    delivered_rate: rates.some((r) => r === null) ? null : Math.round(rates.reduce((a, b) => a! + b!, 0)! * 10) / 10,
    per_subscriber: perSub,
    latency_ms: {
      p50: roundMs(l.p50),
      p90: roundMs(l.p90),
      p99: roundMs(l.p99),
      p99_9: roundMs(l.p999),
      max: roundMs(l.max),
    },
    lost: subs.reduce((n, s) => n + s.lost, 0),
    duplicates: subs.reduce((n, s) => n + s.duplicates, 0),
    reordered: subs.reduce((n, s) => n + s.reordered, 0),
    slow_consumer_disconnects: subs.filter((s) => s.fellBehind).length,
    other_disconnects: subs.filter((s) => s.dropped && !s.fellBehind).length,
    peak_output_bytes: result.peakOutputBytes ?? null,
    seconds: toSeconds(result.totalMs),
    stopped: result.stopped,
    ...(baseline !== undefined ? { baseline_rate: Math.round(baseline * 10) / 10 } : {}),
    ...(baseline && publishRate ? { baseline_ratio: Math.round((publishRate / baseline) * 100) / 100 } : {}),
    ...(result.cluster
      ? {
        cluster: {
          masters: result.cluster.masters,
          channels: result.cluster.channels,
          publisher_nodes: result.cluster.publisherNodes,
          subscriber_nodes: result.cluster.subscriberNodes,
        },
      }
      : {}),
    cpu: cpuSummary(result, published, delivered),
    clock_error_us: result.clockErrorUs === undefined ? null : Math.round(result.clockErrorUs * 10) / 10,
    ...(result.workerFailures.length ? { worker_failures: result.workerFailures } : {}),
  };
}

/** The CPU lines of the text report: the benchmark's threads next to the server's, and the busiest of them. */
function cpuLines(s: BenchSummary): string[] {
  const c = s.cpu;
  const us = (v: number | null) => v === null ? "—" : `${formatNumber(v, 2)} µs/msg`;
  const side = (role: "publisher" | "subscriber", what: string) => {
    const ws = c.workers.filter((w) => w.role === role);
    const mean = ws.some((w) => w.us_per_message === null)
      ? null
      : Math.round((ws.reduce((a, w) => a + w.us_per_message!, 0) / ws.length) * 1000) / 1000;
    return `${role}s ${us(mean)} ${what}, busiest ${Math.max(0, ...ws.map((w) => w.cores))} core`;
  };
  const threads: [string, number][] = c.workers.map((w, i) => [`${w.role} worker ${i + 1}`, w.cores]);
  if (c.server_cores !== null) threads.push(["the server", c.server_cores]);
  const [who, most] = threads.reduce((a, b) => (b[1] > a[1] ? b : a), ["—", 0]);
  return [
    `  cpu              bench ${us(c.bench_us_per_message)} published (${c.bench_cores} cores): ` +
    `${side("publisher", "published")}; ${side("subscriber", "received")}`,
    `                   server ${us(c.server_us_per_message)} published (${c.server_cores ?? "—"} cores); ` +
    `busiest thread: ${who}, ${most} of a core (near 1: the limit)`,
  ];
}

/** The channels per master, e.g. `127.0.0.1:7000: bench:x:0, bench:x:3`, at most 3 names a master. */
function channelsByNode(c: ClusterSummary): string[] {
  return c.masters.map((node) => {
    const names = Object.keys(c.channels).filter((n) => c.channels[n] === node);
    const shown = names.slice(0, 3).join(", ") + (names.length > 3 ? `, … (${names.length})` : "");
    return `${node}: ${names.length ? shown : "none"}`;
  });
}

/** `a, b` for one list of nodes, or a list per connection when they differ. */
function nodesLine(lists: string[][]): string {
  const distinct = [...new Set(lists.map((l) => l.join(" + ")))];
  return distinct.length === 1
    ? `each on ${distinct[0]}`
    : lists.map((l, i) => `${i + 1} on ${l.join(" + ")}`).join(", ");
}

const n = (v: number | null) => v === null ? "—" : formatNumber(v);
const ms = (v: number) => `${formatNumber(v, 3)} ms`;

/**
 * The text report: one figure a line.
 *
 * @param s the summary
 * @returns the lines
 */
export function textReport(s: BenchSummary): string[] {
  const pace = s.rate > 0 ? `${formatNumber(s.rate)} msg/s per publisher` : "as fast as possible";
  const lines = [
    `${s.mode}: ${s.publishers} publisher(s) → ${s.subscribers} subscriber(s), ${s.channels} channel(s), ` +
    `${s.size}-byte payloads, ${pace}${s.stopped ? " — stopped by Ctrl+C, figures so far" : ""}`,
    ...(s.cluster
      ? [
        `  cluster          ${s.cluster.masters.length} masters; channels by node: ${
          channelsByNode(s.cluster).join("; ")
        }`,
        `                   publishers ${nodesLine(s.cluster.publisher_nodes)}; subscribers ${
          nodesLine(s.cluster.subscriber_nodes)
        }`,
      ]
      : []),
    "",
    `  published        ${n(s.published)} msg at ${n(s.publish_rate)} msg/s`,
    `  delivered        ${n(s.delivered)} msg at ${n(s.delivered_rate)} msg/s in all`,
    ...s.per_subscriber.map((p, i) =>
      `    subscriber ${String(i + 1).padEnd(4)}${n(p.delivered)} msg at ${n(p.rate)} msg/s, ${n(p.lost)} lost` +
      (p.dropped ? ", dropped by the server" : "") + (p.died ? ", its worker died (duplicates, order unknown)" : "")
    ),
    `  latency          p50 ${ms(s.latency_ms.p50)}  p90 ${ms(s.latency_ms.p90)}  p99 ${ms(s.latency_ms.p99)}  ` +
    `p99.9 ${ms(s.latency_ms.p99_9)}  max ${ms(s.latency_ms.max)}  (one way, send to receive, one clock` +
    `${s.clock_error_us === null ? "" : `: workers within ${formatNumber(s.clock_error_us, 1)} µs`})`,
    `  lost             ${n(s.lost)}`,
    `  duplicates       ${n(s.duplicates)}`,
    `  reordered        ${n(s.reordered)}`,
    `  slow consumers   ${n(s.slow_consumer_disconnects)} dropped by the server for falling behind` +
    (s.other_disconnects ? `, ${s.other_disconnects} closed for another reason` : ""),
    `  output buffer    ${
      s.peak_output_bytes === null ? "— (CLIENT LIST refused)" : formatBytes(s.peak_output_bytes)
    } ` +
    "at most for one subscriber (sampled once a second)",
    ...cpuLines(s),
    ...(s.worker_failures ?? []).map((f) => `  failed           ${f}`),
  ];
  if (s.baseline_rate !== undefined) {
    lines.push(
      `  baseline         redis-benchmark -P 64 publish: ${n(s.baseline_rate)} msg/s; published ×${
        s.baseline_ratio ?? "—"
      } of it`,
    );
  }
  return lines;
}

/** The CSV columns, in order. */
export const CSV_COLUMNS = [
  "mode",
  "publishers",
  "subscribers",
  "size",
  "channels",
  "rate",
  "published",
  "publish_rate",
  "delivered",
  "delivered_rate",
  "p50_ms",
  "p90_ms",
  "p99_ms",
  "p99_9_ms",
  "max_ms",
  "lost",
  "duplicates",
  "reordered",
  "slow_consumer_disconnects",
  "other_disconnects",
  "peak_output_bytes",
  "seconds",
  "stopped",
  "baseline_rate",
  "baseline_ratio",
  "cluster_masters",
  "bench_us_per_message",
  "bench_cores",
  "server_us_per_message",
  "server_cores",
  "clock_error_us",
  "worker_failures",
] as const;

/**
 * The CSV: a header line and one row.
 *
 * @param s the summary
 * @returns two lines
 */
export function csvReport(s: BenchSummary): string[] {
  const l = s.latency_ms;
  const row: Record<(typeof CSV_COLUMNS)[number], unknown> = {
    ...s,
    p50_ms: l.p50,
    p90_ms: l.p90,
    p99_ms: l.p99,
    p99_9_ms: l.p99_9,
    max_ms: l.max,
    cluster_masters: s.cluster?.masters.length,
    bench_us_per_message: s.cpu.bench_us_per_message,
    bench_cores: s.cpu.bench_cores,
    server_us_per_message: s.cpu.server_us_per_message,
    server_cores: s.cpu.server_cores,
    worker_failures: s.worker_failures?.length,
  } as never;
  return [CSV_COLUMNS.join(","), CSV_COLUMNS.map((c) => row[c] ?? "").join(",")];
}
