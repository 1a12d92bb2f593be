/**
 * Giving the event loop back while a subscription floods. Under Deno a
 * socket that always has more to read is read on, turn after turn, and the
 * replies a script waits for on another connection come late: measured with
 * kv_updater under a flood, its MSET replies came 84 to 172 ms after they
 * were sent, against 3 ms once the flood was over, and almost nothing was
 * stored until then (the runtime seems to look at its other sockets only
 * when it has nothing else to do). Holding the subscription's reading back
 * until the next turn of the event loop lets the other replies in, and each
 * turn then serves both.
 *
 * @module
 */

/**
 * Holds a subscription's reading back for one turn of the event loop at a time.
 *
 * @example
 * ```ts
 * import { ReadingTurns } from "./reading_turns.ts";
 * import assert from "node:assert/strict";
 * let held = 0, resumed = 0;
 * const turns = new ReadingTurns(() => (held++, () => resumed++));
 * turns.yieldTurn();
 * turns.yieldTurn(); // already held: nothing more
 * assert.equal(held, 1);
 * await new Promise((resolve) => setTimeout(resolve, 0));
 * assert.equal(resumed, 1);
 * ```
 */
export class ReadingTurns {
  #held = false;

  /**
   * @param pause holds the reading back and returns what resumes it; undefined where it cannot (then nothing is held)
   */
  constructor(private readonly pause: () => (() => void) | undefined) {}

  /** Holds the reading back until the next turn of the event loop (once at a time). */
  yieldTurn(): void {
    if (this.#held) return;
    const resume = this.pause();
    if (!resume) return;
    this.#held = true;
    // A timer, not setImmediate: the immediates run before the sockets are polled again, so the replies would still
    // wait.
    setTimeout(() => {
      this.#held = false;
      resume();
    }, 0);
  }
}
