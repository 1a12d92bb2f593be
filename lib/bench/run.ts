/**
 * One benchmark run: N publishers and M subscribers, each on connections of
 * its own, spread over workers (lib/bench/worker.ts: one per publisher and
 * one per subscriber, up to {@linkcode MAX_WORKERS} of each, a worker
 * holding publishers or subscribers, never both), everyone subscribed before
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
import { delay } from "../core/timing.ts";
import { classifyOutage, readSubscriberFacts, type SubscriberFacts } from "../pubsub/drop_cause.ts";
import { BenchWorker } from "./bench_worker.ts";
import { CLOCK_BYTES } from "./clock.ts";
import { clusterWiring } from "./cluster_wiring.ts";
import { processCpuMs, serverCpuMs } from "./cpu.ts";
import { LatencyHistogram, type LatencySummary } from "./latency_histogram.ts";
import type { Endpoint } from "../endpoint/endpoint.ts";
import type { BenchMode } from "./modes.ts";
import { omemKey, OmemSampler } from "./omem_sampler.ts";
import { countAgainst, type TallyCounts } from "./tally.ts";
import { type ClusterLayout, singleWiring, type Wiring } from "./wiring.ts";
import { Counters, type FromWorker, type InitMessage, type LegId, type RunShape } from "./worker_protocol.ts";

/** A message of one type from a worker. */
type Said<T extends FromWorker["type"]> = Extract<FromWorker, { type: T }>;

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

/** One subscriber's figures. */
export interface SubscriberResult extends TallyCounts {
  /** From its first message to its last, in ms. */
  flowingMs: number;
  /** The server closed its connection during the run. */
  dropped: boolean;
  /** …and that was for falling behind (its output buffer over the limit). */
  fellBehind: boolean;
  /** Its worker died: received and distinct messages are known, duplicates and order are not. */
  died: boolean;
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
/** The most workers of each role; beyond, a worker holds several publishers (or subscribers), dealt round-robin. */
export const MAX_WORKERS = 8;

/** A role's workers and the members each holds. */
interface Crew {
  workers: BenchWorker[];
  members: number[][];
}

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
  const spawn = (role: "publishers" | "subscribers", w: number, members: number[]): BenchWorker => {
    const base = { type: "init" as const, shape, counters: counters.shared, clock: new SharedArrayBuffer(CLOCK_BYTES) };
    const crash = options.crashWorker?.role === role && options.crashWorker.index === w
      ? { crashAfterMs: options.crashWorker.afterMs }
      : {};
    const init: InitMessage = role === "publishers"
      ? { ...base, ...crash, role, members: members.map((id) => ({ id, plan: wiring.publisher(id) })) }
      : { ...base, ...crash, role, members: members.map((index) => ({ index, legs: wiring.subscriber(index) })) };
    const worker = new BenchWorker(`${role === "publishers" ? "publisher" : "subscriber"} worker ${w + 1}`, init, {
      log: (text) => reporter.printer.writer.writeSync(new TextEncoder().encode(text)),
      dropped: (m) => dropped.has(m.index) || dropped.set(m.index, { at: m.at, leg: m }),
      died: stopPublishing,
    });
    all.push(worker);
    return worker;
  };
  const crew = (role: "publishers" | "subscribers", n: number): Crew => {
    const members = spread(n);
    return { members, workers: members.map((m, w) => spawn(role, w, m)) };
  };
  let pubs: Crew = { workers: [], members: [] };
  try {
    if (mode === "sharded") await requireSharded(nodes[0]!.cmd);
    const before = await readFacts(wiring);
    const subs = crew("subscribers", S);
    pubs = crew("publishers", P);
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
    signal.addEventListener("abort", stopPublishing, { once: true });
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
      signal.removeEventListener("abort", stopPublishing);
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
      subscribers: Array.from({ length: S }, (_, s): SubscriberResult => {
        const f = subFigures.get(s);
        const drop = dropped.get(s);
        const sample = drop?.leg.clientId === undefined
          ? undefined
          : sampler.last.get(omemKey(drop.leg.node, drop.leg.clientId));
        const stallFor = s === 0 && options.stallMs ? { from: 0, ms: options.stallMs } : undefined;
        const fellBehind = drop !== undefined &&
          classifyOutage(before.get(drop.leg.node)!, after.get(drop.leg.node)!, {
              at: drop.at,
              ...(sample ? { sample } : {}),
              ...(stallFor ? { stall: stallFor } : {}),
            }).kind === "fell_behind";
        const counts = f ? countAgainst(f.tally, publishedCounts) : deadCounts(counters, s, publishedCounts);
        return {
          ...counts,
          flowingMs: f?.firstAt === undefined ? 0 : f.lastAt! - f.firstAt,
          dropped: drop !== undefined,
          fellBehind,
          died: f === undefined,
        };
      }),
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

/** `n` shared out among `parts`: the first ones get one more when it does not divide. */
function share(n: number, parts: number): number[] {
  return Array.from({ length: parts }, (_, i) => Math.floor(n / parts) + (i < n % parts ? 1 : 0));
}

/** `n` members dealt round-robin to at most {@linkcode MAX_WORKERS} workers: the members of each. */
function spread(n: number): number[][] {
  const workers = Math.min(n, MAX_WORKERS);
  return Array.from(
    { length: workers },
    (_, w) => Array.from({ length: Math.ceil((n - w) / workers) }, (_, k) => w + k * workers),
  );
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

/** The counts of a subscriber whose worker died, from the shared counters: what it received and how many distinct. */
function deadCounts(counters: Counters, s: number, published: readonly number[]): TallyCounts {
  const unique = counters.unique(s), received = counters.received(s);
  const total = published.reduce((a, b) => a + b, 0);
  return {
    received,
    unique,
    lost: Math.max(0, total - unique),
    duplicates: received - unique,
    reordered: 0,
    foreign: 0,
  };
}

/** The largest clock error of any worker: its offset from the main thread plus half the trip, µs. */
function clockError(workers: BenchWorker[]): number | undefined {
  const errors = workers.flatMap((w) => w.clock ? [Math.abs(w.clock.offsetUs) + w.clock.tripUs / 2] : []);
  return errors.length ? Math.max(...errors) : undefined;
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
