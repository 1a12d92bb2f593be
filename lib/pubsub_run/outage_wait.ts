/**
 * How a publisher with `--retry` rides out an outage: a failed batch waits,
 * up to a deadline, for its link to be back, then the series carries on.
 *
 * @module
 */
import type { Link } from "../endpoint/link.ts";
import { delay } from "../core/timing.ts";

/** How often a publish is tried again while an outage may end unannounced (a cluster's slot map may change any time). */
const QUIET_RETRY_MS = 250;

/**
 * Lets a failed publish wait, up to a deadline, for the link to come back.
 *
 * @example
 * ```ts ignore
 * const outage = new OutageWait(link, shutdown.signal, 30_000);
 * await publishSeries(link.redis, 1000, make, { rate: 50 }, (p) => outage.published(), signal, {
 *   onFailure: (err) => outage.wait(err),
 * });
 * ```
 */
export class OutageWait {
  #waiters: (() => void)[] = [];
  /** Where an outage may end unannounced: when publishing began to fail (undefined while it works). */
  #failingSince: number | undefined;
  readonly #quiet: boolean;

  /**
   * @param link the link published through: its return wakes every waiter; where it may return unannounced
   *   ({@linkcode Link.restoresQuietly}) the publish is tried again every 250 ms until `ms` after the first failure
   *   (a failover moves the slots to another node, a node that comes back moves none)
   * @param stop Ctrl+C
   * @param ms how long to wait for the link (`--retry`)
   */
  constructor(private readonly link: Link, private readonly stop: AbortSignal, private readonly ms: number) {
    this.#quiet = link.restoresQuietly;
    link.onRestored(() => {
      for (const wake of this.#waiters.splice(0)) wake();
    });
  }

  /** A message was published: the outage, if any, is over. */
  published(): void {
    this.#failingSince = undefined;
  }

  /**
   * Decides whether a series goes on after a failed batch: a command the server refused is no outage (false at once);
   * a lost connection is waited for.
   *
   * @param err what the batch failed with
   * @returns true once the link is back (or on Ctrl+C: the series then ends), false after the deadline
   */
  async wait(err: Error): Promise<boolean> {
    if (!this.link.isOutage(err)) return false;
    if (this.stop.aborted) return true;
    const done = new AbortController();
    const back = new Promise<boolean>((resolve) => this.#waiters.push(() => resolve(true)));
    if (this.#quiet) {
      const since = this.#failingSince ??= Date.now();
      const left = since + this.ms - Date.now();
      if (left <= 0) return false;
      const again = delay(Math.min(QUIET_RETRY_MS, left), AbortSignal.any([done.signal, this.stop])).then(() => true);
      try {
        return await Promise.race([back, again]);
      } finally {
        done.abort();
      }
    }
    const late = delay(this.ms, AbortSignal.any([done.signal, this.stop])).then(() => this.stop.aborted);
    try {
      return await Promise.race([back, late]);
    } finally {
      done.abort();
    }
  }
}
