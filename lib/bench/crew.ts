/**
 * The workers of a run: its subscribers and publishers dealt to workers
 * (one each, up to {@linkcode MAX_WORKERS} of a role; beyond, a worker holds
 * several, round-robin), each started with its part of the run.
 *
 * @module
 */
import type { Reporter } from "../core/output.ts";
import { BenchWorker } from "./bench_worker.ts";
import { CLOCK_BYTES } from "./clock.ts";
import type { Counters, FromWorker, InitMessage, RunShape } from "./worker_protocol.ts";
import type { Wiring } from "./wiring.ts";

/** The most workers of each role; beyond, a worker holds several publishers (or subscribers), dealt round-robin. */
export const MAX_WORKERS = 8;

/** A role's workers and the members each holds. */
export interface Crew {
  /** The workers. */
  workers: BenchWorker[];
  /** The publisher ids (or subscriber indexes) each holds. */
  members: number[][];
}

/** What starting a run's workers needs. */
export interface CrewOptions {
  /** Where their connections go. */
  wiring: Wiring;
  /** The run's shape. */
  shape: RunShape;
  /** The shared counters. */
  counters: Counters;
  /** Where their lines go. */
  reporter: Reporter;
  /** A subscriber's connection was closed by the server. */
  dropped: (m: Extract<FromWorker, { type: "dropped" }>) => void;
  /** A worker died. */
  died: () => void;
  /** A test's fault: that worker throws this long after publishing starts. */
  crashWorker?: { role: "publishers" | "subscribers"; index: number; afterMs: number };
}

/**
 * Starts the workers of `count` members of a role.
 *
 * @param role publishers or subscribers
 * @param count how many
 * @param o the run's wiring, shape, counters and what to do with the workers' events
 * @returns the workers (starting: wait for each to say `ready`)
 */
export function startCrew(role: "publishers" | "subscribers", count: number, o: CrewOptions): Crew {
  const members = spread(count);
  const workers = members.map((m, w) => {
    const base = { type: "init" as const, shape: o.shape, counters: o.counters.shared };
    const crash = o.crashWorker?.role === role && o.crashWorker.index === w
      ? { crashAfterMs: o.crashWorker.afterMs }
      : {};
    const clock = new SharedArrayBuffer(CLOCK_BYTES);
    const init: InitMessage = role === "publishers"
      ? { ...base, ...crash, clock, role, members: m.map((id) => ({ id, plan: o.wiring.publisher(id) })) }
      : { ...base, ...crash, clock, role, members: m.map((index) => ({ index, legs: o.wiring.subscriber(index) })) };
    return new BenchWorker(`${role === "publishers" ? "publisher" : "subscriber"} worker ${w + 1}`, init, {
      log: (text) => o.reporter.printer.writer.writeSync(new TextEncoder().encode(text)),
      dropped: o.dropped,
      died: o.died,
    });
  });
  return { members, workers };
}

/**
 * `n` shared out among `parts`: the first ones get one more when it does not divide.
 *
 * @param n how many
 * @param parts among how many
 * @returns each part's share
 * @example
 * ```ts
 * import { share } from "./crew.ts";
 * import assert from "node:assert/strict";
 * assert.equal(share(7, 3).join(), "3,2,2");
 * ```
 */
export function share(n: number, parts: number): number[] {
  return Array.from({ length: parts }, (_, i) => Math.floor(n / parts) + (i < n % parts ? 1 : 0));
}

/**
 * `n` members dealt round-robin to at most {@linkcode MAX_WORKERS} workers.
 *
 * @param n how many members
 * @returns the members of each worker
 * @example
 * ```ts
 * import { spread } from "./crew.ts";
 * import assert from "node:assert/strict";
 * assert.deepEqual(spread(10), [[0, 8], [1, 9], [2], [3], [4], [5], [6], [7]]);
 * ```
 */
export function spread(n: number): number[][] {
  const workers = Math.min(n, MAX_WORKERS);
  return Array.from(
    { length: workers },
    (_, w) => Array.from({ length: Math.ceil((n - w) / workers) }, (_, k) => w + k * workers),
  );
}
