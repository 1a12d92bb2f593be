/**
 * Small timing helpers: an abortable delay and a deadline for a promise.
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
 * console.assert(await withTimeout(Promise.resolve(1), 100, () => new Error("late")) === 1);
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
