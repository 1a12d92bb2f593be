/**
 * Graceful shutdown on SIGINT (Ctrl+C), SIGTERM (`docker stop`, `kill`) and
 * SIGHUP (the terminal closed): the first signal asks the script to stop; a
 * second one exits at once. The process listens from its start
 * (lib/core/startup.ts), so a signal that comes while the script is still
 * loading or connecting is a stop request too.
 *
 * `deno task` forwards the signals it receives to its child, which, in a
 * terminal, has already had the same Ctrl+C from the terminal itself: one key
 * press arrives twice, a few milliseconds apart. A signal within
 * {@linkcode REPEAT_WINDOW_MS} of the first is that same Ctrl+C, not a second one.
 *
 * @module
 */
import { whenAborted } from "./timing.ts";

/** A stop request a step of the script waits on; dispose it when that step is over. */
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

/** The process's one stop request: aborted by the first signal. */
const processStop = new AbortController();
let firstSignalAt: number | undefined;
let listening = false;
let activeShutdowns = 0;

function onSignal(): void {
  const now = performance.now();
  if (firstSignalAt === undefined) {
    firstSignalAt = now;
    processStop.abort();
  } else if (now - firstSignalAt >= REPEAT_WINDOW_MS) {
    Deno.exit(130);
  }
}

/**
 * Starts listening for SIGINT, SIGTERM and SIGHUP for the rest of the process (once; later calls do nothing). The
 * first signal aborts {@linkcode processStopSignal}; one more, later than {@linkcode REPEAT_WINDOW_MS} after it,
 * exits at once with code 130. lib/core/startup.ts calls it in a script's process before the slow modules (ioredis)
 * are evaluated, so that a Ctrl+C during start-up is a stop request like any other, not the default action of the
 * signal (a silent 130). A process that does not call it (a test) listens only while an {@linkcode onShutdown}
 * handle is open, as a test's sanitizers want.
 *
 * @example
 * ```ts ignore
 * // lib/core/startup.ts, in a script's own process (a test would leak the listeners):
 * import { listenForSignals } from "./shutdown.ts";
 * listenForSignals();
 * ```
 */
export function listenForSignals(): void {
  if (listening) return;
  listening = true;
  for (const sig of SIGNALS) Deno.addSignalListener(sig, onSignal);
}

/**
 * The process's stop request: aborted by the first SIGINT, SIGTERM or SIGHUP since {@linkcode listenForSignals}.
 *
 * @returns the signal (never aborted in a process that does not listen)
 * @example
 * ```ts
 * import { processStopSignal } from "./shutdown.ts";
 * import assert from "node:assert/strict";
 * assert.equal(processStopSignal(), processStopSignal());
 * ```
 */
export function processStopSignal(): AbortSignal {
  return processStop.signal;
}

/**
 * Whether a {@linkcode Shutdown} is open now: some step of the script will act on a stop request. When none is, a
 * stop request has nobody to act on it, and runScript (cli.ts) stops the script itself.
 *
 * @returns true while at least one {@linkcode onShutdown} handle is not disposed
 * @example
 * ```ts
 * import { onShutdown, shutdownHandled } from "./shutdown.ts";
 * import assert from "node:assert/strict";
 * {
 *   using _shutdown = onShutdown();
 *   assert.ok(shutdownHandled());
 * }
 * assert.ok(!shutdownHandled());
 * ```
 */
export function shutdownHandled(): boolean {
  return activeShutdowns > 0;
}

/**
 * A stop request for one step of a script: its `signal` aborts with the
 * process's first SIGINT, SIGTERM or SIGHUP (also one that came before this
 * call, while the script was starting), or when `outer` aborts. One more
 * signal, later than {@linkcode REPEAT_WINDOW_MS} after the first, exits the
 * process at once with code 130 (a server the script started still stops:
 * see local_server.ts).
 *
 * @param outer an extra stop signal (tests use it in place of Ctrl+C)
 * @returns the shutdown handle; dispose it when done
 * @example
 * ```ts
 * import { CLOSING_MS, onShutdown } from "./shutdown.ts";
 * import assert from "node:assert/strict";
 * const stop = new AbortController();
 * using shutdown = onShutdown(stop.signal);
 * stop.abort();
 * await shutdown.requested;
 * assert.ok(shutdown.remaining(5000) <= 5000 - CLOSING_MS);
 * ```
 */
export function onShutdown(outer?: AbortSignal): Shutdown {
  // A process that does not listen from its start (a test, a helper) listens while a handle is open.
  const own = listening ? [] : SIGNALS;
  for (const sig of own) Deno.addSignalListener(sig, onSignal);
  const controller = new AbortController();
  let stoppedAt: number | undefined;
  controller.signal.addEventListener("abort", () => stoppedAt = performance.now(), { once: true });
  const onStop = () => controller.abort();
  for (const stop of [processStop.signal, outer]) {
    stop?.addEventListener("abort", onStop, { once: true });
    if (stop?.aborted) controller.abort();
  }
  activeShutdowns++;
  const requested = whenAborted(controller.signal);
  let disposed = false;
  return {
    signal: controller.signal,
    requested,
    remaining: (graceMs) => Math.max(0, (stoppedAt ?? performance.now()) + graceMs - CLOSING_MS - performance.now()),
    [Symbol.dispose]() {
      if (disposed) return;
      disposed = true;
      activeShutdowns--;
      for (const sig of own) Deno.removeSignalListener(sig, onSignal);
      processStop.signal.removeEventListener("abort", onStop);
      outer?.removeEventListener("abort", onStop);
    },
  };
}
