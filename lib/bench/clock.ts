/**
 * One clock for every worker of a run: each thread stamps and reads times as
 * `performance.timeOrigin + performance.now()` (epoch ms, to the
 * microsecond). Every worker has a time origin of its own (taken when it
 * starts), so that a send time written in one worker is comparable with a
 * receive time read in another only as far as the origins agree with the
 * wall clock; {@linkcode pingClock} and {@linkcode answerClock} measure how
 * far: the main thread and a worker exchange stamps over shared memory,
 * spinning (no event loop, no message passing), and the offset of the
 * round with the shortest trip bounds the error. Measured on the 2-core
 * machine: offsets within ±1 µs, trips of 0.2–1 µs, so the clock adds about
 * a microsecond to one-way latencies of a hundred and more.
 *
 * @module
 */

/** Rounds of a measurement. */
const ROUNDS = 200;
/** A side gives up when the other has not answered for this long (a thread not scheduled, a worker gone). */
const PATIENCE_MS = 100;

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

/** Spins until the flag reads `want` or PATIENCE_MS pass; false when it did not. */
function spinFor(flag: Int32Array, want: number): boolean {
  const until = performance.now() + PATIENCE_MS;
  while (Atomics.load(flag, 0) !== want) if (performance.now() > until) return false;
  return true;
}

/**
 * The main thread's side: sends a stamp, waits for the worker's, a round at a time; the worker must be in
 * {@linkcode answerClock} on the same memory.
 *
 * @param shared {@linkcode CLOCK_BYTES} of shared memory, zeroed
 * @returns the measurement, or undefined when the worker did not answer
 */
export function pingClock(shared: SharedArrayBuffer): ClockCheck | undefined {
  const flag = new Int32Array(shared, 0, 1), time = new Float64Array(shared, 8, 2);
  let best: ClockCheck | undefined;
  for (let r = 0; r < ROUNDS; r++) {
    const sent = clockNow();
    Atomics.store(flag, 0, 1);
    if (!spinFor(flag, 2)) break;
    const back = clockNow();
    const tripUs = (back - sent) * 1000;
    if (!best || tripUs < best.tripUs) best = { offsetUs: (time[1]! - (sent + back) / 2) * 1000, tripUs };
    Atomics.store(flag, 0, 0);
  }
  Atomics.store(flag, 0, 3); // done: the worker stops answering
  return best;
}

/**
 * The worker's side: answers each of {@linkcode pingClock}'s rounds with its clock.
 *
 * @param shared the memory the main thread pings on
 */
export function answerClock(shared: SharedArrayBuffer): void {
  const flag = new Int32Array(shared, 0, 1), time = new Float64Array(shared, 8, 2);
  for (let r = 0; r < ROUNDS; r++) {
    const until = performance.now() + PATIENCE_MS;
    let seen = Atomics.load(flag, 0);
    while (seen !== 1 && seen !== 3 && performance.now() < until) seen = Atomics.load(flag, 0);
    if (seen !== 1) return;
    time[1] = clockNow();
    Atomics.store(flag, 0, 2);
  }
}
