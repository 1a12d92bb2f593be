/**
 * Bounded concurrency: at most `concurrency` tasks run at once, at most
 * `maxQueued` more wait for a free slot, and a caller can wait until all are
 * done. The pub/sub event subscriber and the streams consumer both run their
 * handlers through it.
 *
 * @module
 */

/** How a {@linkcode TaskPool} is bounded. */
export interface TaskPoolOptions {
  /** How many tasks may run at once (at least 1). With 1, tasks run in the order they were submitted. */
  concurrency: number;
  /** How many submitted tasks may wait for a free slot before {@linkcode TaskPool.submit} refuses more. */
  maxQueued: number;
}

/**
 * Runs one function over submitted items, at most `concurrency` at a time,
 * in submission order. The function's errors are its own business: it
 * should catch and report them (a throw or rejection only frees the slot).
 *
 * @example
 * ```ts
 * import { TaskPool } from "./task_pool.ts";
 * import assert from "node:assert/strict";
 * const seen: number[] = [];
 * const pool = new TaskPool<number>(async (n) => void seen.push(n), { concurrency: 2, maxQueued: 10 });
 * for (const n of [1, 2, 3]) assert.ok(pool.submit(n));
 * await pool.whenIdle();
 * assert.equal(seen.join(), "1,2,3");
 * ```
 */
export class TaskPool<T> {
  readonly #run: (item: T) => void | Promise<void>;
  readonly #concurrency: number;
  readonly #maxQueued: number;
  #queue: (T | undefined)[] = [];
  #queueHead = 0;
  #active = 0;
  #pumping = false;
  #idleWaiters: (() => void)[] = [];
  #roomWaiters: (() => void)[] = [];

  /**
   * Creates a TaskPool.
   *
   * @param run what to do with each item
   * @param options the bounds
   * @throws {RangeError} when a bound is not a whole number of at least 1
   */
  constructor(run: (item: T) => void | Promise<void>, options: TaskPoolOptions) {
    this.#run = run;
    this.#concurrency = positiveInt(options.concurrency, "concurrency");
    this.#maxQueued = positiveInt(options.maxQueued, "maxQueued");
  }

  /** Tasks running now. */
  get inFlight(): number {
    return this.#active;
  }

  /** Tasks waiting for a free slot. */
  get queued(): number {
    return this.#queue.length - this.#queueHead;
  }

  /**
   * Runs the item now if a slot is free, else queues it.
   *
   * @param item what to run the function on
   * @returns false when the queue is full: the item was not taken
   */
  submit(item: T): boolean {
    if (this.#active < this.#concurrency && this.queued === 0) {
      this.#start(item);
      this.#pump();
      return true;
    }
    if (this.queued >= this.#maxQueued) return false;
    this.#queue.push(item);
    return true;
  }

  /**
   * Drops the waiting items (running ones go on).
   *
   * @returns how many were dropped
   */
  clear(): number {
    const dropped = this.queued;
    this.#queue = [];
    this.#queueHead = 0;
    this.#wake();
    return dropped;
  }

  /** Resolves when nothing runs and nothing waits. */
  whenIdle(): Promise<void> {
    if (this.#active === 0 && this.queued === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /** Resolves when nothing waits: every submitted item has started (at most `concurrency` still run). */
  whenStarted(): Promise<void> {
    if (this.queued === 0) return Promise.resolve();
    return new Promise((resolve) => this.#roomWaiters.push(resolve));
  }

  #start(item: T): void {
    this.#active++;
    let result: void | Promise<void>;
    try {
      result = this.#run(item);
    } catch {
      result = undefined;
    }
    if (result instanceof Promise) result.then(() => this.#finished(), () => this.#finished());
    else this.#finished();
  }

  #finished(): void {
    this.#active--;
    this.#pump();
  }

  #pump(): void {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      while (this.#active < this.#concurrency && this.queued > 0) {
        const next = this.#queue[this.#queueHead]!;
        this.#queue[this.#queueHead++] = undefined; // released to the collector
        if (this.#queueHead > 1024 && this.#queueHead * 2 > this.#queue.length) {
          this.#queue = this.#queue.slice(this.#queueHead);
          this.#queueHead = 0;
        }
        this.#start(next);
      }
    } finally {
      this.#pumping = false;
    }
    this.#wake();
  }

  #wake(): void {
    if (this.queued === 0 && this.#roomWaiters.length > 0) {
      for (const wake of this.#roomWaiters.splice(0)) wake();
    }
    if (this.#active === 0 && this.queued === 0 && this.#idleWaiters.length > 0) {
      for (const wake of this.#idleWaiters.splice(0)) wake();
    }
  }
}

/**
 * Checks that a bound is a whole number of at least 1.
 *
 * @param n the value
 * @param what its name, for the error
 * @returns `n`
 * @throws {RangeError} when it is not
 * @example
 * ```ts
 * import { positiveInt } from "./task_pool.ts";
 * import assert from "node:assert/strict";
 * assert.equal(positiveInt(3, "concurrency"), 3);
 * ```
 */
export function positiveInt(n: number, what: string): number {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`${what} must be a whole number of at least 1, got ${n}`);
  return n;
}
