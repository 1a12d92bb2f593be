/**
 * What a stream consumer does with an entry that cannot be handled as
 * delivered (no payload, not an event, its schema, or a handler's
 * MalformedEventError): it reads the entry again by id (XRANGE, twice when
 * it agrees) before it dead-letters it. When the stream holds something
 * else, the bytes were damaged in transit: the stored copy is handled instead
 * (counted as `damaged_in_transit`, never dead-lettered for it). When the
 * read fails, or keeps differing, the entry stays pending, to be retried
 * after the claim time.
 *
 * @module
 */
import type { Reporter } from "../core/output.ts";
import type { Commands } from "../endpoint/link.ts";
import { message } from "../streams/lane_reader.ts";
import { readAgain, type Reread } from "../streams/reread.ts";
import { logNote, shouldLog } from "./handler_runner.ts";

/**
 * How many times an entry that keeps looking unreadable is read again by id
 * before it is left pending instead: a copy read again may itself be damaged.
 */
const MAX_REREADS = 3;

/** An entry as a consumer took it, with where its figures are counted. */
export interface CheckedEntry {
  /** Its stream and that stream's figures. */
  readonly route: { readonly stream: string; readonly stats: { malformed: number; damagedInTransit: number } };
  /** The entry as delivered (or as read again). */
  readonly entry: { readonly id: string; readonly fields: Record<string, string> };
  /** How many times it was read again by id after it looked unreadable (0: as delivered). */
  readonly rereads: number;
}

/** What becomes of an entry checked. */
export interface CheckOutcomes<D extends CheckedEntry> {
  /** It is unreadable in the stream too: to the dead letters. */
  deadLetter(d: D, reason: string): Promise<void>;
  /** The stream holds another copy: handle that one (`rereads` one more). */
  handleStored(d: D, fields: Record<string, string>): void | Promise<void>;
  /** Neither could be told: leave it pending, to be claimed again. */
  leavePending(d: D): void;
}

/** Checks unreadable entries against the stream. */
export class UnreadableEntries<D extends CheckedEntry> {
  #leftPending = 0;

  /**
   * Creates an UnreadableEntries.
   *
   * @param redis where the entries are read again
   * @param reporter where entries damaged in transit, or left pending, are said
   * @param claimAfterMs the claim time, for the message
   * @param outcomes what to do with each
   */
  constructor(
    private readonly redis: Commands,
    private readonly reporter: Reporter,
    private readonly claimAfterMs: number,
    private readonly outcomes: CheckOutcomes<D>,
  ) {}

  /**
   * Reads the entry again and settles it.
   *
   * @param d the entry
   * @param reason why it looked unreadable
   */
  async check(d: D, reason: string): Promise<void> {
    const { route, entry } = d;
    let again: Reread;
    try {
      again = await readAgain(this.redis, route.stream, entry);
    } catch (err) {
      return this.#leavePending(d, `could not be read again to check it (${message(err)})`, reason);
    }
    if (again.verdict !== "differs") {
      route.stats.malformed++;
      return await this.outcomes.deadLetter(d, reason);
    }
    if (d.rereads >= MAX_REREADS) return this.#leavePending(d, `read ${d.rereads + 1} times differently`, reason);
    if (d.rereads === 0) this.#damaged(d, reason); // counted once per entry, however many reads it took
    return await this.outcomes.handleStored(d, again.stored);
  }

  /** Counts an entry that arrived damaged, and says so (the first ten, then every thousandth). */
  #damaged({ route, entry }: D, reason: string): void {
    const count = ++route.stats.damagedInTransit;
    if (!shouldLog(count)) return;
    this.reporter.warn(
      `Entry ${entry.id} of ${route.stream} arrived damaged in transit (${reason}) but is intact in the stream: ` +
        `the server or the network changed bytes of the reply; handling the stored copy instead.` + logNote(count),
    );
  }

  /** Leaves an entry that looked unreadable pending (not dead-lettered), to be retried after the claim time. */
  #leavePending(d: D, what: string, reason: string): void {
    this.outcomes.leavePending(d);
    if (!shouldLog(++this.#leftPending)) return;
    this.reporter.warn(
      `Entry ${d.entry.id} of ${d.route.stream} looked unreadable (${reason}) but ${what}; it stays pending and is ` +
        `retried after ${this.claimAfterMs / 1000} s.` + logNote(this.#leftPending),
    );
  }
}
