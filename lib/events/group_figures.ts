/**
 * A consumer group's figures for the metrics: its pending count and lag as
 * the server reports them, and the length of each stream's dead letters,
 * read every few seconds while the consumer runs (a scrape sends no
 * command: it shows what was last read).
 *
 * @module
 */
import type { Redis } from "ioredis";
import { ABORTED, delay, unlessAborted } from "../core/timing.ts";
import type { ServiceMetrics, StreamReading } from "../ops/service_metrics.ts";
import type { StreamConsumer } from "./stream_consumer.ts";
import { deadLetterStream } from "../streams/entry.ts";

/** How often the group's figures are read, in ms. */
export const GROUP_FIGURES_EVERY_MS = 5000;

/**
 * Reads `consumer`'s group figures now and every {@linkcode GROUP_FIGURES_EVERY_MS} until `stop`, and reports the
 * last read in `metrics` (`pubsub_lab_stream_pending`, `_lag`, `_dead_letters`).
 *
 * @param consumer the consumer (its streams and group)
 * @param commands a connection for XLEN (one server's, or the cluster's)
 * @param group the group's name
 * @param metrics where they are reported
 * @param stop ends the reading
 * @returns when `stop` is aborted
 */
export async function reportGroupFigures(
  consumer: StreamConsumer,
  commands: Pick<Redis, "xlen">,
  group: string,
  metrics: ServiceMetrics,
  stop: AbortSignal,
): Promise<void> {
  let last: StreamReading[] = [];
  metrics.watchStreams(() => last);
  while (!stop.aborted) {
    const topics = await consumer.serverStats(stop);
    // Asked only when the server just answered (pending known): else XLEN would wait in the offline queue.
    const dead = await unlessAborted(
      Promise.all(
        topics.map((t) => t.pending === null ? null : commands.xlen(deadLetterStream(t.topic)).catch(() => null)),
      ),
      stop,
    );
    if (dead === ABORTED) return;
    last = topics.map((t, i) => ({ stream: t.topic, group, pending: t.pending, lag: t.lag, deadLetters: dead[i]! }));
    await delay(GROUP_FIGURES_EVERY_MS, stop);
  }
}
