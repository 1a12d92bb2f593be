/**
 * One benchmark run: connections in this one process (N publishers and M
 * subscribers, each its own connection, plus one for commands), everyone
 * subscribed before anything is published, publishing until the message
 * count, the duration or Ctrl+C, then a bounded wait for what is still on
 * its way, and the figures. On a cluster the same, with connections per
 * master as lib/bench/cluster_wiring.ts lays them out.
 *
 * @module
 */
import type { Connection } from "../core/client.ts";
import { CliError, ExitCode } from "../core/exit_codes.ts";
import type { Reporter } from "../core/output.ts";
import { delay } from "../core/timing.ts";
import { classifyOutage, readSubscriberFacts, type SubscriberFacts } from "../pubsub/drop_cause.ts";
import { BenchPublisher } from "./bench_publisher.ts";
import { BenchSubscriber } from "./bench_subscriber.ts";
import { LatencyHistogram, type LatencySummary } from "./latency_histogram.ts";
import { clusterWiring } from "./cluster_wiring.ts";
import type { BenchMode } from "./modes.ts";
import { omemKey, OmemSampler } from "./omem_sampler.ts";
import type { TallyCounts } from "./tally.ts";
import { type ClusterLayout, singleWiring, type Wiring } from "./wiring.ts";

/** What to run. */
export interface BenchOptions {
  /** The server (without `cluster`). */
  url: string;
  /** The seed nodes of a cluster: the run is on that cluster instead of `url`. */
  cluster?: string[];
  /** On a cluster, allow nodes that are not on loopback. */
  allowRemote?: boolean;
  /** Where connection trouble is reported. */
  reporter: Reporter;
  /** Publishers (connections). */
  publishers: number;
  /** Subscribers (connections). */
  subscribers: number;
  /** Messages in all, shared out among the publishers. */
  messages: number;
  /** The longest publishing may go on, in ms. */
  durationMs: number;
  /** Payload bytes. */
  size: number;
  /** Messages per second per publisher; 0: as fast as possible. */
  rate: number;
  /** Channels (or streams). */
  channels: number;
  /** How messages travel. */
  mode: BenchMode;
  /** The first subscriber stops reading for this long (ms) when publishing starts: a slow consumer, on purpose. */
  stallMs?: number;
  /** Stops publishing (Ctrl+C); what was measured is still reported. */
  signal: AbortSignal;
  /** Called about once a second while publishing and draining. */
  onProgress?: (published: number, delivered: number, elapsedMs: number) => void;
}

/** One subscriber's figures. */
export interface SubscriberResult extends TallyCounts {
  /** From its first message to its last, in ms. */
  flowingMs: number;
  /** The server closed its connection during the run. */
  dropped: boolean;
  /** …and that was for falling behind (its output buffer over the limit). */
  fellBehind: boolean;
}

/** What a run measured. */
export interface BenchResult {
  /** Confirmed messages per publisher. */
  published: number[];
  /** From the first message sent to the last confirmed, in ms. */
  publishingMs: number;
  /** Each subscriber's figures. */
  subscribers: SubscriberResult[];
  /** One-way latencies of every delivery. */
  latency: LatencySummary;
  /** The largest output buffer the server held for one subscriber (`omem`), undefined when CLIENT LIST is refused. */
  peakOutputBytes: number | undefined;
  /** Output-buffer disconnections the server itself counted during the run (Valkey, Redis 7.2+), if it counts. */
  serverCountedDrops: number | undefined;
  /** The first error a publisher met, if any. */
  publishError: string | undefined;
  /** Stopped by Ctrl+C before the end. */
  stopped: boolean;
  /** The whole run, in ms. */
  totalMs: number;
  /** On a cluster: where the channels live and who connected where. */
  cluster?: ClusterLayout;
}

/** How long to wait for messages still on their way after the last publish: no progress for this long ends it. */
const QUIET_MS = 1000;
/** …and never longer than this after the last publish (plus a deliberate stall). */
const DRAIN_MAX_MS = 10_000;
/** Progress every this many ms. */
const PROGRESS_MS = 1000;

/**
 * Runs the benchmark.
 *
 * @param options what to run
 * @returns what it measured
 * @throws {CliError} when the server lacks the mode (sharded pub/sub before Redis 7, KeyDB)
 */
export async function runBench(options: BenchOptions): Promise<BenchResult> {
  const began = performance.now();
  const { reporter, mode, signal } = options;
  const run = crypto.randomUUID().slice(0, 8);
  const wiringOptions = { reporter, signal, run, channels: options.channels };
  const wiring: Wiring = options.cluster
    ? await clusterWiring({ ...wiringOptions, urls: options.cluster, mode, allowRemote: options.allowRemote ?? false })
    : await singleWiring(options.url, wiringOptions);
  const { names, nodes } = wiring;
  const conns: Connection[] = [];
  const subs: BenchSubscriber[] = [];
  const pubs: BenchPublisher[] = [];
  const latencies = new LatencyHistogram();
  try {
    if (mode === "sharded") await requireSharded(nodes[0]!.cmd);
    const before = await readFacts(wiring);
    for (let i = 0; i < options.subscribers; i++) {
      subs.push(new BenchSubscriber(await wiring.subscriber(i), options.publishers, options.channels, latencies));
    }
    await Promise.all(subs.map((s) => s.start(mode, `bench:${run}:*`)));
    for (let p = 0; p < options.publishers; p++) {
      const wired = await wiring.publisher(p);
      conns.push(...wired.conns);
      pubs.push(new BenchPublisher(wired.conns, p, mode, names, options.size, options.rate, wired.route));
    }
    const legs = subs.flatMap((s) => s.legs);
    const sampler = new OmemSampler(nodes.map(({ node, cmd }) => ({
      redis: cmd.redis,
      node,
      ids: new Set(legs.flatMap((l) => l.node === node && l.clientId !== undefined ? [l.clientId] : [])),
    })));
    sampler.start();
    const delivered = () => subs.reduce((n, s) => n + s.tally.received, 0);
    const confirmed = () => pubs.reduce((n, p) => n + p.confirmed, 0);
    const progress = setInterval(
      () => options.onProgress?.(confirmed(), delivered(), performance.now() - began),
      PROGRESS_MS,
    );
    const stall = options.stallMs && subs[0] ? subs[0].stall(options.stallMs, signal) : Promise.resolve();
    try {
      const deadline = performance.now() + options.durationMs;
      const quotas = share(options.messages, options.publishers);
      await Promise.all(pubs.map((p, i) => p.run({ quota: quotas[i]!, deadline, signal })));
      await stall;
      await drain(subs, confirmed(), signal);
      await sampler.sample();
    } finally {
      clearInterval(progress);
      sampler.stop();
    }
    const after = await readFacts(wiring);
    const counted = nodes.map(({ node }) => {
      const [b, a] = [before.get(node)?.drops, after.get(node)?.drops];
      return b !== undefined && a !== undefined ? a - b : undefined;
    });
    const serverCountedDrops = counted.some((c) => c === undefined) ? undefined : counted.reduce((x, y) => x! + y!, 0);
    const published = pubs.map((p) => p.confirmed);
    const firsts = pubs.flatMap((p) => p.firstAt ?? []), lasts = pubs.flatMap((p) => p.lastAt ?? []);
    return {
      published,
      publishingMs: firsts.length ? Math.max(...lasts) - Math.min(...firsts) : 0,
      subscribers: subs.map((s) => {
        const dropped = s.droppedAt !== undefined;
        const leg = s.droppedBy;
        const sample = leg?.clientId === undefined ? undefined : sampler.last.get(omemKey(leg.node, leg.clientId));
        const stallFor = s === subs[0] && options.stallMs ? { from: 0, ms: options.stallMs } : undefined;
        const fellBehind = dropped && leg !== undefined &&
          classifyOutage(before.get(leg.node)!, after.get(leg.node)!, {
              at: s.droppedAt!,
              ...(sample ? { sample } : {}),
              ...(stallFor ? { stall: stallFor } : {}),
            }).kind === "fell_behind";
        return {
          ...s.tally.counts(published),
          flowingMs: s.firstAt === undefined ? 0 : s.lastAt! - s.firstAt,
          dropped,
          fellBehind,
        };
      }),
      latency: latencies.summary(),
      peakOutputBytes: sampler.peak,
      serverCountedDrops,
      publishError: pubs.find((p) => p.error)?.error,
      stopped: signal.aborted,
      totalMs: performance.now() - began,
      ...(wiring.layout ? { cluster: wiring.layout } : {}),
    };
  } finally {
    await Promise.all(subs.map((s) => s.close()));
    if (mode === "stream") await deleteStreams(wiring);
    await Promise.all(conns.map((c) => c.close()));
    await wiring.close();
  }
}

/** Each node's subscriber facts (INFO, CONFIG), by node name. */
async function readFacts(wiring: Wiring): Promise<Map<string, SubscriberFacts>> {
  const facts = await Promise.all(wiring.nodes.map(({ cmd }) => readSubscriberFacts(cmd.redis)));
  return new Map(wiring.nodes.map(({ node }, i) => [node, facts[i]!]));
}

/** Deletes the run's streams, each on the node that serves it (any error ignored: the run is over). */
async function deleteStreams(wiring: Wiring): Promise<void> {
  const layout = wiring.layout;
  await Promise.all(wiring.nodes.map(async ({ node, cmd }) => {
    const mine = layout ? wiring.names.filter((n) => layout.channels[n] === node) : wiring.names;
    if (mine.length) await cmd.redis.del(...mine).catch(() => {});
  }));
}

/** `n` shared out among `parts`: the first ones get one more when it does not divide. */
function share(n: number, parts: number): number[] {
  return Array.from({ length: parts }, (_, i) => Math.floor(n / parts) + (i < n % parts ? 1 : 0));
}

/** Waits until every subscriber still connected has had `expected` messages, nothing came for a second, or 10 s. */
async function drain(subs: BenchSubscriber[], expected: number, signal: AbortSignal): Promise<void> {
  const end = performance.now() + DRAIN_MAX_MS;
  let last = -1, lastChange = performance.now();
  while (performance.now() < end) {
    const live = subs.filter((s) => s.droppedAt === undefined);
    if (live.every((s) => s.tally.counts([]).unique >= expected)) return;
    const now = subs.reduce((n, s) => n + s.tally.received, 0);
    if (now !== last) [last, lastChange] = [now, performance.now()];
    else if (performance.now() - lastChange > (signal.aborted ? QUIET_MS / 4 : QUIET_MS)) return;
    await delay(20);
  }
}

/** Throws when the server has no sharded pub/sub. */
async function requireSharded(cmd: Connection): Promise<void> {
  const info = await cmd.redis.command("INFO", "spublish").catch(() => [null]) as unknown[];
  if (!Array.isArray(info) || info[0] == null) {
    throw new CliError(
      ExitCode.Failure,
      `${cmd.address} has no sharded pub/sub (SSUBSCRIBE / SPUBLISH came in Redis 7.0; Valkey has it, KeyDB does not).\n` +
        "Use --mode pubsub, or a Redis 7+ or Valkey server.",
    );
  }
}
