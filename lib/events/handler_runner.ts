/**
 * Running one handler on one event, the same way for pub/sub
 * (EventSubscriber) and for streams (StreamConsumer): a handler that throws
 * or rejects never stops the others; a {@linkcode MalformedEventError} counts
 * the event as malformed, anything else as a failure; the time it took is
 * recorded; and a synchronous handler is settled synchronously (no promise
 * per event then).
 *
 * @module
 */
import { formatNumber } from "../core/stats.ts";

/**
 * Thrown by a handler when the event is a valid envelope but not what the
 * topic carries (a missing field, an unknown type): counted as malformed,
 * not as a failure of the handler.
 *
 * @example
 * ```ts
 * import { MalformedEventError } from "./handler_runner.ts";
 * import assert from "node:assert/strict";
 * const err = new MalformedEventError("key_value is missing");
 * assert.equal(err.name, "MalformedEventError");
 * ```
 */
export class MalformedEventError extends Error {
  /**
   * Creates a MalformedEventError.
   *
   * @param message what is wrong with the event
   */
  constructor(message: string) {
    super(message);
    this.name = "MalformedEventError";
  }
}

/** Where a handler's time and success are counted (a topic's or a stream's statistics). */
export interface HandlerTally {
  /**
   * Records a handler that finished.
   *
   * @param ms how long it took (undefined: not timed)
   * @param ok whether it succeeded
   */
  recordDone(ms: number | undefined, ok: boolean): void;
}

/** What becomes of an item once its handler has run; each may settle later (a promise). */
export interface Outcomes<T, E> {
  /** The handler succeeded (already counted). */
  succeeded(item: T): void | Promise<void>;
  /** It threw a {@linkcode MalformedEventError} (not counted: the caller decides what a malformed event is). */
  malformed(item: T, problem: string): void | Promise<void>;
  /** It threw or rejected with anything else (already counted as failed). */
  failed(item: T, event: E, err: unknown): void | Promise<void>;
}

/**
 * Runs handlers and settles each item by its outcome.
 *
 * @example
 * ```ts
 * import { HandlerRunner, MalformedEventError } from "./handler_runner.ts";
 * import assert from "node:assert/strict";
 * const seen: string[] = [];
 * const runner = new HandlerRunner<string, number>({
 *   succeeded: (item) => void seen.push(`${item} ok`),
 *   malformed: (item, problem) => void seen.push(`${item} malformed: ${problem}`),
 *   failed: (item, _event, err) => void seen.push(`${item} failed: ${(err as Error).message}`),
 * });
 * const tally = { recordDone: () => {} };
 * runner.run((n: number) => void (n < 0 && (() => { throw new MalformedEventError("negative"); })()), -1, {}, "a", tally, undefined);
 * runner.run(() => { throw new Error("boom"); }, 1, {}, "b", tally, undefined);
 * await runner.run(async () => {}, 2, {}, "c", tally, performance.now());
 * assert.equal(seen.join("|"), "a malformed: negative|b failed: boom|c ok");
 * ```
 */
export class HandlerRunner<T, E> {
  /**
   * Creates a HandlerRunner.
   *
   * @param outcomes what to do with an item after its handler
   */
  constructor(private readonly outcomes: Outcomes<T, E>) {}

  /**
   * Runs `handler(event, context)` and settles `item`.
   *
   * @param handler the handler
   * @param event what it is given
   * @param context what it is told besides
   * @param item what the outcome is about
   * @param tally where its time and success are counted
   * @param started when it was started (`performance.now()`), or undefined when it is not timed
   * @returns nothing when the handler and the outcome are synchronous, else a promise of the settling
   */
  run<C, V extends E>(
    handler: (event: V, context: C) => void | Promise<void>,
    event: V,
    context: C,
    item: T,
    tally: HandlerTally,
    started: number | undefined,
  ): void | Promise<void> {
    let result: void | Promise<void>;
    try {
      result = handler(event, context);
    } catch (err) {
      return this.#settle(item, event, tally, started, err ?? new Error("handler threw nothing"));
    }
    if (result instanceof Promise) {
      return result.then(
        () => this.#settle(item, event, tally, started, undefined),
        (err) => this.#settle(item, event, tally, started, err ?? new Error("handler rejected with nothing")),
      );
    }
    return this.#settle(item, event, tally, started, undefined);
  }

  #settle(item: T, event: E, tally: HandlerTally, started: number | undefined, err: unknown): void | Promise<void> {
    if (err instanceof MalformedEventError) return this.outcomes.malformed(item, err.message);
    tally.recordDone(started === undefined ? undefined : performance.now() - started, err === undefined);
    return err === undefined ? this.outcomes.succeeded(item) : this.outcomes.failed(item, event, err);
  }
}

const LOG_FIRST = 10;
const LOG_EVERY = 1000;

/**
 * Whether the `count`th occurrence of a problem is logged: the first ten,
 * then every thousandth, so a flood of bad events cannot flood the log.
 *
 * @param count how many so far, this one included
 * @returns true when this one is logged
 * @example
 * ```ts
 * import { shouldLog } from "./handler_runner.ts";
 * import assert from "node:assert/strict";
 * assert.ok(shouldLog(10));
 * assert.ok(!shouldLog(11));
 * assert.ok(shouldLog(2000));
 * ```
 */
export function shouldLog(count: number): boolean {
  return count <= LOG_FIRST || count % LOG_EVERY === 0;
}

/**
 * What a logged problem line adds about the count: that only every
 * thousandth is logged from now on, or how many so far.
 *
 * @param count how many so far, this one included
 * @returns the text to append (empty for the first nine)
 * @example
 * ```ts
 * import { logNote } from "./handler_runner.ts";
 * import assert from "node:assert/strict";
 * assert.equal(logNote(1), "");
 * assert.equal(logNote(2000), " (2,000 so far)");
 * ```
 */
export function logNote(count: number): string {
  if (count === LOG_FIRST) {
    return ` (${LOG_FIRST} so far; from now on only every ${formatNumber(LOG_EVERY)}th is logged)`;
  }
  return count > LOG_FIRST ? ` (${formatNumber(count)} so far)` : "";
}
