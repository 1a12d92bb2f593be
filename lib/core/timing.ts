/**
 * Small timing helpers: an abortable delay, a wait until a moment that is
 * kept to a tenth of a millisecond, and a deadline for a promise.
 *
 * @module
 */

/**
 * Waits `ms` milliseconds, or less when `signal` aborts.
 *
 * @param ms how long to wait
 * @param signal stops the wait early (without throwing)
 * @returns resolves when the time is up or the signal aborts
 * @example
 * ```ts
 * import { delay } from "./timing.ts";
 * await delay(5);
 * ```
 */
export function delay(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, Math.max(0, ms));
    signal?.addEventListener("abort", done, { once: true });
  });
}

/**
 * How much of a wait {@linkcode waitUntil} leaves to a timer's lateness: under Deno 2 a `setTimeout` fires 1.1–1.4 ms
 * after its time, and one of less than 2 ms takes about 2.1 ms (measured on the 2-core machine of the benchmarks).
 */
const TIMER_LATENESS_MS = 2.5;

/** What `Atomics.wait` sleeps on: a futex nobody wakes, so it returns when its timeout is up. */
const SLEEPER = new Int32Array(new SharedArrayBuffer(4));

/** How late `Atomics.wait` returns (the kernel's timer slack and the wake-up): about 0.08 ms, measured as above. */
const SLEEP_LATENESS_MS = 0.08;

/**
 * Waits until `performance.now()` reaches `at`, give or take 0.1 ms: a
 * timer for all but the last {@linkcode TIMER_LATENESS_MS}, then a sleep of
 * the thread (`Atomics.wait`, no CPU) for the rest — so for at most 2.5 ms
 * the event loop does nothing else. What a paced publisher needs: with
 * timers alone, `--rate 1000` sends two messages every 2 ms instead of one
 * every millisecond. Not for a process that also receives on the same
 * thread (bench.ts's subscribers would read up to 2.5 ms late).
 *
 * @param at the moment, on `performance.now()`'s clock
 * @param signal stops the wait early (without throwing; the last 2.5 ms are not cut short)
 * @returns resolves at `at`, or when the signal aborts
 * @example
 * ```ts
 * import { waitUntil } from "./timing.ts";
 * import assert from "node:assert/strict";
 * const at = performance.now() + 3;
 * await waitUntil(at);
 * assert.ok(performance.now() >= at - 0.1); // never early; how late it wakes depends on the machine
 * ```
 */
export async function waitUntil(at: number, signal?: AbortSignal): Promise<void> {
  const timed = at - performance.now() - TIMER_LATENESS_MS;
  if (timed > 0) await delay(timed, signal);
  if (signal?.aborted) return;
  const rest = at - performance.now();
  if (rest > SLEEP_LATENESS_MS) Atomics.wait(SLEEPER, 0, 0, Math.min(rest, TIMER_LATENESS_MS) - SLEEP_LATENESS_MS);
}

/**
 * Races a promise against a deadline.
 *
 * @param promise the work
 * @param ms the deadline in milliseconds
 * @param onTimeout makes the error thrown when the deadline passes
 * @returns the promise's value
 * @throws the error from `onTimeout` when the deadline passes first
 * @example
 * ```ts
 * import { withTimeout } from "./timing.ts";
 * import assert from "node:assert/strict";
 * assert.equal(await withTimeout(Promise.resolve(1), 100, () => new Error("late")), 1);
 * ```
 */
export async function withTimeout<T>(promise: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Resolves when `signal` aborts (at once if it already has).
 *
 * @param signal the signal to wait for
 * @returns resolves on abort, never rejects
 * @example
 * ```ts
 * import { whenAborted } from "./timing.ts";
 * await whenAborted(AbortSignal.abort());
 * ```
 */
export function whenAborted(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    signal.addEventListener("abort", () => resolve(), { once: true });
  });
}

/**
 * Runs `action` once when `signal` aborts — at once when it already has: a listener added after the abort would
 * never fire (a Ctrl+C while a script was still connecting went unheard that way) — until the handle is disposed.
 *
 * @param signal the signal, if any
 * @param action what to do on abort
 * @returns a handle that removes the listener
 * @example
 * ```ts
 * import { onAbort } from "./timing.ts";
 * import assert from "node:assert/strict";
 * let ran = 0;
 * using _already = onAbort(AbortSignal.abort(), () => ran++);
 * const later = new AbortController();
 * {
 *   using _gone = onAbort(later.signal, () => ran++);
 * }
 * later.abort();
 * assert.equal(ran, 1);
 * ```
 */
export function onAbort(signal: AbortSignal | undefined, action: () => void): Disposable {
  if (signal?.aborted) action();
  if (!signal || signal.aborted) return { [Symbol.dispose]() {} };
  signal.addEventListener("abort", action, { once: true });
  return { [Symbol.dispose]: () => signal.removeEventListener("abort", action) };
}

/** What {@linkcode unlessAborted} resolves with when the signal came first. */
export const ABORTED: unique symbol = Symbol("aborted");

/**
 * Waits for `work`, or stops waiting as soon as `signal` aborts (Ctrl+C while connecting): the work itself goes on,
 * and may reject unheard. The listener on the signal is removed either way.
 *
 * @param work what to wait for
 * @param signal the stop signal, if any
 * @returns the work's value, or {@linkcode ABORTED}
 * @example
 * ```ts
 * import { ABORTED, unlessAborted } from "./timing.ts";
 * import assert from "node:assert/strict";
 * assert.equal(await unlessAborted(new Promise(() => {}), AbortSignal.abort()), ABORTED);
 * assert.equal(await unlessAborted(Promise.resolve(1)), 1);
 * ```
 */
export async function unlessAborted<T>(work: Promise<T>, signal?: AbortSignal): Promise<T | typeof ABORTED> {
  if (!signal) return await work;
  if (signal.aborted) {
    work.catch(() => {});
    return ABORTED;
  }
  let onAbort = () => {};
  const aborted = new Promise<typeof ABORTED>((resolve) => (onAbort = () => resolve(ABORTED)));
  signal.addEventListener("abort", onAbort, { once: true });
  try {
    return await Promise.race([work, aborted]);
  } finally {
    signal.removeEventListener("abort", onAbort);
    work.catch(() => {});
  }
}
