/**
 * The dashboard's processors panel: the last `processor_stats` event heard
 * from each event processor (lab 5 and 6), read off the `*` sampler — no
 * command of its own — checked against the event's schema, and marked stale
 * when a processor has missed three of its statistics, stopped when it said
 * so. Bounded: at most {@linkcode MAX_PROCESSORS}, each forgotten
 * {@linkcode FORGET_MS} after it was last heard.
 *
 * @module
 */
import { escapeControl } from "../core/output.ts";
import type { EventValidationError } from "../events/envelope.ts";
import {
  parseProcessorStats,
  PROCESSOR_STATS_FIGURES,
  type ProcessorStatsEvent,
  type ProcessorStatsFields,
} from "../events/processor_stats.ts";

/** One processor as the page shows it: its last statistics (names escaped) but host and pid, which its id has. */
export type ProcessorRow = Omit<ProcessorStatsFields, "host" | "pid" | "state"> & {
  /** `running`, `stale` (missed three statistics) or `stopped` (said so as it stopped). */
  state: "running" | "stale" | "stopped";
  /** When the dashboard heard it last (its own clock, ms since the epoch). */
  heard: number;
};

/** The panel's part of the page's state. */
export interface ProcessorsState {
  /** The channel listened to. */
  channel: string;
  /** The processors, by id. */
  rows: ProcessorRow[];
  /** Messages on the channel that were not processor statistics, and the last one's problem. */
  rejected: number;
  problem?: string;
}

/** At most this many processors are kept. */
export const MAX_PROCESSORS = 50;
/** A processor not heard for this long is forgotten. */
export const FORGET_MS = 10 * 60_000;
/** A processor is stale after this many of its intervals without statistics. */
const STALE_AFTER_INTERVALS = 3;

/** The fields a row takes from the event as they are (the mode and the figures; an event may carry more). */
const COPIED = ["mode", ...PROCESSOR_STATS_FIGURES] as const;

function pick<T, K extends keyof T>(from: T, keys: readonly K[]): Pick<T, K> {
  return Object.fromEntries(keys.map((k) => [k, from[k]])) as Pick<T, K>;
}

/**
 * The last statistics of each processor heard.
 *
 * @example
 * ```ts
 * import { ProcessorTable } from "./processors.ts";
 * import assert from "node:assert/strict";
 * const table = new ProcessorTable("processor_stats");
 * const state = table.fold([{ at: Date.now(), payload: new TextEncoder().encode("not json") }], Date.now());
 * assert.equal(state.rows.length, 0);
 * assert.equal(state.rejected, 1);
 * assert.equal(state.problem, "the payload is not JSON");
 * ```
 */
export class ProcessorTable {
  #seen = new Map<string, { event: ProcessorStatsEvent; heard: number }>();
  #rejected = 0;
  #problem: string | undefined;

  /**
   * Creates a ProcessorTable.
   *
   * @param channel the statistics channel (for the page)
   */
  constructor(readonly channel: string) {}

  /**
   * Folds in the statistics heard since the last call.
   *
   * @param messages the raw messages on the statistics channel, oldest first
   * @param now the time now (ms since the epoch)
   * @returns the panel's state
   */
  fold(messages: readonly { at: number; payload: Uint8Array }[], now: number): ProcessorsState {
    for (const { at, payload } of messages) {
      try {
        const event = parseProcessorStats(payload);
        this.#seen.delete(event.processor); // re-inserted last: the map stays in order of hearing
        this.#seen.set(event.processor, { event, heard: at });
      } catch (err) {
        this.#rejected++;
        this.#problem = escapeControl((err as EventValidationError).problems?.join("; ") ?? String(err));
      }
    }
    for (const [id, p] of this.#seen) if (now - p.heard > FORGET_MS) this.#seen.delete(id);
    while (this.#seen.size > MAX_PROCESSORS) this.#seen.delete(this.#seen.keys().next().value!);
    const rows = [...this.#seen.values()].map(({ event: e, heard }): ProcessorRow => ({
      ...pick(e, COPIED),
      processor: escapeControl(e.processor),
      ...(e.group !== undefined ? { group: escapeControl(e.group) } : {}),
      ...(e.consumer !== undefined ? { consumer: escapeControl(e.consumer) } : {}),
      state: e.state === "stopped"
        ? "stopped"
        : now - heard > STALE_AFTER_INTERVALS * e.interval_seconds * 1000
        ? "stale"
        : "running",
      heard,
    })).sort((a, b) => a.processor.localeCompare(b.processor));
    return {
      channel: escapeControl(this.channel),
      rows,
      rejected: this.#rejected,
      ...(this.#problem !== undefined ? { problem: this.#problem } : {}),
    };
  }
}
