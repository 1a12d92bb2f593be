/**
 * Whether a service does its job now — connected, subscribed or in its
 * group, not stopping — and, when it does not, why, in one line: what
 * `/readyz` answers (200, or 503 with the reason).
 *
 * @module
 */

/** What a readiness check says: nothing when all is well, else why not. */
export type ReadinessCheck = () => string | undefined;

/** Ready, or not with a reason. */
export type ReadinessState = { ready: true } | { ready: false; reason: string };

/**
 * The readiness of one service. It starts not ready (`starting`) until
 * {@linkcode started}; then it is ready while every check passes and nothing
 * holds it; {@linkcode stopping} makes it not ready for good.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Readiness } from "./readiness.ts";
 * let connected = true;
 * const readiness = new Readiness("connecting to redis://127.0.0.1:6379");
 * readiness.require(() => connected ? undefined : "the server is away (outage)");
 * assert.deepEqual(readiness.state, { ready: false, reason: "connecting to redis://127.0.0.1:6379" });
 * readiness.started();
 * assert.deepEqual(readiness.state, { ready: true });
 * connected = false;
 * assert.deepEqual(readiness.state, { ready: false, reason: "the server is away (outage)" });
 * readiness.stopping();
 * assert.equal(readiness.state.ready, false);
 * ```
 */
export class Readiness {
  readonly #checks = new Set<ReadinessCheck>();
  readonly #holds = new Map<symbol, string>();
  #starting: string | undefined;
  #stopping: string | undefined;

  /**
   * Creates a Readiness, not ready until {@linkcode started}.
   *
   * @param starting what it is doing meanwhile, e.g. `connecting to redis://…`
   */
  constructor(starting = "starting") {
    this.#starting = starting;
  }

  /** Whether it is ready now, and if not, why (the first reason found: stopping, starting, a hold, a check). */
  get state(): ReadinessState {
    const reason = this.#stopping ?? this.#starting ?? this.#holds.values().next().value ?? this.#failedCheck();
    return reason === undefined ? { ready: true } : { ready: false, reason };
  }

  /**
   * Says what it is doing before it is ready (another step of the start).
   *
   * @param what e.g. `subscribing to 3 channels`
   */
  starting(what: string): void {
    if (this.#starting !== undefined) this.#starting = what;
  }

  /** The start is over: ready from now on while the checks pass. */
  started(): void {
    this.#starting = undefined;
  }

  /**
   * Adds a condition checked at each question.
   *
   * @param check says why it is not ready, or nothing
   * @returns a function that removes it
   */
  require(check: ReadinessCheck): () => void {
    this.#checks.add(check);
    return () => void this.#checks.delete(check);
  }

  /**
   * Not ready until the returned function is called (e.g. while resubscribing).
   *
   * @param reason why
   * @returns the release
   */
  hold(reason: string): () => void {
    const key = Symbol(reason);
    this.#holds.set(key, reason);
    return () => void this.#holds.delete(key);
  }

  /**
   * Not ready for good: the service is stopping (SIGTERM, Ctrl+C, a fatal error).
   *
   * @param reason why (default: `stopping`)
   */
  stopping(reason = "stopping"): void {
    this.#stopping ??= reason;
  }

  #failedCheck(): string | undefined {
    for (const check of this.#checks) {
      const reason = check();
      if (reason !== undefined) return reason;
    }
    return undefined;
  }
}
