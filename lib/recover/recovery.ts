/**
 * One recoverable channel as a subscriber follows it: the epoch and last
 * offset delivered; after a gap (an outage, a message past the next offset,
 * a new epoch) it reads what it missed from the history and delivers it in
 * order, exactly once, before the live messages that came meanwhile — and
 * says how many the history no longer had, and why.
 *
 * @module
 */
import type { Numbered } from "./history.ts";
import type { HistoryEntry, HistoryMeta } from "./history_reader.ts";

/** Why messages could not be recovered. */
export type LossReason = "older than the history" | "epoch changed (history lost)" | "history deleted";

/** Messages a subscriber missed and could not get back. */
export interface Loss {
  /** The channel. */
  channel: string;
  /** How many, when known (an epoch changed with no word of how far the old one went: unknown). */
  count: number | undefined;
  /** Why. */
  reason: LossReason;
}

/** A message delivered, live or recovered. */
export interface Delivered extends Numbered {
  /** Read back from the history rather than received live. */
  recovered: boolean;
}

/** Where a channel's history is read. */
export interface HistorySource {
  /** The channel's meta, or undefined when there is none. */
  meta(channel: string): Promise<HistoryMeta | undefined>;
  /** The entries of offsets `from`..`to` still kept, at most `count`. */
  range(channel: string, from: number, to: number, count: number): Promise<HistoryEntry[]>;
  /** Whether the channel's history stream exists. */
  exists(channel: string): Promise<boolean>;
}

/** Rounds of one recovery at most (each reads the meta, the missed range, then what came live meanwhile). */
const MAX_ROUNDS = 20;

/**
 * Live messages held during a recovery at most: past it the newest are let go, the history has them too (read in the
 * next round), so memory stays bounded however fast the channel is.
 */
export const MAX_HELD = 10_000;

/**
 * The recovery of one channel.
 *
 * @example
 * ```ts ignore
 * const r = new ChannelRecovery("news", source, (m) => print(m), (loss) => warn(loss));
 * r.begin(await source.meta("news")); // before subscribing
 * // each live message: r.live(openEnvelope(payload)!); after an outage: await r.recover();
 * ```
 */
export class ChannelRecovery {
  /** The epoch followed, once known. */
  epoch: string | undefined;
  /** The last offset delivered in {@linkcode epoch} (0: none). */
  last = 0;
  /** Messages delivered from the history. */
  recovered = 0;
  /** Live messages dropped because they had been delivered (recovered) already. */
  duplicates = 0;
  readonly #buffer: Numbered[] = [];
  readonly #pastEpochs = new Set<string>();
  #running: Promise<void> | undefined;
  #again = false;
  #topSeen: number | undefined;
  readonly #batch: number;

  /**
   * @param channel the channel
   * @param source where its history is read
   * @param deliver called for each message, in order, once
   * @param onLoss called for each loss, as found
   * @param batch messages read per round trip
   */
  constructor(
    readonly channel: string,
    private readonly source: HistorySource,
    private readonly deliver: (m: Delivered) => void,
    private readonly onLoss: (loss: Loss) => void,
    batch = 1000,
  ) {
    this.#batch = batch;
  }

  /**
   * Starts from where the history stands (read before subscribing: what is published from then on is delivered), or
   * from a position saved by an earlier run (what was published since is recovered).
   *
   * @param meta the channel's epoch and last offset, or undefined when it has none yet
   */
  begin(meta: Pick<HistoryMeta, "epoch" | "offset"> | undefined): void {
    this.epoch = meta?.epoch;
    this.last = meta?.offset ?? 0;
  }

  /** Whether a recovery is going on. */
  get recovering(): boolean {
    return this.#running !== undefined;
  }

  /**
   * A message received live: delivered if it is the next one, dropped if delivered already, else held while what
   * came before it is read from the history.
   *
   * @param m the message with its offset and epoch
   */
  live(m: Numbered): void {
    if (this.#running) {
      if (this.#buffer.length < MAX_HELD) this.#buffer.push(m);
      else this.#again = true; // read from the history in the next round
      return;
    }
    if (this.epoch === undefined) this.epoch = m.epoch;
    if (m.epoch === this.epoch && m.offset <= this.last) {
      this.duplicates++;
    } else if (m.epoch === this.epoch && m.offset === this.last + 1) {
      this.last = m.offset;
      this.deliver({ ...m, recovered: false });
    } else if (this.#pastEpochs.has(m.epoch)) {
      this.duplicates++; // of an epoch given up already: counted lost or delivered
    } else {
      this.#buffer.push(m);
      void this.recover().catch(() => {}); // a failed read is tried again by the next restore or check
    }
  }

  /**
   * Reads what was missed since the last message delivered and delivers it, then the live messages held meanwhile.
   * A call while one runs makes it go round once more.
   *
   * @returns when this channel is caught up
   * @throws what reading the history failed with (the held messages stay held for the next try)
   */
  recover(): Promise<void> {
    if (this.#running) {
      this.#again = true;
      return this.#running;
    }
    this.#running = this.#run().finally(() => (this.#running = undefined));
    return this.#running;
  }

  /**
   * A periodic look at the history's last offset: recovers when it has stayed past what was delivered since the
   * last look (a message lost with no later one to show the gap, an outage whose end went unnoticed).
   */
  async check(): Promise<void> {
    if (this.#running) return;
    const meta = await this.source.meta(this.channel);
    if (this.#running || meta === undefined) return;
    const behind = meta.epoch !== this.epoch || (this.#topSeen !== undefined && this.#topSeen > this.last);
    this.#topSeen = meta.epoch === this.epoch ? meta.offset : undefined;
    if (behind) await this.recover();
  }

  async #run(): Promise<void> {
    for (let round = 0; round < MAX_ROUNDS; round++) {
      this.#again = false;
      const meta = await this.source.meta(this.channel);
      if (meta === undefined) break; // gone, nothing published since: the next message starts the new epoch
      if (meta.epoch !== this.epoch) this.#newEpoch(meta);
      await this.#catchUp(meta);
      if (this.#flush() && !this.#again) return;
    }
    // Bounded: whatever is still held goes out as it came.
    for (const m of this.#buffer.splice(0)) {
      if (m.epoch === this.epoch && m.offset <= this.last) continue;
      this.epoch = m.epoch;
      this.last = m.offset;
      this.deliver({ ...m, recovered: false });
    }
  }

  #newEpoch(meta: HistoryMeta): void {
    if (this.epoch !== undefined) {
      this.#pastEpochs.add(this.epoch);
      const count = meta.prevEpoch === this.epoch ? Math.max(0, meta.prevOffset! - this.last) : undefined;
      if (count !== 0) this.onLoss({ channel: this.channel, count, reason: "epoch changed (history lost)" });
    }
    this.epoch = meta.epoch;
    this.last = 0;
    this.#topSeen = undefined;
  }

  async #catchUp(meta: HistoryMeta): Promise<void> {
    while (this.last < meta.offset) {
      const entries = await this.source.range(this.channel, this.last + 1, meta.offset, this.#batch);
      if (entries.length === 0 && meta.limit !== "age" && !(await this.source.exists(this.channel))) {
        this.onLoss({ channel: this.channel, count: meta.offset - this.last, reason: "history deleted" });
        this.last = meta.offset;
        break;
      }
      const first = entries[0]?.offset ?? meta.offset + 1;
      if (first > this.last + 1) this.#lost(this.last + 1, first - 1, meta);
      for (const e of entries) {
        if (e.offset <= this.last) continue;
        this.last = e.offset;
        this.recovered++;
        this.deliver({ offset: e.offset, epoch: meta.epoch, payload: e.payload, recovered: true });
      }
      if (entries.length === 0) this.last = meta.offset;
    }
  }

  /** Offsets `from`..`to` are gone: those below where the stream last started went with it, the others were trimmed. */
  #lost(from: number, to: number, meta: HistoryMeta): void {
    const deleted = meta.limit === "age" ? 0 : Math.max(0, Math.min(to, meta.since - 1) - from + 1);
    if (deleted > 0) this.onLoss({ channel: this.channel, count: deleted, reason: "history deleted" });
    const trimmed = to - from + 1 - deleted;
    if (trimmed > 0) this.onLoss({ channel: this.channel, count: trimmed, reason: "older than the history" });
  }

  /** Delivers the held live messages that now follow on; true when none is left waiting for a gap. */
  #flush(): boolean {
    const held = this.#buffer.splice(0);
    for (const [i, m] of held.entries()) {
      if (m.epoch === this.epoch && m.offset <= this.last) this.duplicates++;
      else if (m.epoch === this.epoch && m.offset === this.last + 1) {
        this.last = m.offset;
        this.deliver({ ...m, recovered: false });
      } else if (this.#pastEpochs.has(m.epoch)) this.duplicates++;
      else {
        this.#buffer.push(...held.slice(i));
        return false;
      }
    }
    return true;
  }
}
