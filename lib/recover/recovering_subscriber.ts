/**
 * A subscriber that gets back what it missed: around an Endpoint's
 * {@linkcode Subscriber}, it follows each recoverable channel (and sharded
 * channel) by offset and epoch, and after an outage — its subscriptions
 * restored, a gap in the offsets, or the history's last offset seen past
 * what it delivered — reads the missed range from the history and delivers
 * it in order, exactly once, marked recovered, before the live messages
 * that came meanwhile. What the history no longer had is said, with why.
 *
 * @module
 */
import { escapeControl, nullWriter, type Printer, Reporter } from "../core/output.ts";
import { formatNumber } from "../core/stats.ts";
import type { Endpoint } from "../endpoint/endpoint.ts";
import type { Link } from "../endpoint/link.ts";
import type { Subscriber } from "../endpoint/subscriber.ts";
import type { Confirmation, PubSubMessage, Subscription } from "../pubsub/subscribe.ts";
import { openEnvelope } from "./history.ts";
import { historyExists, readMeta, readRange } from "./history_reader.ts";
import { ChannelRecovery, type HistorySource, type Loss, type LossReason } from "./recovery.ts";

/** How a {@linkcode RecoveringSubscriber} behaves. */
export interface RecoveringOptions {
  /** Where losses are said. */
  reporter: Reporter;
  /** How often each channel's last offset is looked at, in ms (default 1000; 0: never). */
  checkMs?: number;
  /** Messages read per round trip (default 1000). */
  batch?: number;
  /** Called for each loss (after it is said on the reporter). */
  onLoss?: (loss: Loss) => void;
  /** Where each channel was left by an earlier run (`--recover-state`): followed from there instead of from now. */
  positions?: Positions;
  /** Where {@linkcode RecoveringSubscriber.close} saves the positions for the next run. */
  statePath?: string;
}

/** Each followed channel's epoch and last offset delivered, by `c:NAME` (a channel) or `s:NAME` (a sharded one). */
export type Positions = Record<string, { epoch: string; offset: number }>;

/** The fields a subscriber's JSON summary gains with recovery. */
export interface RecoveryFields {
  /** Messages read back from the history. */
  recovered: number;
  /** Messages missed and not recovered, as far as known. */
  lost: number;
  /** Of {@linkcode lost}, how many for each reason (an unknown count adds nothing). */
  lost_by_reason: Partial<Record<LossReason, number>>;
  /** Epoch changes after which how many were lost is unknown. */
  lost_unknown: number;
}

/** What a subscriber that recovers missed messages adds to the summary (a RecoveringSubscriber). */
export interface RecoverySummary {
  /** The summary's lines about recovery (none when nothing was missed). */
  summaryLines(): string[];
  /** The fields the JSON summary gains. */
  summaryJson(): object;
}

/**
 * Recovery around a subscriber: subscribe and listen through it instead.
 *
 * @example
 * ```ts ignore
 * const sub = new RecoveringSubscriber(await endpoint.subscriber(o), await endpoint.link({ ...o, offlineQueue: true }), o);
 * sub.listen((m) => console.log(m.offset, m.recovered ? "recovered" : "live"));
 * await sub.subscribe([{ kind: "channel", name: "news" }]);
 * ```
 */
export class RecoveringSubscriber implements RecoverySummary {
  readonly #channels = new Map<string, ChannelRecovery>();
  readonly #losses: Loss[] = [];
  readonly #source: HistorySource;
  #handler: (m: PubSubMessage) => void = () => {};
  #timer: ReturnType<typeof setInterval> | undefined;
  #checking = false;
  readonly #unrestored: () => void;
  #ownLink = false;

  /**
   * Opens recovery around `sub`, with a link of its own to read the history (its outages unsaid: the subscriber says
   * them; reads wait for it to be back).
   *
   * @param endpoint the server or cluster `sub` is on
   * @param sub the subscriber
   * @param options where losses are said, how often to look; `signal` stops the first connect
   * @returns the recovering subscriber; {@linkcode close} closes the link too
   * @throws {CliError} when the link cannot be opened
   */
  static async open(
    endpoint: Endpoint,
    sub: Subscriber,
    options: RecoveringOptions & { signal?: AbortSignal },
  ): Promise<RecoveringSubscriber> {
    const link = await endpoint.link({
      reporter: new Reporter(nullWriter),
      offlineQueue: true,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    const recovering = new RecoveringSubscriber(sub, link, options);
    recovering.#ownLink = true;
    return recovering;
  }

  /**
   * @param sub the subscriber to recover around (its owner closes it)
   * @param link a link to the same server or cluster, to read the history (its owner closes it; with an offline
   *   queue, reads wait for it after an outage)
   * @param options where losses are said, how often to look
   */
  constructor(readonly sub: Subscriber, private readonly link: Link, private readonly options: RecoveringOptions) {
    const redis = link.redis;
    this.#source = {
      meta: (channel) => readMeta(redis, channel),
      range: (channel, from, to, count) => readRange(redis, channel, from, to, count),
      exists: (channel) => historyExists(redis, channel),
    };
    this.#unrestored = sub.onRestored(() => this.recoverAll());
    const checkMs = options.checkMs ?? 1000;
    if (checkMs > 0) this.#timer = setInterval(() => void this.#check(), checkMs);
  }

  /**
   * Delivers every message to `handler`: on a followed channel in offset order, once, without its prefix, with its
   * offset (and `recovered` when read back); any other as it came.
   *
   * @param handler called for each message
   * @returns a function that stops delivering
   */
  listen(handler: (message: PubSubMessage) => void): () => void {
    this.#handler = handler;
    return this.sub.listen((raw) => {
      const channel = raw.pattern === undefined
        ? this.#channels.get(keyOf(raw.sharded === true, raw.channel))
        : undefined;
      const numbered = channel ? openEnvelope(raw.payload) : undefined;
      if (!channel || !numbered) return handler(raw);
      channel.live(numbered);
    });
  }

  /**
   * Subscribes through the subscriber, each channel and sharded channel followed from where its history stands now
   * (patterns are not followed: their messages come as they are, prefix and all).
   *
   * @param subscriptions what to subscribe to
   * @param onConfirm called for each confirmation
   * @throws what the subscriber or reading the history threw
   */
  async subscribe(subscriptions: readonly Subscription[], onConfirm?: (c: Confirmation) => void): Promise<void> {
    const followed = subscriptions.filter((s) => s.kind !== "pattern");
    await Promise.all(followed.map(async (s) => {
      const r = this.#follow(s.kind === "shard", s.name);
      r.begin(this.options.positions?.[keyOf(s.kind === "shard", s.name)] ?? await this.#source.meta(s.name));
    }));
    await this.sub.subscribe(subscriptions, onConfirm);
    await Promise.all(followed.map((s) => this.#channels.get(keyOf(s.kind === "shard", s.name))!.recover()));
  }

  /** Leaves every subscription through the subscriber (what came before its confirmation is delivered). */
  unsubscribe(): Promise<void> {
    return this.sub.unsubscribe();
  }

  /**
   * Holds back the subscriber's reading (see {@linkcode Subscriber.pauseReading}); a recovery under way goes on.
   *
   * @returns the function that resumes it, or undefined where the subscriber cannot
   */
  pauseReading(): (() => void) | undefined {
    return this.sub.pauseReading?.();
  }

  #follow(sharded: boolean, name: string): ChannelRecovery {
    const deliver = (d: { offset: number; payload: Uint8Array; recovered: boolean }) =>
      this.#handler({
        channel: name,
        payload: d.payload,
        offset: d.offset,
        ...(sharded ? { sharded: true as const } : {}),
        ...(d.recovered ? { recovered: true as const } : {}),
      });
    const r = new ChannelRecovery(name, this.#source, deliver, (loss) => this.#lost(loss), this.options.batch);
    this.#channels.set(keyOf(sharded, name), r);
    return r;
  }

  #lost(loss: Loss): void {
    this.#losses.push(loss);
    const how = loss.count === undefined ? "an unknown number of" : formatNumber(loss.count);
    const advice = loss.reason === "older than the history"
      ? "a longer --history keeps more"
      : loss.reason === "history deleted"
      ? "its history key was deleted"
      : "the server lost the history (a restart without persistence, FLUSHALL, eviction)";
    this.options.reporter.warn(
      `Lost ${how} message(s) on "${escapeControl(loss.channel)}": ${loss.reason} (${advice}).`,
    );
    this.options.onLoss?.(loss);
  }

  /**
   * Recovers every followed channel now (called when the subscriber's subscriptions are back).
   *
   * @returns when each is caught up (a failed read is left to the next look)
   */
  async recoverAll(): Promise<void> {
    await Promise.all([...this.#channels.values()].map((r) => r.recover().catch(() => {})));
  }

  async #check(): Promise<void> {
    if (this.#checking || !this.link.ready) return;
    this.#checking = true;
    try {
      await Promise.all([...this.#channels.values()].map((r) => r.check().catch(() => {})));
    } finally {
      this.#checking = false;
    }
  }

  /** Messages read back from the history, in all. */
  get recovered(): number {
    let n = 0;
    for (const r of this.#channels.values()) n += r.recovered;
    return n;
  }

  /** Where each followed channel stands now (to save for the next run). */
  positions(): Positions {
    const out: Positions = {};
    for (const [key, r] of this.#channels) if (r.epoch !== undefined) out[key] = { epoch: r.epoch, offset: r.last };
    return out;
  }

  /** The losses found, in order. */
  get losses(): readonly Loss[] {
    return this.#losses;
  }

  /** The summary's lines: recovered N, lost M with why; none when nothing was missed. */
  summaryLines(): string[] {
    const f = this.summaryJson();
    if (f.recovered === 0 && f.lost === 0 && f.lost_unknown === 0) return [];
    const why = Object.entries(f.lost_by_reason).map(([reason, n]) => `${formatNumber(n!)} ${reason}`);
    if (f.lost_unknown > 0) why.push(`an unknown number when the epoch changed ${f.lost_unknown} time(s)`);
    const lost = f.lost > 0 || f.lost_unknown > 0 ? `, lost ${formatNumber(f.lost)} (${why.join("; ")})` : ", lost 0";
    return [`Recovered ${formatNumber(f.recovered)} missed message(s) from the history${lost}.`];
  }

  /** The recovery fields of the JSON summary. */
  summaryJson(): RecoveryFields {
    const byReason: Partial<Record<LossReason, number>> = {};
    let lost = 0;
    let unknown = 0;
    for (const l of this.#losses) {
      if (l.count === undefined) unknown++;
      else {
        lost += l.count;
        byReason[l.reason] = (byReason[l.reason] ?? 0) + l.count;
      }
    }
    return { recovered: this.recovered, lost, lost_by_reason: byReason, lost_unknown: unknown };
  }

  /**
   * Stops looking; closes the link if {@linkcode open} opened it (the subscriber stays open: its owner closes it);
   * saves the positions when a state file was given.
   */
  async close(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#unrestored();
    if (this.#ownLink) await this.link.close();
    const path = this.options.statePath;
    if (path !== undefined) await Deno.writeTextFile(path, JSON.stringify({ version: 1, positions: this.positions() }));
  }
}

/**
 * `subscriber.ts --recover` and `event_processor.ts --recover`: recovery around `sub`, each loss also a `lost` event
 * on `events` (`--json`); `sub` is closed when the link to read the history cannot be opened.
 *
 * @param endpoint the server or cluster
 * @param sub the subscriber
 * @param options where losses are said, the `--json` printer if any, Ctrl+C
 * @returns the recovering subscriber
 * @throws {CliError} when the link cannot be opened
 */
export async function recoverAround(
  endpoint: Endpoint,
  sub: Subscriber,
  options: { reporter: Reporter; events?: Printer; signal?: AbortSignal; statePath?: string },
): Promise<RecoveringSubscriber> {
  const { events, statePath } = options;
  try {
    const positions = statePath === undefined ? undefined : await loadPositions(statePath, options.reporter);
    const recovering = await RecoveringSubscriber.open(endpoint, sub, {
      reporter: options.reporter,
      ...(options.signal ? { signal: options.signal } : {}),
      ...(events ? { onLoss: (l: Loss) => events.event("lost", { ...l, count: l.count ?? null }) } : {}),
      ...(positions ? { positions } : {}),
      ...(statePath !== undefined ? { statePath } : {}),
    });
    return recovering;
  } catch (err) {
    await sub.close();
    throw err;
  }
}

/** The positions saved in `path`, or undefined when there is no such file (a first run); a bad file is said. */
async function loadPositions(path: string, reporter: Reporter): Promise<Positions | undefined> {
  const text = await Deno.readTextFile(path).catch(() => undefined);
  if (text === undefined) return undefined;
  try {
    const saved = JSON.parse(text) as { version: number; positions: Positions };
    if (saved.version === 1 && typeof saved.positions === "object") return saved.positions;
  } catch {
    // said below
  }
  reporter.warn(`Ignoring ${path}: it is not a state saved by --recover-state (subscriber.ts, event_processor.ts).`);
  return undefined;
}

function keyOf(sharded: boolean, name: string): string {
  return `${sharded ? "s" : "c"}:${name}`;
}
