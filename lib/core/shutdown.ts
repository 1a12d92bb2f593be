/**
 * Graceful shutdown on SIGINT (Ctrl+C) and SIGTERM (`docker stop`): the
 * first signal asks the script to stop; a second one exits at once.
 *
 * @module
 */
import { whenAborted } from "./timing.ts";

/** A stop request the script can wait on; dispose it to remove the signal handlers. */
export interface Shutdown extends Disposable {
  /** Aborted on the first SIGINT/SIGTERM, or when the caller's signal aborts. */
  readonly signal: AbortSignal;
  /** Resolves when a stop is requested. */
  readonly requested: Promise<void>;
}

const SIGNALS: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT", "SIGBREAK"] : ["SIGINT", "SIGTERM"];

/**
 * Listens for SIGINT and SIGTERM. The first one aborts `signal`; a second
 * one exits the process at once with code 130.
 *
 * @param outer an extra stop signal (tests use it in place of Ctrl+C)
 * @returns the shutdown handle; dispose it when done
 * @example
 * ```ts
 * import { onShutdown } from "./shutdown.ts";
 * const stop = new AbortController();
 * using shutdown = onShutdown(stop.signal);
 * stop.abort();
 * await shutdown.requested;
 * ```
 */
export function onShutdown(outer?: AbortSignal): Shutdown {
  const controller = new AbortController();
  const handler = () => {
    if (controller.signal.aborted) Deno.exit(130);
    controller.abort();
  };
  for (const sig of SIGNALS) Deno.addSignalListener(sig, handler);
  const onOuter = () => controller.abort();
  outer?.addEventListener("abort", onOuter, { once: true });
  if (outer?.aborted) controller.abort();
  const requested = whenAborted(controller.signal);
  return {
    signal: controller.signal,
    requested,
    [Symbol.dispose]() {
      for (const sig of SIGNALS) Deno.removeSignalListener(sig, handler);
      outer?.removeEventListener("abort", onOuter);
    },
  };
}
