/**
 * Claiming what a group's consumers left unacknowledged (`XAUTOCLAIM`):
 * entries of a consumer that died, or whose handler failed, taken over after
 * the claim time with their delivery counts, every half claim time.
 *
 * @module
 */
import type { Reporter } from "../core/output.ts";
import { ABORTED, delay, unlessAborted } from "../core/timing.ts";
import type { Commands } from "../endpoint/link.ts";
import { toEntries } from "./entry.ts";
import { deliveryCounts } from "./groups.ts";
import { type EntrySink, message } from "./lane_reader.ts";

/** What a {@linkcode Claimer} claims, and for whom. */
export interface ClaimOptions {
  /** The consumer group. */
  group: string;
  /** The consumer the entries are claimed for. */
  consumer: string;
  /** The streams. */
  streams: readonly string[];
  /** How long an entry sits unacknowledged before it is claimed, in ms. */
  claimAfterMs: number;
  /** Entries per XAUTOCLAIM. */
  batch: number;
  /** XAUTOCLAIM and XPENDING go here. */
  commands: Commands;
  /** Where a failed claim is reported. */
  reporter: Reporter;
  /** Ends the claiming. */
  stop: AbortSignal;
  /** Whether this consumer already has the entry (a claim of it is passed on all the same, counts skipped). */
  taken(stream: string, id: string): boolean;
}

/** Claims stale entries into a sink, until the stop. */
export class Claimer {
  /**
   * Creates a Claimer; nothing is claimed before {@linkcode run}.
   *
   * @param o what to claim, and where
   * @param sink where the claimed entries go
   */
  constructor(private readonly o: ClaimOptions, private readonly sink: EntrySink) {}

  /** Claims every half claim time (20 ms to 5 s) until the stop. */
  async run(): Promise<void> {
    const { claimAfterMs, streams, stop } = this.o;
    const every = Math.min(Math.max(Math.floor(claimAfterMs / 2), 20), 5000);
    while (!stop.aborted) {
      await delay(every, stop);
      for (const stream of streams) {
        if (stop.aborted) return;
        await this.#claimStream(stream);
      }
    }
  }

  async #claimStream(stream: string): Promise<void> {
    const { reporter, stop } = this.o;
    let cursor = "0-0";
    for (let round = 0; round < 100 && !stop.aborted; round++) {
      await this.sink.room();
      if (stop.aborted) return;
      // While the server is gone the claim waits in the offline queue: a stop does not wait for it. Entries it
      // claims after all stay pending under this name, and are claimed again after the claim time.
      const claimed = await unlessAborted(this.#claimBatch(stream, cursor), stop).catch(
        (err): typeof ABORTED => {
          if (!stop.aborted && !/NOGROUP|closed|writeable/i.test(message(err))) {
            reporter.warn(`Claiming the stale entries of ${stream} failed: ${message(err)}`);
          }
          return ABORTED;
        },
      );
      if (claimed === ABORTED) return;
      const { entries, counts } = claimed;
      cursor = claimed.next;
      for (const entry of entries) this.sink.take(stream, entry, counts.get(entry.id) ?? 2, "claimed");
      if (cursor === "0-0") return;
    }
  }

  /** One XAUTOCLAIM from `cursor`, with the delivery counts of the entries claimed that are not already taken. */
  async #claimBatch(stream: string, cursor: string) {
    const { commands, group, consumer, claimAfterMs, batch } = this.o;
    const [next, raw] = (await commands.xautoclaim(
      stream,
      group,
      consumer,
      claimAfterMs,
      cursor,
      "COUNT",
      batch,
    )) as [string, unknown, ...unknown[]];
    const entries = toEntries(raw);
    const live = entries.filter((e) => e.fields !== null && !this.o.taken(stream, e.id));
    const counts = await deliveryCounts(commands, stream, group, live.map((e) => e.id));
    return { next: String(next), entries, counts };
  }
}
