/**
 * Appending to streams so that sending an append again cannot store it twice:
 * what `publisher.ts --stream --retry` needs to append every event exactly
 * once when the server goes away in the middle of a batch.
 *
 * The publisher chooses each entry id (`XADD stream <ms>-<seq>`) instead of
 * letting the server pick one (`*`). A stream refuses an id that is not
 * greater than the last it generated, so an append sent again after an
 * unanswered first try is either stored now (the first try did not land) or
 * refused; refused, the entry at that id is read: if it holds this event, an
 * earlier try had landed — this appender's, or the client library's own (on a
 * cluster ioredis sends a pipeline again by itself when its node's connection
 * closed) — and nothing more is done; if not, no earlier try can land any more
 * (its id is behind the stream's last), and the event is appended under a new
 * id. No server feature is needed (XADD's own `IDMP` arrives with Redis 8.6;
 * Redis 7.0, Valkey 8.0.1 and KeyDB 6.3.4 lack it).
 *
 * The ids are `<ms>-<seq>`, `ms` the publisher's clock (never going back, and
 * moved to the millisecond after the stream's last id when that refused one), `seq`
 * `k × 1,000,000 + r` for the `k`-th id within that millisecond and `r` a
 * random number from 10,000 to 999,999 drawn once per appender. Ids the server
 * makes (`*`: 0, 1, 2… within a millisecond — 10,000 appends in one would be
 * needed to reach `r` — or one more than the last, which after this appender's
 * leaves `r + 1`) and the ids of another appender (another `r`, but for one
 * chance in 990,000) are never this appender's, so an entry found at one of its
 * ids with its payload is its own.
 *
 * After the connection was lost or the slot map changed, the entries appended
 * recently (the last {@linkcode RECHECKED}) are looked up before anything else
 * is sent: a replica that took over may lack the last appends its master
 * confirmed (replication is asynchronous), a server may restart without its
 * data. What is missing is appended again, once.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { ReplyError } from "ioredis";
import { type BatchSender, type Client, type Delivery, type Outgoing, wire } from "../pubsub/publish.ts";
import { CliError, ExitCode } from "../core/exit_codes.ts";
import { PAYLOAD_FIELD } from "./entry.ts";

/** How many of the last confirmed appends are looked up again after an outage. */
export const RECHECKED = 10_000;

/** The step of `seq` between two ids of one appender in the same millisecond. */
const SEQ_STEP = 1_000_000;
/** The smallest `r`: far above the 0, 1, 2… a server numbers `*` appends within one millisecond with. */
const MIN_RESIDUE = 10_000;
/** Lookups per pipeline when checking what is still there. */
const LOOKUPS_PER_ROUND = 1000;
/** Rounds of appends refused because the stream had moved past the ids, before giving up. */
const MAX_REFUSED_ROUNDS = 100;

/** An entry id as two numbers (a seq may exceed 2^53). */
interface IdParts {
  ms: bigint;
  seq: bigint;
}

function parseId(id: string): IdParts {
  const [ms, seq] = id.split("-");
  return { ms: BigInt(ms!), seq: BigInt(seq ?? "0") };
}

/** Whether id `a` is after id `b`. */
function isAfter(a: IdParts, b: IdParts): boolean {
  return a.ms > b.ms || (a.ms === b.ms && a.seq > b.seq);
}

/**
 * The entry ids one appender chooses for one stream: `<ms>-<k × 1,000,000 + r>`,
 * strictly increasing.
 *
 * @example
 * ```ts
 * import { EntryIdClock } from "./idempotent_append.ts";
 * import assert from "node:assert/strict";
 * const clock = new EntryIdClock(123_456);
 * assert.equal(clock.next(5000), "5000-123456");
 * assert.equal(clock.next(5000), "5000-1123456"); // the same millisecond: the next k
 * assert.equal(clock.next(4000), "5000-2123456"); // the clock went back: the ids do not
 * clock.passLast("9000-7");
 * assert.equal(clock.next(5000), "9001-123456"); // past the stream's last id
 * ```
 */
export class EntryIdClock {
  #ms = 0;
  #k = -1;

  /** @param residue `r`: what every seq leaves divided by 1,000,000 */
  constructor(readonly residue: number) {}

  /**
   * The next id.
   *
   * @param now the time in ms
   * @returns `<ms>-<seq>`, greater than every id this clock gave before
   */
  next(now: number = Date.now()): string {
    if (now > this.#ms) {
      this.#ms = now;
      this.#k = 0;
    } else if ((this.#k + 1) * SEQ_STEP + this.residue > Number.MAX_SAFE_INTEGER) {
      this.#ms++;
      this.#k = 0;
    } else {
      this.#k++;
    }
    return `${this.#ms}-${this.#k * SEQ_STEP + this.residue}`;
  }

  /**
   * Moves the clock past `id` (the stream's last id, which refused one of this clock's): the next id is in the
   * millisecond after `id`'s, unless the clock is past that millisecond already. Not within `id`'s millisecond: another
   * writer going on there would refuse the next id again.
   *
   * @param id an entry id
   */
  passLast(id: string): void {
    const ms = Number(parseId(id).ms);
    if (ms < this.#ms) return;
    this.#ms = ms + 1;
    this.#k = -1;
  }
}

/** One event on its way into a stream, with the id it was (or is to be) appended under. */
interface Pending {
  channel: string;
  payload: string | Buffer;
  id: string;
  /** Whether it was sent (under any id): sent and unconfirmed, it may be in the stream. */
  sent: boolean;
  confirmed: boolean;
  /** Its batch was sent again after the server went away while it was unconfirmed. */
  again: boolean;
  /** It had been confirmed, then was missing from the stream: it is being appended again. */
  restoring: boolean;
}

/** What an {@linkcode IdempotentAppender} had to do because the server went away. */
export interface AppendRecovery {
  /** Events unconfirmed when the server went away, sent again. */
  sentAgain: number;
  /** Events whose append was refused and that were found at their id: an earlier try had landed (not appended again). */
  foundAppended: number;
  /** Events confirmed, then missing from the stream after an outage (failover, restart), appended again. */
  restored: number;
  /** The oldest of the rechecked appends was missing too: earlier ones may be missing, not rechecked. */
  restoreIncomplete: boolean;
}

/**
 * A {@linkcode BatchSender} for streams (`sender`) that may be given the same
 * batch again after it failed (`publishSeries` with `resend`): each event is
 * appended once, under an id this appender chose (see the module's notes).
 *
 * @example
 * ```ts ignore
 * const appender = new IdempotentAppender();
 * redis.on("close", () => appender.suspect()); // a server that comes back may not have it all
 * await publishSeries(redis, 1000, make, { rate: 50 }, report, signal, {
 *   send: appender.sender,
 *   resend: true,
 *   onFailure: waitForTheServer,
 * });
 * console.log(appender.recovery);
 * ```
 */
export class IdempotentAppender {
  /** What was sent again, found, restored. */
  readonly recovery: AppendRecovery = { sentAgain: 0, foundAppended: 0, restored: 0, restoreIncomplete: false };
  readonly #residue: number;
  readonly #clocks = new Map<string, EntryIdClock>();
  readonly #batches = new WeakMap<readonly Outgoing[], Pending[]>();
  /** The last confirmed appends, oldest first (the last {@linkcode RECHECKED} of them are rechecked). */
  #recent: Pending[] = [];
  /** Whether confirmed appends were dropped from `#recent` (a recheck does not see them). */
  #forgotten = false;
  /** Confirmed appends found missing, to append again before anything else. */
  #owed: Pending[] = [];
  #suspect = false;
  #recheck: Promise<void> | undefined;

  /** @param residue `r` of the ids (default: random, 10,000 to 999,999) */
  constructor(residue: number = MIN_RESIDUE + Math.floor(Math.random() * (SEQ_STEP - MIN_RESIDUE))) {
    this.#residue = residue;
  }

  /** The connection was lost or the slot map changed: what was appended lately is checked before the next append. */
  suspect(): void {
    this.#suspect = true;
  }

  /** The sender: appends each message to the stream named by its channel; the same batch again is a resend. */
  readonly sender: BatchSender = (redis, messages) => this.#send(redis, messages);

  async #send(redis: Client, messages: readonly Outgoing[]): Promise<Delivery[]> {
    let batch = this.#batches.get(messages);
    const first = !batch;
    if (!batch) {
      batch = messages.map((m) => this.#pending(m.channel, wire(m.payload)));
      this.#batches.set(messages, batch);
    } else {
      for (const p of batch) {
        if (p.confirmed || !p.sent || p.again) continue;
        p.again = true;
        this.recovery.sentAgain++;
      }
    }
    // A batch that comes while another looks things up waits for it: the appends stay in order.
    if (this.#suspect || this.#recheck) {
      try {
        await (this.#recheck ??= this.#findMissing(redis));
      } finally {
        this.#recheck = undefined;
      }
    }
    const owed = this.#owed.splice(0);
    try {
      const unconfirmed = first ? batch : batch.filter((p) => !p.confirmed);
      await this.#append(redis, owed.length === 0 ? unconfirmed : [...owed, ...unconfirmed]);
    } catch (err) {
      this.#owed.unshift(...owed.filter((p) => !p.confirmed));
      if (!(err instanceof ReplyError)) this.#suspect = true;
      throw err;
    }
    this.#batches.delete(messages);
    return batch.map((p) => ({ receivers: 0, entryId: p.id }));
  }

  #pending(channel: string, payload: string | Buffer): Pending {
    let clock = this.#clocks.get(channel);
    if (!clock) this.#clocks.set(channel, clock = new EntryIdClock(this.#residue));
    return { channel, payload, id: clock.next(), sent: false, confirmed: false, again: false, restoring: false };
  }

  /** Appends each (in one pipeline), again under new ids the ones the stream refused because it had moved past. */
  async #append(redis: Client, todo: Pending[]): Promise<void> {
    for (let round = 0; todo.length > 0; round++) {
      if (round === MAX_REFUSED_ROUNDS) {
        throw new CliError(
          ExitCode.Failure,
          `Appending to ${todo[0]!.channel} was refused ${MAX_REFUSED_ROUNDS} times in a row: other writers keep ` +
            "moving the stream past the entry ids this publisher chooses. Run it again, or without --retry (the " +
            "server then chooses the ids).",
        );
      }
      const pipeline = redis.pipeline();
      for (const p of todo) {
        p.sent = true;
        pipeline.xadd(p.channel, p.id, PAYLOAD_FIELD, p.payload);
      }
      const replies = (await pipeline.exec()) ?? [];
      const refused: { pending: Pending; err: Error }[] = [];
      let lost: Error | undefined;
      for (let i = 0; i < todo.length; i++) {
        const p = todo[i]!;
        const [err] = replies[i] ?? [new Error("no reply")];
        if (!err) this.#confirm(p);
        else if (err instanceof ReplyError) refused.push({ pending: p, err });
        else lost ??= err;
      }
      if (lost) throw lost;
      todo = await this.#settleRefused(redis, refused);
    }
  }

  #confirm(p: Pending): void {
    p.confirmed = true;
    if (p.restoring) {
      p.restoring = false;
      this.recovery.restored++;
    }
    this.#recent.push(p);
    // Trimmed now and then, not at every append: between RECHECKED and twice as many are kept.
    if (this.#recent.length >= 2 * RECHECKED) this.#forget();
  }

  /** Keeps only the last {@linkcode RECHECKED} confirmed appends. */
  #forget(): void {
    if (this.#recent.length <= RECHECKED) return;
    this.#recent = this.#recent.slice(-RECHECKED);
    this.#forgotten = true;
  }

  /**
   * For appends the stream refused: those found at their id are confirmed (an earlier try landed); the others, whose id
   * is behind the stream's last, get a new id past it and are returned to be sent again. Any other refusal (wrong type,
   * out of memory…) is thrown.
   */
  async #settleRefused(redis: Client, refused: { pending: Pending; err: Error }[]): Promise<Pending[]> {
    if (refused.length === 0) return [];
    const pipeline = redis.pipeline();
    const channels = [...new Set(refused.map((r) => r.pending.channel))];
    for (const c of channels) pipeline.xinfo("STREAM", c);
    for (const { pending: p } of refused) pipeline.xrangeBuffer(p.channel, p.id, p.id);
    const replies = (await pipeline.exec()) ?? [];
    const lost = replies.find(([err]) => err && !(err instanceof ReplyError));
    if (lost) throw lost[0];
    const lastIds = new Map<string, string>();
    channels.forEach((c, i) => {
      const [err, info] = replies[i] ?? [];
      const last = !err && Array.isArray(info) ? lastGeneratedId(info) : undefined;
      if (last) lastIds.set(c, last);
    });
    const again: Pending[] = [];
    refused.forEach(({ pending: p, err }, i) => {
      const last = lastIds.get(p.channel);
      if (last === undefined || isAfter(parseId(p.id), parseId(last))) throw err; // not refused for its id
      const [lookupErr, found] = replies[channels.length + i] ?? [];
      if (lookupErr) throw lookupErr;
      if (holdsPayload(found, p.payload)) {
        this.#confirm(p);
        this.recovery.foundAppended++;
        return;
      }
      const clock = this.#clocks.get(p.channel)!;
      clock.passLast(last);
      p.id = clock.next();
      again.push(p);
    });
    return again;
  }

  /** Looks up the recent confirmed appends; the missing ones are owed (appended before the next batch). */
  async #findMissing(redis: Client): Promise<void> {
    this.#suspect = false;
    this.#forget();
    const recent = this.#recent;
    const missing: Pending[] = [];
    try {
      for (let from = 0; from < recent.length; from += LOOKUPS_PER_ROUND) {
        const chunk = recent.slice(from, from + LOOKUPS_PER_ROUND);
        const pipeline = redis.pipeline();
        for (const p of chunk) pipeline.xrangeBuffer(p.channel, p.id, p.id);
        const replies = (await pipeline.exec()) ?? [];
        chunk.forEach((p, i) => {
          const [err, found] = replies[i] ?? [new Error("no reply")];
          if (err) throw err;
          if (!holdsPayload(found, p.payload)) missing.push(p);
        });
      }
    } catch (err) {
      this.#suspect = true; // not done: again before the next append
      throw err;
    }
    if (missing.length === 0) return;
    if (this.#forgotten && missing[0] === recent[0]) this.recovery.restoreIncomplete = true;
    const gone = new Set(missing);
    this.#recent = recent.filter((p) => !gone.has(p));
    for (const p of missing) {
      p.confirmed = false;
      p.restoring = true;
    }
    this.#owed.push(...missing);
  }
}

/** `last-generated-id` from an `XINFO STREAM` reply (a flat list of names and values). */
function lastGeneratedId(info: unknown[]): string | undefined {
  for (let i = 0; i + 1 < info.length; i += 2) {
    if (String(info[i]) === "last-generated-id") return String(info[i + 1]);
  }
  return undefined;
}

/** Whether an `XRANGE id id` reply (as Buffers) is one entry holding exactly `payload`. */
function holdsPayload(reply: unknown, payload: string | Buffer): boolean {
  if (!Array.isArray(reply) || reply.length !== 1) return false;
  const fields = (reply[0] as [Buffer, Buffer[] | null])[1];
  if (!Array.isArray(fields) || fields.length !== 2 || String(fields[0]) !== PAYLOAD_FIELD) return false;
  const bytes = typeof payload === "string" ? Buffer.from(payload) : payload;
  return Buffer.isBuffer(fields[1]) && fields[1].equals(bytes);
}
