/**
 * What the main thread of a benchmark run and its workers say to each other
 * (lib/bench/worker.ts is a worker; lib/bench/bench_worker.ts its handle on
 * the main thread), and the shared counters the main thread watches while
 * they run.
 *
 * A worker holds publishers or subscribers, never both. In order: `init` →
 * `ready` (connected, subscribed, or `failed` with why); `clock` → `clock`
 * (the worker says it answers the clock check, and does);  `start` → publishers: `published`; subscribers
 * count until `finish` → `result`; every worker: `closed` after `finish`.
 * `stop` ends publishing early (Ctrl+C, a worker that died). `log` carries a
 * line for the run's stderr; `died` an uncaught error, after which the worker is gone; `dropped` says a subscriber's connection was
 * closed by the server.
 *
 * @module
 */
import type { BenchMode } from "./modes.ts";
import type { TallySnapshot } from "./tally.ts";
import type { LegPlan, PublisherPlan } from "./wiring.ts";

/** What every worker of a run needs to know. */
export interface RunShape {
  /** How messages travel. */
  mode: BenchMode;
  /** The run's channel (or stream) names. */
  names: string[];
  /** The pattern covering them (pattern mode). */
  pattern: string;
  /** Payload bytes. */
  size: number;
  /** Messages per second per publisher, 0: as fast as possible. */
  rate: number;
  /** Publishers in the whole run. */
  publishers: number;
  /** Channels. */
  channels: number;
}

/** One publisher a worker holds. */
export interface PublisherMember {
  /** Its id (0-based), carried in every payload. */
  id: number;
  /** Where its connections go. */
  plan: PublisherPlan;
}

/** One subscriber a worker holds. */
export interface SubscriberMember {
  /** Its index (0-based). */
  index: number;
  /** Where its connections go, each with its names. */
  legs: LegPlan[];
}

/** The first message to a worker. */
export type InitMessage = {
  type: "init";
  /** The run's shape. */
  shape: RunShape;
  /** The counters ({@linkcode Counters} over it). */
  counters: SharedArrayBuffer;
  /** Memory for the clock check. */
  clock: SharedArrayBuffer;
  /** A test's fault: the worker throws this long after `start` (nothing else sets it). */
  crashAfterMs?: number;
} & ({ role: "publishers"; members: PublisherMember[] } | { role: "subscribers"; members: SubscriberMember[] });

/** Messages to a worker. */
export type ToWorker =
  | InitMessage
  | { type: "clock" }
  | { type: "start"; quotas: number[]; durationMs: number; stallMs?: number }
  | { type: "stop" }
  | { type: "finish" };

/** A publisher's figures. */
export interface PublisherFigures {
  /** Its id. */
  id: number;
  /** Messages the server confirmed. */
  confirmed: number;
  /** Messages of batches that failed. */
  failed: number;
  /** The first error. */
  error?: string;
  /** When the first batch was made and the last confirmed, epoch ms. */
  firstAt?: number;
  /** …the last. */
  lastAt?: number;
}

/** A subscriber's figures. */
export interface SubscriberFigures {
  /** Its index. */
  index: number;
  /** What it counted. */
  tally: TallySnapshot;
  /** Its first and last message, epoch ms. */
  firstAt?: number;
  /** …the last. */
  lastAt?: number;
}

/** One subscriber connection's client id on its node, for the output-buffer sampler. */
export interface LegId {
  /** The subscriber. */
  index: number;
  /** The node. */
  node: string;
  /** `CLIENT ID`, when allowed. */
  clientId?: number;
}

/** Messages from a worker. */
export type FromWorker =
  | { type: "log"; text: string }
  | { type: "clock" }
  | { type: "ready"; legs: LegId[]; failed?: { code: number; message: string } }
  | { type: "dropped"; index: number; at: number; node: string; clientId?: number }
  | { type: "published"; publishers: PublisherFigures[]; cpuMs?: number }
  | { type: "result"; subscribers: SubscriberFigures[]; histogram: string; cpuMs?: number }
  | { type: "closed" }
  | { type: "died"; message: string };

/**
 * Counters in shared memory, written by the workers as they go and read by the main thread (progress, the end of
 * the drain, and what is known of a worker that died): per publisher its confirmed messages, per subscriber the
 * messages it received and the distinct ones.
 */
export class Counters {
  readonly #a: Int32Array;

  /**
   * Creates a view on the counters.
   *
   * @param shared the memory ({@linkcode Counters.bytes} of it)
   * @param publishers publishers in the run
   */
  constructor(readonly shared: SharedArrayBuffer, private readonly publishers: number) {
    this.#a = new Int32Array(shared);
  }

  /**
   * The bytes of a run's counters.
   *
   * @param publishers publishers in the run
   * @param subscribers subscribers in the run
   * @returns bytes
   */
  static bytes(publishers: number, subscribers: number): number {
    return 4 * (publishers + 2 * subscribers);
  }

  /** Sets publisher `id`'s confirmed messages. */
  setConfirmed(id: number, n: number): void {
    Atomics.store(this.#a, id, n);
  }

  /** Publisher `id`'s confirmed messages. */
  confirmed(id: number): number {
    return Atomics.load(this.#a, id);
  }

  /** Sets subscriber `index`'s received and distinct messages. */
  setReceived(index: number, received: number, unique: number): void {
    const at = this.publishers + 2 * index;
    this.#a[at] = received;
    this.#a[at + 1] = unique;
  }

  /** Subscriber `index`'s messages received (duplicates included). */
  received(index: number): number {
    return Atomics.load(this.#a, this.publishers + 2 * index);
  }

  /** Subscriber `index`'s distinct messages. */
  unique(index: number): number {
    return Atomics.load(this.#a, this.publishers + 2 * index + 1);
  }
}
