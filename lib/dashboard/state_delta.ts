/**
 * What changed since the last `state` event: the page keeps the state it
 * was sent and merges each event into it, so a part that is the same as in
 * the last event (the server, the stored values, the processors, the
 * streams, the connection, most ticks) is left out. A new page gets the
 * whole state first. Parts that are a sample of the tick (the last
 * messages, the key events) are always sent: the same text twice is two
 * rows. A part the page extends by itself (the chart, one point a tick) is
 * compared by what else would change it (its series).
 *
 * @module
 */

/**
 * Keeps the last state sent and gives the parts of the next one that differ.
 *
 * @example
 * ```ts
 * import { StateDelta } from "./state_delta.ts";
 * import assert from "node:assert/strict";
 * const delta = new StateDelta<{ at: number; server: string; rows: string[] }>(["rows"]);
 * delta.next({ at: 1, server: "Redis 7.0", rows: [] });
 * const changed = delta.next({ at: 2, server: "Redis 7.0", rows: [] });
 * assert.deepEqual(changed, { at: 2, rows: [] });
 * assert.equal(delta.full?.server, "Redis 7.0");
 * assert.equal(delta.full.at, 2);
 * ```
 */
export class StateDelta<T extends object> {
  #sent = new Map<keyof T, string>();
  #full: T | undefined;

  /**
   * Creates a StateDelta.
   *
   * @param always the parts sent every time, changed or not
   * @param sameBy for a part the page extends by itself (a chart it appends each tick's point to), what tells it changed
   *   otherwise (the chart's series): it is sent when that differs
   */
  constructor(
    private readonly always: readonly (keyof T)[] = [],
    private readonly sameBy: { [K in keyof T]?: (part: T[K]) => unknown } = {},
  ) {}

  /** The whole state last given to {@linkcode next}: what a new page gets first. */
  get full(): T | undefined {
    return this.#full;
  }

  /**
   * Takes the next state.
   *
   * @param state the whole state
   * @returns its parts that differ from the last state's (all of them the first time), the `always` ones, and null
   *   for a part it no longer has
   */
  next(state: T): Partial<Record<keyof T, unknown>> {
    this.#full = state;
    const changed: Partial<Record<keyof T, unknown>> = {};
    for (const key of Object.keys(state) as (keyof T)[]) {
      const text = JSON.stringify(this.sameBy[key]?.(state[key]) ?? state[key]);
      if (this.always.includes(key) || this.#sent.get(key) !== text) changed[key] = state[key];
      this.#sent.set(key, text);
    }
    for (const key of this.#sent.keys()) {
      if (key in state) continue;
      changed[key] = null; // gone: the page drops it
      this.#sent.delete(key);
    }
    return changed;
  }
}
