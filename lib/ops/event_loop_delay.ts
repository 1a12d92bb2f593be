/**
 * The event loop's delay, measured as Deno lets it be: a timer due every
 * {@linkcode SAMPLE_EVERY_MS} notes how late it fires. prom-client's own
 * event-loop metrics use Node's `monitorEventLoopDelay`, which under Deno
 * 2.9 does not see a blocked loop (measured: 60 ms blocks, its max said
 * 0.013 ms), so they are left out for this one.
 *
 * @module
 */
import type { Histogram } from "prom-client";

/** How often the loop is sampled, in ms: 50 wake-ups a second, a few microseconds each. */
export const SAMPLE_EVERY_MS = 20;

/** Bucket bounds in seconds: from a millisecond (a busy loop) to 2.5 s (a loop stuck on something). */
export const EVENT_LOOP_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

/**
 * Samples the event loop's delay into `histogram` until stopped. The timer
 * does not keep the process alive.
 *
 * @param histogram where each sample goes, in seconds
 * @returns a function that stops sampling
 * @example
 * ```ts
 * import { Histogram, Registry } from "prom-client";
 * import { EVENT_LOOP_BUCKETS, sampleEventLoopDelay } from "./event_loop_delay.ts";
 * const histogram = new Histogram({ name: "delay_seconds", help: "x", buckets: EVENT_LOOP_BUCKETS, registers: [new Registry()] });
 * const stop = sampleEventLoopDelay(histogram);
 * await new Promise((resolve) => setTimeout(resolve, 100));
 * stop();
 * ```
 */
export function sampleEventLoopDelay(histogram: Histogram): () => void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const arm = () => {
    const due = performance.now() + SAMPLE_EVERY_MS;
    const next = setTimeout(() => {
      histogram.observe(Math.max(0, performance.now() - due) / 1000);
      arm();
    }, SAMPLE_EVERY_MS);
    Deno.unrefTimer(next);
    timer = next;
  };
  arm();
  return () => clearTimeout(timer);
}
