/**
 * The main thread's handle on one worker of a benchmark run
 * (lib/bench/worker.ts): it starts it, hands it its part, measures its
 * clock, and waits for what it says — a wait ends with `undefined` when the
 * worker dies (an uncaught error in it: reported, the run goes on with what
 * the others measured).
 *
 * @module
 */
import { type ClockCheck, pingClock } from "./clock.ts";
import type { FromWorker, InitMessage, ToWorker } from "./worker_protocol.ts";

/** A message of one type from a worker. */
type Said<T extends FromWorker["type"]> = Extract<FromWorker, { type: T }>;

/** What a worker does while it runs, besides answering: lines to report, a subscriber dropped by the server. */
export interface WorkerEvents {
  /** A line for stderr. */
  log(text: string): void;
  /** A subscriber's connection was closed by the server. */
  dropped(m: Said<"dropped">): void;
  /** The worker died (after an uncaught error). */
  died(): void;
}

/** One worker of a run, seen from the main thread. */
export class BenchWorker {
  /** Why it died, once it did. */
  died: string | undefined;
  /** Its clock against the main thread's, once measured. */
  clock: ClockCheck | undefined;
  readonly #worker: Worker;
  readonly #got = new Map<string, FromWorker>();
  readonly #waiting = new Map<string, (m: FromWorker | undefined) => void>();

  /**
   * Starts a worker and gives it its part.
   *
   * @param name what the report calls it, e.g. `subscriber worker 2`
   * @param init its part
   * @param events what to do with its lines and drops
   */
  constructor(readonly name: string, init: InitMessage, events: WorkerEvents) {
    this.#worker = new Worker(new URL("./worker.ts", import.meta.url).href, { type: "module" });
    this.#worker.onmessage = (e: MessageEvent<FromWorker>) => {
      const m = e.data;
      if (m.type === "log") return events.log(m.text);
      if (m.type === "dropped") return events.dropped(m);
      if (m.type === "died") return this.#die(m.message, events);
      if (m.type === "clock") this.clock = pingClock(init.clock);
      const waiter = this.#waiting.get(m.type);
      if (waiter) {
        this.#waiting.delete(m.type);
        waiter(m);
      } else this.#got.set(m.type, m);
    };
    this.#worker.onerror = (e: ErrorEvent) => {
      e.preventDefault(); // reported here; it must not end the main thread too
      this.#die(e.message || "it failed", events);
    };
    this.#worker.postMessage(init);
  }

  #die(message: string, events: WorkerEvents): void {
    if (this.died !== undefined) return;
    this.died = message;
    events.died();
    for (const waiter of this.#waiting.values()) waiter(undefined);
    this.#waiting.clear();
  }

  /**
   * Waits for the worker to say `type` (at once if it already has).
   *
   * @param type what to wait for
   * @returns the message, or undefined when the worker died (or had died)
   */
  next<T extends FromWorker["type"]>(type: T): Promise<Said<T> | undefined> {
    const got = this.#got.get(type);
    if (got) {
      this.#got.delete(type);
      return Promise.resolve(got as Said<T>);
    }
    if (this.died !== undefined) return Promise.resolve(undefined);
    return new Promise((resolve) => this.#waiting.set(type, resolve as (m: FromWorker | undefined) => void));
  }

  /** Checks its clock against this thread's (it must be ready): {@linkcode BenchWorker.clock} holds what was found. */
  async checkClock(): Promise<void> {
    this.post({ type: "clock" });
    await this.next("clock");
  }

  /**
   * Sends it a message (nothing when it died).
   *
   * @param m the message
   */
  post(m: ToWorker): void {
    if (this.died === undefined) this.#worker.postMessage(m);
  }

  /** Ends it, whatever it is doing. */
  terminate(): void {
    this.#worker.terminate();
    for (const waiter of this.#waiting.values()) waiter(undefined);
    this.#waiting.clear();
  }
}
