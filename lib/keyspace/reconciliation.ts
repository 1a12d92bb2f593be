/**
 * `keyspace_listener.ts --reconcile` at work: the listener's live events held
 * while the watched keys are reconciled (at the start, and each time a node's
 * subscription is back after an outage), each missed change printed before
 * them; the keys of live events digested again as they come; the state saved
 * for the next run (`--reconcile-state`).
 *
 * @module
 */
import { toSeconds } from "../core/json_event.ts";
import { clock, escapeControl, type Printer, type Reporter } from "../core/output.ts";
import { formatNumber } from "../core/stats.ts";
import type { Link } from "../endpoint/link.ts";
import type { PubSubMessage } from "../pubsub/subscribe.ts";
import { parseNotification } from "./channels.ts";
import { DIGEST_SCRIPT, KeyReconciler, type MissedChange, type ScanNode } from "./reconcile.ts";

/** What `--reconcile` was asked for. */
export interface ReconcileOptions {
  /** At most this many keys remembered and compared (`--reconcile-max-keys`). */
  maxKeys: number;
  /** Where the state is loaded from at the start and saved to at the end (`--reconcile-state`). */
  statePath?: string;
}

/** How often the keys of live events are digested again, in ms. */
const REFRESH_MS = 200;

/** The reconciliation of one listener run. */
export class Reconciliation {
  readonly #reconciler: KeyReconciler;
  #held: [PubSubMessage, string | undefined][] | undefined = [];
  #running: Promise<void> | undefined;
  #again = false;
  #timer: ReturnType<typeof setInterval> | undefined;
  #refreshing: Promise<void> | undefined;

  /**
   * @param patterns the watched keys or patterns
   * @param options the bound and the state file
   * @param link reads the digests of live events' keys
   * @param nodes the nodes to SCAN now
   * @param deliver where live events go once nothing is held
   * @param out where missed changes are printed
   * @param json `--json`
   * @param status where the run's lines go
   */
  constructor(
    patterns: readonly string[],
    private readonly options: ReconcileOptions,
    private readonly link: Link,
    private readonly nodes: () => ScanNode[],
    private readonly deliver: (m: PubSubMessage, node: string | undefined) => void,
    private readonly out: Printer,
    private readonly json: boolean,
    private readonly status: Reporter,
  ) {
    this.#reconciler = new KeyReconciler(patterns, options.maxKeys);
  }

  /** Loads the saved state, if any: the first reconciliation then reports what changed since that run. */
  async load(): Promise<void> {
    const path = this.options.statePath;
    if (path === undefined) return;
    const text = await Deno.readTextFile(path).catch(() => undefined);
    if (text === undefined) return;
    let taken = false;
    try {
      taken = this.#reconciler.restore(text);
    } catch {
      taken = false;
    }
    if (!taken) this.status.warn(`Ignoring ${path}: it is not a state of this listener's --key patterns.`);
  }

  /** A live event: held while a reconciliation runs, its key digested again soon. */
  push(m: PubSubMessage, node: string | undefined): void {
    const n = parseNotification(m.channel, m.payload);
    if (n) this.#reconciler.touched(n.key);
    if (this.#held) this.#held.push([m, node]);
    else this.deliver(m, node);
  }

  /** Reconciles now (at the start, or when a node's subscription is back); a call while one runs runs it again. */
  reconcile(): Promise<void> {
    if (this.#running) {
      this.#again = true;
      return this.#running;
    }
    this.#held ??= [];
    this.#running = this.#run().finally(() => (this.#running = undefined));
    return this.#running;
  }

  async #run(): Promise<void> {
    try {
      for (let round = 0; round < 5; round++) {
        this.#again = false;
        const run = await this.#reconciler.reconcile(this.nodes(), (c) => this.#print(c));
        if (run.truncated) {
          this.status.warn(
            `Reconciled only the first ${formatNumber(this.options.maxKeys)} watched keys (--reconcile-max-keys): ` +
              "changes of the others are not known.",
          );
        }
        if (run.baseline) {
          this.status.info(
            `Took note of ${formatNumber(run.keys)} watched key(s) in ${toSeconds(run.ms)} s (--reconcile): after an ` +
              "outage, those changed, added or deleted meanwhile are reported.",
          );
        } else if (run.changed + run.added + run.deleted > 0) {
          this.status.info(
            `Reconciled ${formatNumber(run.keys)} watched key(s) in ${toSeconds(run.ms)} s: ${run.changed} changed, ` +
              `${run.added} added, ${run.deleted} deleted while events were not heard.`,
          );
        }
        if (!this.#again) break;
      }
    } catch (err) {
      this.status.warn(`Could not reconcile the watched keys (${(err as Error).message}): trying at the next outage.`);
    } finally {
      const held = this.#held ?? [];
      this.#held = undefined;
      for (const [m, node] of held) this.deliver(m, node);
    }
    this.#timer ??= setInterval(() => void this.#refresh(), REFRESH_MS);
  }

  #refresh(): Promise<void> {
    if (this.#refreshing || this.#running || !this.link.ready) return Promise.resolve();
    return this.#refreshing = this.#refreshOnce().finally(() => (this.#refreshing = undefined));
  }

  async #refreshOnce(): Promise<void> {
    const redis = this.link.redis;
    try {
      await this.#reconciler.refresh(async (keys) =>
        this.link.combinable(keys)
          ? (await redis.eval(DIGEST_SCRIPT, keys.length, ...keys)) as string[]
          : await Promise.all(keys.map(async (k) => ((await redis.eval(DIGEST_SCRIPT, 1, k)) as string[])[0]!))
      );
    } catch {
      // tried again at the next tick
    }
  }

  #print(c: MissedChange): void {
    if (this.json) return this.out.event("missed_change", { ...c });
    const what = c.change === "deleted" ? "deleted" : `${c.change} (${c.type})`;
    this.out.line(
      `${this.out.dim(clock())} ${this.out.yellow("missed")} ${this.out.bold(escapeControl(c.key))}: ${what} ` +
        this.out.dim("while events were not heard"),
    );
  }

  /** The summary's fields: missed changes found after outages (the first run's, from a saved state, included). */
  summaryJson(): Record<string, number> {
    const runs = this.#reconciler.runs.filter((r) => !r.baseline);
    const sum = (f: (r: (typeof runs)[number]) => number) => runs.reduce((t, r) => t + f(r), 0);
    return {
      reconciles: runs.length,
      missed_changed: sum((r) => r.changed),
      missed_added: sum((r) => r.added),
      missed_deleted: sum((r) => r.deleted),
      reconcile_seconds: toSeconds(sum((r) => r.ms)),
    };
  }

  /** The summary's line, or undefined when nothing was reconciled. */
  summaryLine(): string | undefined {
    const f = this.summaryJson();
    if (f.reconciles === 0) return undefined;
    const missed = f.missed_changed! + f.missed_added! + f.missed_deleted!;
    return `Reconciled ${f.reconciles} time(s) in ${f.reconcile_seconds} s: ${formatNumber(missed)} missed ` +
      `change(s) (${f.missed_changed} changed, ${f.missed_added} added, ${f.missed_deleted} deleted).`;
  }

  /** Stops digesting, waits for a reconciliation going on, and saves the state (`--reconcile-state`). */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    await this.#running;
    await this.#refreshing;
    const path = this.options.statePath;
    const state = this.#reconciler.save();
    if (path !== undefined && state !== undefined) await Deno.writeTextFile(path, state);
  }
}
