/**
 * The dashboard's model: each tick it takes the sampler's counts and rows,
 * keeps a minute of rates for the chart (the busiest channels), remembers
 * stored values that vanished (deleted or expired), and builds the one
 * `state` event the page gets per tick. Its size is bounded whatever the
 * traffic: rows per tick, channels listed (the {@linkcode CHANNELS_SHOWN}
 * busiest, and how many more), processors, points per series and the length
 * of names shown are capped.
 *
 * @module
 */
import { type KeyEventRow, type MessageRow, preview, type Sample } from "./sampler.ts";
import { MAX_LISTED, type ServerState } from "./server_state.ts";
import { escapeControl } from "../core/output.ts";
import { DEFAULT_STATS_CHANNEL } from "../events/processor_stats.ts";
import { type ProcessorsState, ProcessorTable } from "./processors.ts";

/** The connection side of the page. */
export interface ConnectionState {
  /** Both connections are up. */
  live: boolean;
  /** Since when it is live or down (ms since the epoch). */
  since: number;
  /** The subscriber is up. */
  subscriberLive: boolean;
  /** The subscriber's outages, drops for falling behind, and server restarts. */
  outages: number;
  fellBehind: number;
  restarts: number;
}

/** The one event the page gets per tick. */
export interface BoardState {
  at: number;
  tickMs: number;
  address: string;
  connection: ConnectionState;
  /** The server's state, but its channels: the page gets them in `channels`, and their number. */
  server?: Omit<ServerState, "channels">;
  /**
   * The {@linkcode CHANNELS_SHOWN} busiest of the active and recently heard channels (escaped, names cut), with
   * subscribers and msg/s over the last second.
   */
  channels: { name: string; subscribers?: number; rate: number }[];
  /** How many other channels are active or were heard in the last minute (at least). */
  moreChannels: number;
  totalRate: number;
  /**
   * The chart: times in seconds and msg/s per series (the total and the busiest channels, by name), at most `max`
   * points. From one tick to the next, with the same series, it only gains {@linkcode BoardState.point} (and loses its
   * oldest point past `max`).
   */
  history: { times: number[]; series: { name: string; values: (number | null)[] }[]; max: number };
  /** This tick's point of the chart: its time and each series' value, in the order of `history.series`. */
  point: { time: number; values: (number | null)[] };
  /** Messages heard this tick (but the processors' statistics, shown apart), and the last of them. */
  heard: number;
  messages: MessageRow[];
  keyEventTotal: number;
  keyEvents: KeyEventRow[];
  /** Stored values; `gone` is when one was first seen missing. */
  stored: { type: string; event: unknown; gone?: number }[];
  /** The event processors heard on the statistics channel. */
  processors: ProcessorsState;
  /** Whether the page may publish (`POST /publish`; not with `--read-only`). */
  publishing: boolean;
}

/** What a {@linkcode Board} is told besides its tick. */
export interface BoardOptions {
  /** The processors' statistics channel (default `processor_stats`). */
  statsChannel?: string;
  /** Whether the page may publish (default true). */
  publishing?: boolean;
}

/** Points per chart series (a minute at the default tick). */
const POINTS = 120;
/** Channels listed on the page: the busiest (the others are counted). */
export const CHANNELS_SHOWN = 20;
/** Channels drawn in the chart besides the total. */
const CHART_CHANNELS = 5;
/** A channel heard but without subscribers stays listed this long. */
const HEARD_MS = 60_000;
/** A vanished stored value stays shown this long. */
const GONE_MS = 120_000;

/**
 * Keeps what the page needs between ticks.
 *
 * @example
 * ```ts
 * import { Board } from "./board.ts";
 * import { MessageSampler } from "./sampler.ts";
 * import assert from "node:assert/strict";
 * const board = new Board(500, "redis://localhost:6379");
 * const sampler = new MessageSampler(10);
 * sampler.add(new TextEncoder().encode("news"), new TextEncoder().encode("hi"));
 * const state = board.tick(sampler.take(), undefined, { live: true, since: 0, subscriberLive: true, outages: 0, fellBehind: 0, restarts: 0 });
 * assert.equal(state.channels[0]!.name, "news");
 * assert.equal(state.channels[0]!.rate, 2);
 * ```
 */
export class Board {
  #times: number[] = [];
  #total: number[] = [];
  /** Per channel (raw name): counts of the last ticks, newest last, and when last heard. */
  #heard = new Map<string, { counts: number[]; last: number }>();
  #stored = new Map<string, { type: string; event: unknown; gone?: number }>();
  readonly #processors: ProcessorTable;
  readonly #publishing: boolean;

  /**
   * Creates a Board.
   *
   * @param tickMs how often {@linkcode tick} is called
   * @param address the server's address (password hidden)
   * @param options the statistics channel, and whether the page may publish
   */
  constructor(readonly tickMs: number, readonly address: string, options: BoardOptions = {}) {
    this.#processors = new ProcessorTable(options.statsChannel ?? DEFAULT_STATS_CHANNEL);
    this.#publishing = options.publishing ?? true;
  }

  /**
   * One tick: folds in the sample and the latest server state.
   *
   * @param sample what the subscriber heard since the last tick
   * @param server the last server state read (undefined until one is)
   * @param connection the connections' state
   * @returns the event for the page
   */
  tick(sample: Sample, server: ServerState | undefined, connection: ConnectionState): BoardState {
    const now = Date.now();
    const perSecond = 1000 / this.tickMs;
    const window = Math.max(1, Math.round(perSecond)); // ticks in a second
    for (const [name, n] of sample.counts) {
      const h = this.#heard.get(name) ?? { counts: [], last: now };
      h.counts.push(n);
      h.last = now;
      this.#heard.set(name, h);
    }
    for (const [name, h] of this.#heard) {
      if (!sample.counts.has(name)) h.counts.push(0);
      if (h.counts.length > POINTS) h.counts.shift();
      if (now - h.last > HEARD_MS) this.#heard.delete(name);
    }
    const heardCount = this.#heard.size;
    if (this.#heard.size > MAX_LISTED * 10) { // a flood of distinct channels: keep the busiest
      const keep = [...this.#heard].sort((a, b) => sum(b[1].counts) - sum(a[1].counts)).slice(0, MAX_LISTED);
      this.#heard = new Map(keep);
    }
    this.#times.push(now / 1000);
    this.#total.push(sample.total * perSecond);
    if (this.#times.length > POINTS) {
      this.#times.shift();
      this.#total.shift();
    }
    const rateOf = (name: string) => {
      const counts = this.#heard.get(name)?.counts ?? [];
      return sum(counts.slice(-window)) * perSecond / Math.min(window, Math.max(1, counts.length));
    };
    const channels = new Map<string, { name: string; subscribers?: number; rate: number }>();
    for (const c of server?.channels ?? []) channels.set(c.name, { ...c, rate: 0 });
    for (const name of this.#heard.keys()) {
      const shown = escapeControl(name);
      const row = channels.get(shown) ?? { name: shown, rate: 0 };
      row.rate = rateOf(name);
      channels.set(shown, row);
    }
    const listed = [...channels.values()].sort((a, b) =>
      b.rate - a.rate || (b.subscribers ?? 0) - (a.subscribers ?? 0) || a.name.localeCompare(b.name)
    ).slice(0, CHANNELS_SHOWN).map((c) => ({ ...c, name: preview(c.name) }));
    const known = Math.max(channels.size, heardCount, server?.activeChannels ?? 0);
    // By name: the series stay in the same order while the busiest stay the same.
    const busiest = [...this.#heard].sort((a, b) => sum(b[1].counts) - sum(a[1].counts)).slice(0, CHART_CHANNELS)
      .map(([name, h]) => ({ name: preview(escapeControl(name)), counts: h.counts }))
      .sort((a, b) => a.name.localeCompare(b.name));
    const pad = (counts: number[]): (number | null)[] => [
      ...Array(this.#times.length - Math.min(counts.length, this.#times.length)).fill(null),
      ...counts.slice(-this.#times.length).map((n) => n * perSecond),
    ];
    const series = [
      { name: "total", values: [...this.#total] },
      ...busiest.map(({ name, counts }) => ({ name, values: pad(counts) })),
    ];
    if (server) this.#foldStored(server, now);
    return {
      at: now,
      tickMs: this.tickMs,
      address: this.address,
      connection,
      ...(server ? { server: withoutChannels(server) } : {}),
      channels: listed,
      moreChannels: known - listed.length,
      totalRate: sum(this.#total.slice(-window)) / Math.min(window, this.#total.length),
      history: { times: [...this.#times], series, max: POINTS },
      point: { time: now / 1000, values: series.map((s) => s.values.at(-1) ?? null) },
      heard: sample.total - sample.statsTotal,
      messages: sample.messages,
      keyEventTotal: sample.keyEventTotal,
      keyEvents: sample.keyEvents,
      stored: [...this.#stored.values()].sort((a, b) => a.type.localeCompare(b.type)),
      processors: this.#processors.fold(sample.stats, now),
      publishing: this.#publishing,
    };
  }

  #foldStored(server: ServerState, now: number): void {
    const present = new Set(server.stored.map((s) => s.type));
    for (const s of server.stored) this.#stored.set(s.type, { type: s.type, event: s.event });
    for (const [type, s] of this.#stored) {
      if (present.has(type)) continue;
      s.gone ??= now;
      if (now - s.gone > GONE_MS) this.#stored.delete(type);
    }
  }
}

function withoutChannels(server: ServerState): Omit<ServerState, "channels"> {
  const { channels: _, ...rest } = server;
  return rest;
}

function sum(values: number[]): number {
  let total = 0;
  for (const v of values) total += v;
  return total;
}
