/**
 * One benchmark run: N publishers and M subscribers, each on connections of
 * its own, spread over workers (lib/bench/crew.ts, lib/bench/worker.ts: one
 * per publisher and one per subscriber, up to 8 of each, a worker holding
 * publishers or subscribers, never both), everyone subscribed before
 * anything is published, publishing until the message count, the duration
 * or Ctrl+C, then a bounded wait for what is still on its way, and the
 * figures. This thread starts the workers, watches their shared counters,
 * samples the server's output buffers and CPU, and merges what each worker
 * measured: a subscriber lives in one worker, so its counts of lost,
 * duplicated and reordered messages are its own, exact, and the run's are
 * their sums; the latency histograms are added up. A worker that dies is
 * reported, publishing stops, and the run ends with what was measured (a
 * dead subscriber's received and distinct messages from the shared
 * counters). On a cluster the same, with connections per master as
 * lib/bench/cluster_wiring.ts lays them out.
 *
 * @module
 */
import type { Connection } from "../core/client.ts";
import { CliError, ExitCode, type ExitCodeValue } from "../core/exit_codes.ts";
import type { Reporter } from "../core/output.ts";
import { delay, onAbort } from "../core/timing.ts";
import { readSubscriberFacts, type SubscriberFacts } from "../pubsub/drop_cause.ts";
import type { BenchWorker } from "./bench_worker.ts";
import { type Crew, type CrewOptions, share, startCrew } from "./crew.ts";
import { clusterWiring } from "./cluster_wiring.ts";
import { processCpuMs, serverCpuMs } from "./cpu.ts";
import { LatencyHistogram, type LatencySummary } from "./latency_histogram.ts";
import type { Endpoint } from "../endpoint/endpoint.ts";
import type { BenchMode } from "./modes.ts";
import { clockError, type SubscriberResult, subscriberResults } from "./merge.ts";
import { OmemSampler } from "./omem_sampler.ts";
import { type ClusterLayout, singleWiring, type Wiring } from "./wiring.ts";
import { Counters, type FromWorker, type LegId, type RunShape } from "./worker_protocol.ts";

/** A message of one type from a worker. */
type Said<T extends FromWorker["type"]> = Extract<FromWorker, { type: T }>;

export type { SubscriberResult };

/** What to run. */
export interface BenchOptions {
  /** The server or cluster. */
  endpoint: Endpoint;
  /** Allow a server (or cluster nodes) that is not on loopback (default false: refused, before connecting). */
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
  /** A test's fault: that worker throws this long after publishing starts. */
  crashWorker?: { role: "publishers" | "subscribers"; index: number; afterMs: number };
}

/** Who was busy during the run (from the start of publishing to the end of the drain). */
export interface BenchCpu {
  /** How long that was, ms. */
  wallMs: number;
  /** The benchmark process's CPU time, every thread, ms. */
  processMs: number;
  /** Each publisher worker's own CPU time, ms (undefined where not measured). */
  publisherWorkersMs: (number | undefined)[];
  /** Each subscriber worker's own. */
  subscriberWorkersMs: (number | undefined)[];
  /** The servers' CPU time (INFO cpu, every node), ms; undefined when INFO is refused. */
  serverMs: number | undefined;
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
  /** Who was busy. */
  cpu: BenchCpu;
  /** How far a worker's clock may be from another's, µs: the largest offset plus half its trip, of any worker. */
  clockErrorUs: number | undefined;
  /** The workers that died, each said in a line. */
  workerFailures: string[];
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
 * @throws {CliError} when the server lacks the mode (sharded pub/sub before Redis 7, KeyDB), or cannot be reached
 */
export async function runBench(options: BenchOptions): Promise<BenchResult> {
  const began = performance.now();
  const { reporter, mode, signal } = options;
  const run = crypto.randomUUID().slice(0, 8);
  const wiringOptions = {
    reporter,
    signal,
    run,
    channels: options.channels,
    allowRemote: options.allowRemote ?? false,
  };
  const wiring: Wiring = await options.endpoint.checkup({
    server: (url) => singleWiring(url, wiringOptions),
    cluster: (urls) => clusterWiring({ ...wiringOptions, urls, mode }),
  });
  const { names, nodes } = wiring;
  const P = options.publishers, S = options.subscribers;
  const counters = new Counters(new SharedArrayBuffer(Counters.bytes(P, S)), P);
  const shape: RunShape = {
    mode,
    names,
    pattern: `bench:${run}:*`,
    size: options.size,
    rate: options.rate,
    publishers: P,
    channels: options.channels,
  };
  const dropped = new Map<number, { at: number; leg: LegId }>();
  const all: BenchWorker[] = [];
  const stopPublishing = () => pubs.workers.forEach((w) => w.post({ type: "stop" }));
  const crewOptions: CrewOptions = {
    wiring,
    shape,
    counters,
    reporter,
    dropped: (m) => dropped.has(m.index) || dropped.set(m.index, { at: m.at, leg: m }),
    died: stopPublishing,
    ...(options.crashWorker ? { crashWorker: options.crashWorker } : {}),
  };
  let pubs: Crew = { workers: [], members: [] };
  try {
    if (mode === "sharded") await requireSharded(nodes[0]!.cmd);
    const before = await readFacts(wiring);
    const subs = startCrew("subscribers", S, crewOptions);
    pubs = startCrew("publishers", P, crewOptions);
    all.push(...subs.workers, ...pubs.workers);
    const ready = await Promise.all(all.map((w) => w.next("ready")));
    ready.forEach((r, i) => {
      if (r?.failed) throw new CliError(r.failed.code as ExitCodeValue, r.failed.message);
      if (!r) {
        throw new CliError(ExitCode.Failure, `The benchmark's ${all[i]!.name} died while connecting: ${all[i]!.died}`);
      }
    });
    // One at a time, all of them connected and idle: a check needs both threads on a core at once.
    for (const w of all) await w.checkClock();
    const legs = ready.flatMap((r) => r!.legs);
    const sampler = new OmemSampler(nodes.map(({ node, cmd }) => ({
      redis: cmd.redis,
      node,
      ids: new Set(legs.flatMap((l) => l.node === node && l.clientId !== undefined ? [l.clientId] : [])),
    })));
    sampler.start();
    const delivered = () => sum(S, (s) => counters.received(s));
    const confirmed = () => sum(P, (p) => counters.confirmed(p));
    const progress = setInterval(
      () => options.onProgress?.(confirmed(), delivered(), performance.now() - began),
      PROGRESS_MS,
    );
    const cpuFrom = { at: performance.now(), process: processCpuMs(), server: await serversCpuMs(wiring) };
    let published: (Said<"published"> | undefined)[];
    let results: (Said<"result"> | undefined)[];
    let cpuTo: typeof cpuFrom;
    try {
      const quotas = share(options.messages, P);
      const durationMs = options.durationMs;
      subs.workers.forEach((w, i) => {
        const stall = options.stallMs && subs.members[i]![0] === 0 ? { stallMs: options.stallMs } : {};
        w.post({ type: "start", quotas: [], durationMs, ...stall });
      });
      const stallEnds = performance.now() + (options.stallMs ?? 0);
      pubs.workers.forEach((w, i) =>
        w.post({ type: "start", quotas: pubs.members[i]!.map((p) => quotas[p]!), durationMs })
      );
      // After the start: a stop that came while the workers connected (before any listener) stops them at once.
      using _stopOnAbort = onAbort(signal, stopPublishing);
      published = await Promise.all(pubs.workers.map((w) => w.next("published")));
      await delay(stallEnds - performance.now(), signal);
      const expected = sum(P, (p) => counters.confirmed(p));
      const waitFor = subs.members.flatMap((m, w) => m.filter(() => subs.workers[w]!.died === undefined));
      await drain(waitFor.filter((s) => !dropped.has(s)), counters, expected, signal);
      await sampler.sample();
      cpuTo = { at: performance.now(), process: processCpuMs(), server: await serversCpuMs(wiring) };
      results = await Promise.all(subs.workers.map((w) => (w.post({ type: "finish" }), w.next("result"))));
    } finally {
      clearInterval(progress);
      sampler.stop();
    }
    await Promise.all(all.map((w) => (w.post({ type: "finish" }), w.next("closed"))));
    const after = await readFacts(wiring);
    const counted = nodes.map(({ node }) => {
      const [b, a] = [before.get(node)?.drops, after.get(node)?.drops];
      return b !== undefined && a !== undefined ? a - b : undefined;
    });
    const serverCountedDrops = counted.some((c) => c === undefined) ? undefined : counted.reduce((x, y) => x! + y!, 0);
    const pubFigures = new Map(published.flatMap((m) => m?.publishers ?? []).map((f) => [f.id, f]));
    const publishedCounts = Array.from({ length: P }, (_, p) => pubFigures.get(p)?.confirmed ?? counters.confirmed(p));
    const firsts = [...pubFigures.values()].flatMap((f) => f.firstAt ?? []);
    const lasts = [...pubFigures.values()].flatMap((f) => f.lastAt ?? []);
    const subFigures = new Map(results.flatMap((m) => m?.subscribers ?? []).map((f) => [f.index, f]));
    const latencies = new LatencyHistogram();
    for (const m of results) if (m) latencies.addEncoded(m.histogram);
    return {
      published: publishedCounts,
      publishingMs: firsts.length ? Math.max(...lasts) - Math.min(...firsts) : 0,
      subscribers: subscriberResults({
        counters,
        published: publishedCounts,
        figures: subFigures,
        dropped,
        facts: { before, after },
        outputSamples: sampler.last,
        ...(options.stallMs ? { stallMs: options.stallMs } : {}),
      }, S),
      latency: latencies.summary(),
      peakOutputBytes: sampler.peak,
      serverCountedDrops,
      publishError: [...pubFigures.values()].find((f) => f.error)?.error,
      stopped: signal.aborted,
      totalMs: performance.now() - began,
      ...(wiring.layout ? { cluster: wiring.layout } : {}),
      cpu: {
        wallMs: cpuTo.at - cpuFrom.at,
        processMs: cpuTo.process - cpuFrom.process,
        publisherWorkersMs: published.map((m) => m?.cpuMs),
        subscriberWorkersMs: results.map((m) => m?.cpuMs),
        serverMs: cpuFrom.server === undefined || cpuTo.server === undefined
          ? undefined
          : cpuTo.server - cpuFrom.server,
      },
      clockErrorUs: clockError(all),
      workerFailures: all.flatMap((w) => w.died === undefined ? [] : [`The benchmark's ${w.name} died: ${w.died}`]),
    };
  } finally {
    for (const w of all) w.terminate();
    if (mode === "stream") await deleteStreams(wiring);
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

/** The sum of `f(i)` for i below `n`. */
function sum(n: number, f: (i: number) => number): number {
  let total = 0;
  for (let i = 0; i < n; i++) total += f(i);
  return total;
}

/** The servers' CPU time, every node together, ms; undefined when one refuses INFO. */
async function serversCpuMs(wiring: Wiring): Promise<number | undefined> {
  const each = await Promise.all(wiring.nodes.map(({ cmd }) => serverCpuMs(cmd.redis)));
  return each.some((ms) => ms === undefined) ? undefined : each.reduce((a, b) => a! + b!, 0);
}

/**
 * Waits until every subscriber in `waitFor` has had `expected` distinct messages, nothing came for a second, or 10 s.
 */
async function drain(waitFor: number[], counters: Counters, expected: number, signal: AbortSignal): Promise<void> {
  const end = performance.now() + DRAIN_MAX_MS;
  let last = -1, lastChange = performance.now();
  while (performance.now() < end) {
    if (waitFor.every((s) => counters.unique(s) >= expected)) return;
    const now = waitFor.reduce((n, s) => n + counters.received(s), 0);
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
