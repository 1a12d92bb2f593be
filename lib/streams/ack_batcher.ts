/**
 * Acknowledging in batches: the XACKs queued in one turn of the event loop
 * go out as one `XACK` per stream; one that fails leaves its entries pending,
 * to be delivered again after the claim time (at least once still holds).
 *
 * @module
 */
import type { Reporter } from "../core/output.ts";
import type { Commands } from "../endpoint/link.ts";
import { message } from "./lane_reader.ts";

/** Where a {@linkcode AckBatcher} sends, and what it says. */
export interface AckOptions {
  /** The consumer group. */
  group: string;
  /** XACK goes here. */
  commands: Commands;
  /** Sends each XACK (e.g. a link's `throughFailover`: on a cluster, again while its slot fails over). */
  retry: <T>(command: () => Promise<T>) => Promise<T>;
  /** Where a failed XACK is reported. */
  reporter: Reporter;
  /** Called after each XACK, sent or failed, with the ids it carried. */
  settled(stream: string, ids: readonly string[]): void;
}

/** Queues acknowledgements and sends them together. */
export class AckBatcher {
  #acks = new Map<string, string[]>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #flushing: Promise<void> = Promise.resolve();

  /**
   * Creates an AckBatcher.
   *
   * @param o where it sends
   */
  constructor(private readonly o: AckOptions) {}

  /**
   * Queues an XACK of `id`; it goes out at the end of this turn of the event loop.
   *
   * @param stream the entry's stream
   * @param id the entry's id
   */
  ack(stream: string, id: string): void {
    const ids = this.#acks.get(stream);
    if (ids) ids.push(id);
    else this.#acks.set(stream, [id]);
    this.#timer ??= setTimeout(() => this.flush(), 0);
  }

  /** Sends what is queued now. */
  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#acks.size === 0) return;
    const batch = this.#acks;
    this.#acks = new Map();
    const { group, commands, retry, reporter } = this.o;
    const sent = [...batch].map(async ([stream, ids]) => {
      try {
        await retry(() => commands.xack(stream, group, ...ids));
      } catch (err) {
        // Still pending: redelivered after the claim time, so at least once still holds.
        reporter.warn(`XACK of ${ids.length} entr(ies) of ${stream} failed (${message(err)}).`);
      } finally {
        this.o.settled(stream, ids);
      }
    });
    this.#flushing = Promise.all([this.#flushing, ...sent]).then(() => {});
  }

  /** Resolves when every XACK sent so far is answered (or failed). */
  sent(): Promise<void> {
    return this.#flushing;
  }

  /** Drops the timer of what is queued (nothing more is sent unless {@linkcode flush} is called). */
  close(): void {
    clearTimeout(this.#timer);
  }
}
