/**
 * When a listener has heard enough: after `--count` messages, or after
 * `--timeout` without one.
 *
 * @module
 */
import { MessageCounter } from "../core/stats.ts";
import { whenAborted } from "../core/timing.ts";

/**
 * Counts the messages a listener takes and says when it is done: `count`
 * of them taken, or `idleMs` since the last (or since the start) without one.
 *
 * @example
 * ```ts
 * import { ListenLimits } from "./listen_limits.ts";
 * import assert from "node:assert/strict";
 * using limits = new ListenLimits(2);
 * assert.ok(limits.take("news"));
 * assert.ok(limits.take("news"));
 * assert.ok(!limits.take("news")); // past --count: not this listener's
 * await limits.reached();
 * assert.equal(limits.counter.total, 2);
 * assert.ok(!limits.silent);
 * ```
 */
export class ListenLimits implements Disposable {
  /** What was taken, by channel, and when. */
  readonly counter = new MessageCounter();
  /** When listening began, in epoch ms. */
  readonly startedAt = Date.now();
  readonly #done = new AbortController();

  /**
   * @param count stop after this many messages (default: never)
   * @param idleMs stop once none has arrived for this long, in ms (default: never)
   */
  constructor(readonly count?: number, readonly idleMs?: number) {}

  /**
   * Counts a message, unless `count` were taken already.
   *
   * @param channel its channel
   * @returns whether it was taken (what arrives past `count`, before the unsubscribe, is not the listener's)
   */
  take(channel: string): boolean {
    if (this.counter.total === this.count) return false;
    this.counter.record(channel);
    if (this.counter.total === this.count) this.#done.abort();
    return true;
  }

  /** Resolves once `count` messages were taken or `idleMs` passed without one (watched from this call on). */
  reached(): Promise<void> {
    if (this.idleMs !== undefined) this.#watchIdle(this.idleMs);
    return whenAborted(this.#done.signal);
  }

  /** Whether it waited `idleMs` and nothing came at all. */
  get silent(): boolean {
    return this.idleMs !== undefined && this.counter.total === 0;
  }

  #watchIdle(idleMs: number): void {
    const done = this.#done;
    const check = () => {
      if (done.signal.aborted) return;
      const idleFor = Date.now() - (this.counter.lastAt ?? this.startedAt);
      if (idleFor >= idleMs) return done.abort();
      const timer = setTimeout(check, idleMs - idleFor);
      done.signal.addEventListener("abort", () => clearTimeout(timer), { once: true });
    };
    check();
  }

  /** Stops watching (clears the idle timer). */
  [Symbol.dispose](): void {
    this.#done.abort();
  }
}
