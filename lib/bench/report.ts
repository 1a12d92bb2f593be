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
  /** Each subscriber. */
  per_subscriber: { delivered: number; rate: number | null; lost: number; dropped: boolean }[];
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
  }));
  const publishRate = rate(published, result.publishingMs);
  const rates = perSub.map((s) => s.rate);
  const l = result.latency;
  return {
    ...setup,
    published,
    publish_rate: publishRate,
    delivered: subs.reduce((n, s) => n + s.received, 0),
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
  };
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
      (p.dropped ? ", dropped by the server" : "")
    ),
    `  latency          p50 ${ms(s.latency_ms.p50)}  p90 ${ms(s.latency_ms.p90)}  p99 ${ms(s.latency_ms.p99)}  ` +
    `p99.9 ${ms(s.latency_ms.p99_9)}  max ${ms(s.latency_ms.max)}  (one way, send to receive, one clock)`,
    `  lost             ${n(s.lost)}`,
    `  duplicates       ${n(s.duplicates)}`,
    `  reordered        ${n(s.reordered)}`,
    `  slow consumers   ${n(s.slow_consumer_disconnects)} dropped by the server for falling behind` +
    (s.other_disconnects ? `, ${s.other_disconnects} closed for another reason` : ""),
    `  output buffer    ${
      s.peak_output_bytes === null ? "— (CLIENT LIST refused)" : formatBytes(s.peak_output_bytes)
    } ` +
    "at most for one subscriber (sampled once a second)",
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
  } as never;
  return [CSV_COLUMNS.join(","), CSV_COLUMNS.map((c) => row[c] ?? "").join(",")];
}
