/**
 * A subscribed connection that keeps its subscriptions across reconnects by
 * itself (ioredis's own resubscription cannot be caught): each channel and
 * pattern is subscribed on its own, so one the server refuses (an ACL
 * `&channel` rule) is reported in one line and the others go on; when none
 * is left the script stops with exit code 8. It also tells why an outage
 * happened — a drop for falling behind (pub/sub output buffer over its
 * limit) apart from a restart — watches the backlog, and dates the outage
 * from when the server closed the connection.
 *
 * @module
 */
import { toSeconds } from "../core/json_event.ts";
import { type Redis, ReplyError } from "ioredis";
import { Connection, type ConnectionOptions } from "../core/client.ts";
import { type ReadAhead, readPushesAhead } from "../core/ioredis_guard.ts";
import { CliError, ExitCode } from "../core/exit_codes.ts";
import { escapeControl } from "../core/output.ts";
import { formatNumber } from "../core/stats.ts";
import { BacklogWatch } from "./backlog_watch.ts";
import {
  classifyOutage,
  type CloseEvidence,
  type OutageCause,
  readSubscriberFacts,
  type SubscriberFacts,
} from "./drop_cause.ts";
import { describeOutputLimit, dropThreshold } from "./output_limit.ts";
import {
  type Confirmation,
  leaveAll,
  onMessage,
  type PubSubMessage,
  subscribeOne,
  type Subscription,
} from "./subscribe.ts";
import { noShardedPubSub, shardedUnsupported } from "./sharded.ts";
import { withTimeout } from "../core/timing.ts";

/** How a {@linkcode SubscriberConnection} behaves: a {@linkcode ConnectionOptions} plus what falling behind means. */
export interface SubscriberOptions extends Omit<ConnectionOptions, "restore" | "lostSince"> {
  /** Messages received and not handled yet (a local pile-up means the script is behind). */
  pending?: () => number;
  /** What this script offers to keep up, e.g. `--quiet`: said before the general advice when it falls behind. */
  remedies?: string[];
}

/**
 * What to do when a subscriber falls behind: the script's own remedies
 * first, then the general ones.
 *
 * @param remedies what this script offers, e.g. `--quiet`
 * @returns one sentence
 * @example
 * ```ts
 * import { keepUpAdvice } from "./subscriptions.ts";
 * import assert from "node:assert/strict";
 * assert.ok(keepUpAdvice(["--quiet"]).startsWith("To keep up: --quiet, a faster consumer"));
 * ```
 */
export function keepUpAdvice(remedies: readonly string[] = []): string {
  const all = [...remedies, "a faster consumer", "or a stream (XADD / XREADGROUP) when every message matters"];
  return `To keep up: ${all.join(", ")}.`;
}

/** Bytes of a pushed message besides its channel, pattern and payload (the RESP framing), roughly. */
const FRAME_BYTES = 30;

/** The outage fields every long-running script's JSON summary carries. */
export interface OutageFields {
  /** How many times the connection was lost. */
  outages: number;
  /** Time without the server, in seconds rounded to the millisecond. */
  disconnected_seconds: number;
  /** How many of the losses were the server dropping a subscriber that fell behind. */
  fell_behind: number;
  /** How many were server restarts. */
  server_restarts: number;
  /** Messages the server counted as delivered that never arrived, at least (when that can be known). */
  discarded_at_least?: number;
}

/** The outage fields of a script that never got as far as subscribing. */
export const NO_OUTAGES: OutageFields = { outages: 0, disconnected_seconds: 0, fell_behind: 0, server_restarts: 0 };

/**
 * One connection used only to subscribe, with its subscriptions restored
 * after every reconnect.
 *
 * @example
 * ```ts
 * import { LocalServer } from "../core/local_server.ts";
 * import { nullWriter, Reporter } from "../core/output.ts";
 * import { SubscriberConnection } from "./subscriptions.ts";
 * import assert from "node:assert/strict";
 *
 * // A throw-away server for the example, unless REDIS_URL names one to use:
 * await using local = Deno.env.get("REDIS_URL") ? undefined : await LocalServer.start();
 * const url = local?.url ?? Deno.env.get("REDIS_URL")!;
 * const sub = await SubscriberConnection.open({ url, reporter: new Reporter(nullWriter) });
 * await sub.subscribe([{ kind: "channel", name: `news-${crypto.randomUUID()}` }], (c) => assert.equal(c.active, 1));
 * await sub.unsubscribe();
 * await sub.close();
 * ```
 */
export class SubscriberConnection {
  /** Outages in which the server dropped this subscriber for falling behind. */
  fellBehind = 0;
  /** Outages in which the server restarted. */
  restarts = 0;
  /** Messages the server counted as delivered (queued) and discarded when it dropped the connection, at least. */
  discardedAtLeast = 0;
  /** Whether {@linkcode discardedAtLeast} is known for every drop (the limit was read and messages were seen). */
  discardedKnown = true;
  /** Resolves with the error to stop with when the server refuses every subscription after a reconnect. */
  readonly failed: Promise<CliError>;
  #fail: (err: CliError) => void = () => {};
  readonly #wanted: Subscription[] = [];
  readonly #refused = new Set<Subscription>();
  #facts: SubscriberFacts;
  #seen: CloseEvidence | undefined;
  readonly #watch: BacklogWatch;
  #readAhead: ReadAhead | undefined;
  #messages = 0;
  #bytes = 0;
  readonly #restored = new Set<() => void>();

  private constructor(
    /** The connection (its outages and address). */
    readonly conn: Connection,
    facts: SubscriberFacts,
    private readonly options: SubscriberOptions,
  ) {
    this.#facts = facts;
    this.failed = new Promise((resolve) => (this.#fail = resolve));
    this.#watch = new BacklogWatch({
      url: options.url,
      reporter: options.reporter,
      limit: () => this.#facts.limit,
      ...(options.pending ? { pending: options.pending } : {}),
      advice: keepUpAdvice(options.remedies),
    });
    const count = (channel: Uint8Array, payload: Uint8Array, pattern = "") => {
      this.#messages++;
      this.#bytes += channel.length + payload.length + pattern.length + FRAME_BYTES;
    };
    conn.redis.on("messageBuffer", (channel: Uint8Array, payload: Uint8Array) => count(channel, payload));
    conn.redis.on(
      "pmessageBuffer",
      (pattern: string, channel: Uint8Array, payload: Uint8Array) => count(channel, payload, String(pattern)),
    );
    conn.redis.on("close", () => this.#watch.setClient(undefined));
    this.#watch.setClient(facts.clientId);
  }

  /**
   * Connects (as {@linkcode Connection.open}) and reads what the server
   * says about the connection, before anything is subscribed.
   *
   * @param options the connection's options, and what falling behind means
   * @returns the connection, nothing subscribed yet
   * @throws {CliError} when the server cannot be reached (exit code 3)
   */
  static async open(options: SubscriberOptions): Promise<SubscriberConnection> {
    const made: { self?: SubscriberConnection } = {};
    const conn = await Connection.open({
      ...options,
      onRestored: (downMs) => {
        options.onRestored?.(downMs);
        for (const listener of made.self ? made.self.#restored : []) listener();
      },
      restore: (redis) => (made.self ? made.self.#restore(redis) : Promise.resolve()),
      lostSince: () => (made.self ? made.self.#lost() : undefined),
      role: "subscriber",
      figures: () => ({ fellBehind: made.self?.fellBehind ?? 0, backlogBytes: made.self?.backlogBytes ?? 0 }),
    });
    made.self = new SubscriberConnection(conn, await readSubscriberFacts(conn.redis), options);
    // Messages are read ahead of ioredis's decoder, which costs far more per message (lib/wire/push_cutter.ts).
    made.self.#readAhead = readPushesAhead(conn.redis);
    return made.self;
  }

  /** The ioredis client (for message listeners). */
  get redis(): Redis {
    return this.conn.redis;
  }

  /** The server's address, password hidden. */
  get address(): string {
    return this.conn.address;
  }

  /** The server's output buffer for it, in bytes, as last read while it was behind; 0 while it keeps up. */
  get backlogBytes(): number {
    return this.#watch.lastSample?.bytes ?? 0;
  }

  /** Whether the connection is up now. */
  get ready(): boolean {
    return this.conn.ready;
  }

  /** Undefined: one server has no nodes to tell apart. */
  get node(): undefined {
    return undefined;
  }

  /**
   * Delivers every message to `handler`.
   *
   * @param handler called for each message
   * @returns a function that stops delivering
   */
  listen(handler: (message: PubSubMessage) => void): () => void {
    return onMessage(this.redis, handler);
  }

  /** Does nothing: on one server no channel moves. */
  onMove(_listener: unknown): void {}

  /**
   * Calls `listener` each time the subscriptions are back after a reconnect (subscribed again, before the
   * "Reconnected" line's listeners of the connection return).
   *
   * @param listener what to do
   * @returns a function that removes it
   */
  onRestored(listener: () => void): () => void {
    this.#restored.add(listener);
    return () => this.#restored.delete(listener);
  }

  /**
   * Subscribes to each channel and pattern on its own. One the server
   * refuses is reported in one line and left out; the others go on.
   *
   * @param subscriptions what to subscribe to
   * @param onConfirm called for each confirmation, in order
   * @throws {CliError} with exit code 8 when the server refuses them all
   */
  async subscribe(
    subscriptions: readonly Subscription[],
    onConfirm: (confirmation: Confirmation) => void = () => {},
  ): Promise<void> {
    this.#wanted.push(...subscriptions);
    const results = await Promise.allSettled(subscriptions.map((s) => subscribeOne(this.redis, s)));
    results.forEach((r, i) => {
      const s = subscriptions[i]!;
      if (r.status === "fulfilled") return onConfirm({ ...s, active: r.value });
      if (!(r.reason instanceof ReplyError)) throw r.reason;
      if (s.kind === "shard" && noShardedPubSub(r.reason)) throw shardedUnsupported(this.address, "SSUBSCRIBE");
      this.#refuse(s, r.reason.message);
    });
    if (this.#refused.size === this.#wanted.length) throw this.#noneLeft();
  }

  /** Leaves every channel and pattern, waiting at most a second (a connection that is gone has nothing to leave). */
  async unsubscribe(): Promise<void> {
    const active = this.#wanted.filter((s) => !this.#refused.has(s));
    if (this.redis.status !== "ready" || active.length === 0) return;
    await withTimeout(leaveAll(this.redis, active), 1000, () => new Error("UNSUBSCRIBE unanswered")).catch(() => {});
  }

  /** What the script saw at the close; dates the outage from when the server really closed the connection. */
  #lost(): number | undefined {
    const at = Date.now();
    const stall = this.#watch.recentStall(at);
    const cutShort = this.#readAhead?.unfinished();
    this.#seen = {
      at,
      ...(this.#watch.lastSample ? { sample: this.#watch.lastSample } : {}),
      ...(this.#watch.goneAt !== undefined ? { goneAt: this.#watch.goneAt } : {}),
      ...(stall ? { stall } : {}),
      ...(this.options.pending ? { waiting: this.options.pending() } : {}),
      ...(cutShort ? { cutShort } : {}),
    };
    const since = [this.#watch.goneAt, stall?.from].filter((t): t is number => t !== undefined);
    return since.length ? Math.min(...since) : undefined;
  }

  /** After a reconnect: read the facts, resubscribe each, then say why the connection was lost. */
  async #restore(redis: Redis): Promise<void> {
    const facts = await readSubscriberFacts(redis);
    const results = await Promise.allSettled(this.#wanted.map((s) => subscribeOne(redis, s)));
    const lostAgain = results.find((r) => r.status === "rejected" && !(r.reason instanceof ReplyError));
    if (lostAgain) throw (lostAgain as PromiseRejectedResult).reason; // the next reconnect tries again
    const cause = classifyOutage(this.#facts, facts, this.#seen ?? { at: Date.now() });
    this.#count(cause);
    this.#facts = facts;
    this.#watch.setClient(facts.clientId);
    results.forEach((r, i) => {
      const s = this.#wanted[i]!;
      if (r.status === "rejected") return this.#refuse(s, (r.reason as Error).message);
      if (this.#refused.delete(s)) {
        this.options.reporter.ok(`Subscribed to ${what(s)} again: the server accepts it now.`);
      }
    });
    if (this.#refused.size === this.#wanted.length) this.#fail(this.#noneLeft());
  }

  #count(cause: OutageCause): void {
    if (cause.kind === "restart") this.restarts++;
    if (cause.kind !== "fell_behind") return;
    this.fellBehind++;
    const limit = this.#facts.limit;
    const threshold = dropThreshold(limit);
    const discarded = limit.known && threshold !== undefined && this.#messages > 0
      ? Math.floor(threshold / (this.#bytes / this.#messages))
      : undefined;
    if (discarded === undefined) this.discardedKnown = false;
    else this.discardedAtLeast += discarded;
    const lost = discarded === undefined
      ? "What it held for this subscriber was discarded."
      : `At least about ${formatNumber(discarded)} message(s) it had counted as delivered were discarded.`;
    this.options.reporter.warn(
      `The server dropped this subscriber because it fell behind (pubsub output buffer over its limit, ` +
        `${describeOutputLimit(limit)}; ${cause.evidence}). ${lost} ${keepUpAdvice(this.options.remedies)}`,
    );
  }

  #refuse(s: Subscription, reason: string): void {
    if (this.#refused.has(s)) return;
    this.#refused.add(s);
    const left = this.#wanted.length - this.#refused.size;
    if (left === 0) return; // said once, by the error that stops the script
    this.options.reporter.error(
      `The server refuses ${what(s)} for user "${this.#user()}" (${escapeControl(reason)}): ask its administrator ` +
        `to allow it, e.g. ACL SETUSER ${this.#user()} &${escapeControl(s.name)}. Going on with ${left} other ` +
        `subscription(s).`,
    );
  }

  #noneLeft(): CliError {
    const rules = this.#wanted.map((s) => `&${escapeControl(s.name)}`).join(" ");
    return new CliError(
      ExitCode.NoSubscription,
      `The server at ${this.address} refuses every channel and pattern asked for, for user "${this.#user()}": ` +
        `ask its administrator to allow them, e.g. ACL SETUSER ${this.#user()} ${rules}.`,
    );
  }

  #user(): string {
    try {
      return decodeURIComponent(new URL(this.options.url.trim()).username) || "default";
    } catch {
      return "default";
    }
  }

  /**
   * The summary's lines about outages: how many, how long, and how many
   * were drops for falling behind or server restarts.
   *
   * @param cost what the outages cost, e.g. `messages published then were not received.`
   * @returns the lines (joined), or undefined when the connection was never lost
   */
  outageSummary(cost: string): string | undefined {
    const first = this.conn.outageSummary(cost);
    if (!first) return undefined;
    const lines = [first];
    if (this.fellBehind > 0) {
      const discarded = this.discardedKnown
        ? `; at least about ${formatNumber(this.discardedAtLeast)} message(s) it counted as delivered never arrived`
        : "";
      lines.push(
        `  ${this.fellBehind} time(s): the server dropped this subscriber because it fell behind ` +
          `(pubsub output buffer over its limit)${discarded}.`,
      );
    }
    if (this.restarts > 0) lines.push(`  ${this.restarts} time(s): the server restarted.`);
    return lines.join("\n");
  }

  /**
   * The outage fields of a JSON summary.
   *
   * @returns `outages`, `disconnected_seconds`, `fell_behind`, `server_restarts`, and `discarded_at_least` when known
   */
  outageJson(): OutageFields {
    return {
      outages: this.conn.outages,
      disconnected_seconds: toSeconds(this.conn.downMs),
      fell_behind: this.fellBehind,
      server_restarts: this.restarts,
      ...(this.discardedKnown ? { discarded_at_least: this.discardedAtLeast } : {}),
    };
  }

  /** Stops watching and closes the connection. */
  async close(): Promise<void> {
    await this.#watch.close();
    await this.conn.close();
  }
}

function what(s: Subscription): string {
  return `${s.kind === "shard" ? "sharded channel" : s.kind} "${escapeControl(s.name)}"`;
}
