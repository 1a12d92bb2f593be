/**
 * What the workers measured, merged into the run's figures: a subscriber
 * lives in one worker, so its counts of lost, duplicated and reordered
 * messages are its own and exact, counted against what every publisher (each
 * in its worker) had confirmed; a subscriber whose worker died is known only
 * by the shared counters (received and distinct messages). Whether a
 * dropped subscriber fell behind is told as subscriber.ts tells it.
 *
 * @module
 */
import { classifyOutage, type SubscriberFacts } from "../pubsub/drop_cause.ts";
import type { BenchWorker } from "./bench_worker.ts";
import { omemKey } from "./omem_sampler.ts";
import { countAgainst, type TallyCounts } from "./tally.ts";
import type { Counters, LegId, SubscriberFigures } from "./worker_protocol.ts";

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

/** What {@linkcode subscriberResults} merges. */
export interface SubscriberInputs {
  /** The shared counters. */
  counters: Counters;
  /** Confirmed messages per publisher. */
  published: readonly number[];
  /** What each subscriber's worker said it counted, by index (none for a worker that died). */
  figures: ReadonlyMap<number, SubscriberFigures>;
  /** The subscribers the server closed, by index: when, and which connection. */
  dropped: ReadonlyMap<number, { at: number; leg: LegId }>;
  /** Each node's subscriber facts before and after the run. */
  facts: { before: ReadonlyMap<string, SubscriberFacts>; after: ReadonlyMap<string, SubscriberFacts> };
  /** The last output-buffer sample of each subscriber connection (lib/bench/omem_sampler.ts). */
  outputSamples: ReadonlyMap<string, { bytes: number; at: number }>;
  /** How long the first subscriber stalled on purpose, ms. */
  stallMs?: number;
}

/**
 * Each subscriber's figures.
 *
 * @param i what the workers said, and what the main thread saw
 * @param count subscribers in the run
 * @returns the figures, by index
 */
export function subscriberResults(i: SubscriberInputs, count: number): SubscriberResult[] {
  return Array.from({ length: count }, (_, s): SubscriberResult => {
    const f = i.figures.get(s);
    const drop = i.dropped.get(s);
    const sample = drop?.leg.clientId === undefined
      ? undefined
      : i.outputSamples.get(omemKey(drop.leg.node, drop.leg.clientId));
    const stall = s === 0 && i.stallMs ? { from: 0, ms: i.stallMs } : undefined;
    const fellBehind = drop !== undefined &&
      classifyOutage(i.facts.before.get(drop.leg.node)!, i.facts.after.get(drop.leg.node)!, {
          at: drop.at,
          ...(sample ? { sample } : {}),
          ...(stall ? { stall } : {}),
        }).kind === "fell_behind";
    const counts = f ? countAgainst(f.tally, i.published) : deadCounts(i.counters, s, i.published);
    return {
      ...counts,
      flowingMs: f?.firstAt === undefined ? 0 : f.lastAt! - f.firstAt,
      dropped: drop !== undefined,
      fellBehind,
      died: f === undefined,
    };
  });
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

/**
 * The largest clock error of any worker: its offset from the main thread plus half the trip, µs.
 *
 * @param workers the run's workers
 * @returns µs, or undefined when none was measured
 */
export function clockError(workers: readonly BenchWorker[]): number | undefined {
  const errors = workers.flatMap((w) => w.clock ? [Math.abs(w.clock.offsetUs) + w.clock.tripUs / 2] : []);
  return errors.length ? Math.max(...errors) : undefined;
}
