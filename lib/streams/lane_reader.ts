/**
 * Reading a consumer group's entries on one lane: this consumer's own
 * pending entries first (left by an earlier run under the same name), then
 * new ones with a blocking `XREADGROUP`, as long as there is room for them;
 * a deleted group is created again, a lost connection waited out.
 *
 * @module
 */
import type { Redis } from "ioredis";
import { backoffMs, commandLostConnection } from "../core/client.ts";
import type { Reporter } from "../core/output.ts";
import { unreadableReply } from "../core/server_faults.ts";
import { ABORTED, delay, unlessAborted } from "../core/timing.ts";
import type { Commands } from "../endpoint/link.ts";
import { type StreamEntry, toEntries } from "./entry.ts";
import { deliveryCounts, ensureGroup } from "./groups.ts";

/**
 * A set of streams that one blocking `XREADGROUP` may read together, with
 * the connection that reads them. One server has one lane for all streams;
 * on a cluster each slot is a lane of its own (a read may not mix slots), on
 * a connection to the node serving it.
 */
export interface ReadLane {
  /** The streams of this lane. */
  readonly streams: readonly string[];
  /** The connection for this lane's blocking reads, used for nothing else (it may change after {@linkcode recover}). */
  readonly reader: Redis;
  /** Ends this lane's blocking read at once: `CLIENT UNBLOCK clientId` on the reader's node. */
  unblock(clientId: number): Promise<unknown>;
  /** After a read failed on a lost connection: waits, and reads from the node that serves the streams now. */
  recover?(err: unknown, stop: AbortSignal): Promise<void>;
}

/** How an entry came: read new, read from this consumer's own pending entries, or claimed from another. */
export type Via = "new" | "pending" | "claimed";

/** Where entries read go, and when there is room for more. */
export interface EntrySink {
  /**
   * Takes an entry.
   *
   * @param stream its stream
   * @param entry the entry (fields null when it was deleted before it was handled)
   * @param deliveries how many times it has been delivered, this time included
   * @param via how it came
   */
  take(stream: string, entry: StreamEntry, deliveries: number, via: Via): void;
  /** Resolves when everything taken so far has started (or on a stop): then the next batch is read. */
  room(): Promise<void>;
}

/** Who reads, in which group, how much at a time. */
export interface GroupReading {
  /** The consumer group. */
  group: string;
  /** This consumer's name. */
  consumer: string;
  /** Entries per read. */
  batch: number;
  /** How long a blocking read waits, in ms. */
  blockMs: number;
  /** For delivery counts and a group created again (not the reader, which blocks). */
  commands: Commands;
  /** Where a failed read is reported. */
  reporter: Reporter;
  /** Ends the reads. */
  stop: AbortSignal;
}

/** Reads one lane for a consumer, until `stop`. */
export class LaneReader {
  /** The reader's CLIENT ID, for CLIENT UNBLOCK at a stop. */
  #readerId: number | undefined;
  #failures = 0;

  /**
   * Creates a LaneReader; nothing is read before {@linkcode drainOwn} or {@linkcode readNew}.
   *
   * @param lane the lane
   * @param r group, consumer, batch and the stop
   * @param sink where the entries go
   */
  constructor(readonly lane: ReadLane, private readonly r: GroupReading, private readonly sink: EntrySink) {
    lane.reader.on("close", this.#forgetId);
  }

  readonly #forgetId = () => {
    if (this.lane.reader.status !== "ready") this.#readerId = undefined;
  };

  /** Ends a blocking read now, if one may be under way (not awaited: a lost connection would wait for the server). */
  unblock(): void {
    if (this.#readerId !== undefined) this.lane.unblock(this.#readerId).catch(() => {});
  }

  /** Stops listening to the reader's connection. */
  detach(): void {
    this.lane.reader.off("close", this.#forgetId);
  }

  /** This consumer's own pending entries in each stream of the lane, left by an earlier run under the same name. */
  async drainOwn(): Promise<void> {
    for (const stream of this.lane.streams) await this.#drainOwn(stream);
  }

  async #drainOwn(stream: string): Promise<void> {
    const { group, consumer, batch, commands, stop } = this.r;
    let cursor = "0";
    while (!stop.aborted) {
      await this.sink.room();
      if (stop.aborted) return;
      let entries: StreamEntry[];
      let counts: Map<string, number> | typeof ABORTED;
      try {
        const reply = (await this.lane.reader.xreadgroup(
          "GROUP",
          group,
          consumer,
          "COUNT",
          batch,
          "STREAMS",
          stream,
          cursor,
        )) as [string, unknown][] | null;
        entries = toEntries(reply?.[0]?.[1]);
        if (entries.length === 0) return;
        // On the commands connection: lost meanwhile, it waits for the server, and a stop does not wait for it.
        counts = await unlessAborted(deliveryCounts(commands, stream, group, entries.map((e) => e.id)), stop);
      } catch (err) {
        // What is left is claimed after the claim time instead.
        if (!stop.aborted) this.r.reporter.warn(`Could not read the pending entries of ${stream}: ${message(err)}`);
        return;
      }
      if (counts === ABORTED) return;
      for (const entry of entries) this.sink.take(stream, entry, counts.get(entry.id) ?? 2, "pending");
      cursor = entries.at(-1)!.id;
    }
  }

  /** New entries, read as long as there is room for them, until the stop. */
  async readNew(): Promise<void> {
    const { group, consumer, batch, blockMs, stop } = this.r;
    const streams = this.lane.streams;
    const ids = streams.map(() => ">");
    while (!stop.aborted) {
      await this.sink.room();
      if (stop.aborted) break;
      let reply: [string, unknown][] | null;
      try {
        const reader = this.lane.reader;
        if (this.#readerId === undefined) this.#readerId = Number(await reader.client("ID"));
        reply = (await reader.xreadgroup(
          "GROUP",
          group,
          consumer,
          "COUNT",
          batch,
          "BLOCK",
          blockMs,
          "STREAMS",
          ...streams,
          ...ids,
        )) as [string, unknown][] | null;
        this.#failures = 0;
      } catch (err) {
        if (stop.aborted) break;
        await this.#failed(err);
        continue;
      }
      for (const [stream, raw] of reply ?? []) {
        for (const entry of toEntries(raw)) this.sink.take(String(stream), entry, 1, "new");
      }
    }
  }

  async #failed(err: unknown): Promise<void> {
    const { group, commands, reporter, stop } = this.r;
    const text = message(err);
    if (/NOGROUP/.test(text)) {
      // The stream or the group was deleted under us: recreate it, reading whatever arrives from now on.
      reporter.warn(`The group ${group} is gone (${text}); creating it again.`);
      for (const stream of this.lane.streams) {
        await unlessAborted(ensureGroup(commands, stream, group, "0"), stop).catch(() => {});
      }
      return;
    }
    // A lost connection (its link reports the outage, in words) or slots moving: wait and try again.
    this.#failures++;
    const reported = commandLostConnection(err) || unreadableReply(err) !== undefined ||
      /closed|writeable|ECONNRE|reset|MOVED|CLUSTERDOWN/i.test(text);
    if (this.#failures === 1 && !reported) reporter.warn(`Reading the streams failed: ${text}. Retrying…`);
    if (this.lane.recover) {
      this.#readerId = undefined;
      await this.lane.recover(err, stop);
      return;
    }
    await delay(backoffMs(Math.min(this.#failures, 6)), stop);
  }
}

/**
 * The text of an error, for a message.
 *
 * @param err what was thrown
 * @returns its message
 */
export function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
