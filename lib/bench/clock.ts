/**
 * One clock for every worker of a run: each thread stamps and reads times as
 * `performance.timeOrigin + performance.now()` (epoch ms, to the
 * microsecond). Every worker has a time origin of its own (taken when it
 * starts), so that a send time written in one worker is comparable with a
 * receive time read in another only as far as the origins agree with the
 * wall clock; {@linkcode pingClock} and {@linkcode answerClock} measure how
 * far: the main thread and a worker exchange stamps over shared memory,
 * spinning (no event loop, no message passing), and the offset of the
 * round with the shortest trip bounds the error. The main thread measures
 * one worker at a time, once all are connected and idle; the others sleep
 * until it comes to them. Measured on the 2-core
 * machine: offsets within ±1 µs, trips of 0.2–1 µs, so the clock adds about
 * a microsecond to one-way latencies of a hundred and more.
 *
 * @module
 */

/** Rounds of a measurement. */
const ROUNDS = 2000;
/** The main thread gives a round up after this long (the worker's thread not scheduled) and tries another. */
const ROUND_PATIENCE_MS = 20;
/** …and the whole measurement after this long. */
const BUDGET_MS = 500;
/** A round this short is as good as it gets (the clock's resolution is about 0.25 µs): the measurement ends. */
const GOOD_TRIP_US = 2;
/** How long a worker waits for the main thread to come to it, and answers once it has. */
const WORKER_PATIENCE_MS = 10_000;
/** The value that tells the worker the measurement is over. */
const DONE = -1;

/** Bytes of shared memory one measurement needs. */
export const CLOCK_BYTES = 24;

/** Now on the one clock: epoch ms, to the microsecond. */
export const clockNow = (): number => performance.timeOrigin + performance.now();

/** What a measurement found. */
export interface ClockCheck {
  /** The worker's clock minus the main thread's, µs, in the round with the shortest trip. */
  offsetUs: number;
  /** That round's trip, µs: the offset is known to within half of it. */
  tripUs: number;
}

/**
 * The main thread's side: round `r` asks with `2r + 1` in the flag and waits for the worker's `2r + 2` (with its
 * time); a round the worker does not answer in time is given up, and its late answer cannot be taken for a later
 * round's. The worker must be in {@linkcode answerClock} on the same memory.
 *
 * @param shared {@linkcode CLOCK_BYTES} of shared memory, zeroed
 * @returns the measurement, or undefined when the worker never answered
 */
export function pingClock(shared: SharedArrayBuffer): ClockCheck | undefined {
  const flag = new Int32Array(shared, 0, 1), time = new Float64Array(shared, 8, 1);
  let best: ClockCheck | undefined;
  const end = performance.now() + BUDGET_MS;
  for (let r = 0; r < ROUNDS && performance.now() < end; r++) {
    const sent = clockNow();
    Atomics.store(flag, 0, 2 * r + 1);
    Atomics.notify(flag, 0); // the worker sleeps until the first round
    const until = performance.now() + ROUND_PATIENCE_MS;
    while (Atomics.load(flag, 0) !== 2 * r + 2 && performance.now() < until) { /* spin */ }
    const back = clockNow();
    if (Atomics.load(flag, 0) !== 2 * r + 2) continue;
    const tripUs = (back - sent) * 1000;
    if (!best || tripUs < best.tripUs) best = { offsetUs: (time[0]! - (sent + back) / 2) * 1000, tripUs };
    if (best.tripUs <= GOOD_TRIP_US && r >= 10) break;
  }
  Atomics.store(flag, 0, DONE);
  Atomics.notify(flag, 0);
  return best;
}

/**
 * The worker's side: answers each of {@linkcode pingClock}'s rounds with its clock, until told it is over.
 *
 * @param shared the memory the main thread pings on
 */
export function answerClock(shared: SharedArrayBuffer): void {
  const flag = new Int32Array(shared, 0, 1), time = new Float64Array(shared, 8, 1);
  // Asleep (no CPU) until the main thread comes to this worker: it measures one worker at a time.
  Atomics.wait(flag, 0, 0, WORKER_PATIENCE_MS);
  const until = performance.now() + WORKER_PATIENCE_MS;
  while (performance.now() < until) {
    const asked = Atomics.load(flag, 0);
    if (asked === DONE || asked === 0) return;
    if (asked % 2 === 0) continue; // answered: wait for the next round
    time[0] = clockNow();
    Atomics.compareExchange(flag, 0, asked, asked + 1); // a newer round may have begun meanwhile: left to answer
  }
}
