/**
 * The dashboard's heartbeat: every tick it folds what the sampler heard and
 * the last server state read into the board, and publishes the change to
 * every page as a `state` event (the whole state first, then what changed);
 * the server's state is read again after each tick, one read at a time.
 *
 * @module
 */
import type { Logger } from "../core/log.ts";
import type { SseHub } from "../web/sse.ts";
import type { Board, BoardState, ConnectionState } from "./board.ts";
import type { MessageSampler } from "./sampler.ts";
import type { ServerState, StateOptions } from "./server_state.ts";
import type { DashboardSources } from "./sources.ts";
import { StateDelta } from "./state_delta.ts";
import type { ServiceMetrics } from "../ops/service_metrics.ts";

/** What {@linkcode Updates} ticks over. */
export interface UpdatesOptions {
  /** Where the data comes from. */
  sources: DashboardSources;
  /** What the sampler heard. */
  sampler: MessageSampler;
  /** The page's model. */
  board: Board;
  /** The pages, over SSE. */
  hub: SseHub;
  /** Stored values and streams to read. */
  state: StateOptions;
  /** Where a failed read is logged. */
  log: Logger;
  /** Where the messages heard are counted per channel (at each tick). */
  metrics?: ServiceMetrics;
}

/**
 * The board's ticks and the server's reads.
 *
 * @example
 * ```ts ignore
 * const updates = new Updates({ sources, sampler, board, hub, state: {}, log });
 * await updates.start(500);
 * // …
 * updates.stop();
 * ```
 */
export class Updates {
  /** Each page gets the whole state once, then what changed each tick; it appends each point to its chart. */
  readonly delta: StateDelta<BoardState> = new StateDelta<BoardState>(["messages", "keyEvents"], {
    history: (h) => h.series.map((s) => s.name),
  });
  #state: ServerState | undefined;
  #reading = false;
  #live = true;
  #since = Date.now();
  #timer: ReturnType<typeof setInterval> | undefined;

  /**
   * Creates an Updates.
   *
   * @param options the sources, the board and the pages
   */
  constructor(private readonly options: UpdatesOptions) {}

  /**
   * Reads the server's state once, publishes the first tick and ticks every `tickMs`.
   *
   * @param tickMs the interval
   */
  async start(tickMs: number): Promise<void> {
    await this.#poll();
    this.#tick();
    this.#timer = setInterval(() => this.#tick(), tickMs);
  }

  /** Stops ticking. */
  stop(): void {
    clearInterval(this.#timer);
  }

  async #poll(): Promise<void> {
    const { sources, log } = this.options;
    if (this.#reading || !sources.readsReady) return;
    this.#reading = true;
    try {
      this.#state = await sources.readState(this.options.state);
    } catch (err) {
      if (sources.readsReady) log.warn(`Could not read the server's state: ${(err as Error).message}`);
    } finally {
      this.#reading = false;
    }
  }

  #tick(): void {
    const { sources, sampler, board, hub } = this.options;
    const sub = sources.sampler;
    const up = sources.readsReady && sub.ready;
    if (up !== this.#live) [this.#live, this.#since] = [up, Date.now()];
    const connection: ConnectionState = {
      live: this.#live,
      since: this.#since,
      subscriberLive: sub.ready,
      outages: sub.outages,
      fellBehind: sub.fellBehind,
      restarts: sub.restarts,
    };
    const sample = sampler.take();
    for (const [channel, n] of sample.counts) this.options.metrics?.received.inc(channel, n);
    hub.publish("state", JSON.stringify(this.delta.next(board.tick(sample, this.#state, connection))));
    void this.#poll();
  }
}
