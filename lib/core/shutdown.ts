/**
 * Graceful shutdown on SIGINT (Ctrl+C), SIGTERM (`docker stop`, `kill`) and
 * SIGHUP (the terminal closed): the first signal asks the script to stop; a
 * second one exits at once.
 *
 * `deno task` forwards the signals it receives to its child, which, in a
 * terminal, has already had the same Ctrl+C from the terminal itself: one key
 * press arrives twice, a few milliseconds apart. A signal within
 * {@linkcode REPEAT_WINDOW_MS} of the first is that same Ctrl+C, not a second one.
 *
 * @module
 */
import { whenAborted } from "./timing.ts";

/** A stop request the script can wait on; dispose it to remove the signal handlers. */
export interface Shutdown extends Disposable {
  /** Aborted on the first SIGINT/SIGTERM/SIGHUP, or when the caller's signal aborts. */
  readonly signal: AbortSignal;
  /** Resolves when a stop is requested. */
  readonly requested: Promise<void>;
  /**
   * What is left of a grace period of `graceMs` that began with the stop request, less {@linkcode CLOSING_MS} kept
   * for closing the connections at the end: how long the next step of the stop may still wait, so that the script
   * exits within the period whatever the server does. Before a stop request, the whole period less that.
   *
   * @param graceMs the grace period (`--shutdown-timeout`, `--drain-timeout`)
   * @returns milliseconds, never below 0
   */
  remaining(graceMs: number): number;
}

/**
 * What the end of a grace period is kept for: closing the connections (a QUIT answers in a millisecond; a lost
 * connection's close waits 220 ms for ioredis to let go of its socket) and the process's exit.
 */
export const CLOSING_MS = 500;

/** Signals closer together than this (ms) are one stop request: `deno task` delivers a Ctrl+C twice. */
export const REPEAT_WINDOW_MS = 500;

const SIGNALS: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT", "SIGBREAK"] : ["SIGINT", "SIGTERM", "SIGHUP"];

/**
 * Listens for SIGINT, SIGTERM and SIGHUP. The first one aborts `signal`; one
 * more, later than {@linkcode REPEAT_WINDOW_MS} after it, exits the process at
 * once with code 130 (a server the script started still stops: see
 * local_server.ts).
 *
 * @param outer an extra stop signal (tests use it in place of Ctrl+C)
 * @returns the shutdown handle; dispose it when done
 * @example
 * ```ts
 * import { CLOSING_MS, onShutdown } from "./shutdown.ts";
 * const stop = new AbortController();
 * using shutdown = onShutdown(stop.signal);
 * stop.abort();
 * await shutdown.requested;
 * console.assert(shutdown.remaining(5000) <= 5000 - CLOSING_MS);
 * ```
 */
export function onShutdown(outer?: AbortSignal): Shutdown {
  const controller = new AbortController();
  let stoppedAt: number | undefined;
  controller.signal.addEventListener("abort", () => stoppedAt = performance.now(), { once: true });
  let firstAt: number | undefined;
  const handler = () => {
    const now = performance.now();
    if (firstAt === undefined) {
      firstAt = now;
      controller.abort();
    } else if (now - firstAt >= REPEAT_WINDOW_MS) {
      Deno.exit(130);
    }
  };
  for (const sig of SIGNALS) Deno.addSignalListener(sig, handler);
  const onOuter = () => controller.abort();
  outer?.addEventListener("abort", onOuter, { once: true });
  if (outer?.aborted) controller.abort();
  const requested = whenAborted(controller.signal);
  return {
    signal: controller.signal,
    requested,
    remaining: (graceMs) => Math.max(0, (stoppedAt ?? performance.now()) + graceMs - CLOSING_MS - performance.now()),
    [Symbol.dispose]() {
      for (const sig of SIGNALS) Deno.removeSignalListener(sig, handler);
      outer?.removeEventListener("abort", onOuter);
    },
  };
}
