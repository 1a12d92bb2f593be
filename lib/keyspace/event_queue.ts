/**
 * The listener's events, handled one at a time in arrival order: each key
 * that changed is read (and acknowledged with the handshake), and the event
 * is printed, until `--count` or a stop.
 *
 * @module
 */
import { CliError } from "../core/exit_codes.ts";
import { escapeControl, type Reporter } from "../core/output.ts";
import { withTimeout } from "../core/timing.ts";
import type { Commands } from "../endpoint/link.ts";
import type { PubSubMessage } from "../pubsub/subscribe.ts";
import { type Notification, parseNotification, type WatchPlan } from "./channels.ts";
import type { HandshakeResponder } from "./handshake.ts";
import { type KeyView, readKeyView, stringView } from "./key_view.ts";
import { findStamp, type Stamp } from "./stamp.ts";
import type { ServiceMetrics } from "../ops/service_metrics.ts";

/** One event as the listener handled it. */
export interface Handled {
  /** The notification. */
  notification: Notification;
  /** The key as read. */
  view: KeyView;
  /** The timestamp found in its value, if any. */
  stamp?: Stamp;
  /** How long the event took to arrive, by that timestamp, in ms. */
  delayMs?: number;
  /** Whether the handshake was written. */
  handshake: boolean;
  /** Where there are several nodes: the node the event came from, `host:port`. */
  node?: string;
}

/** What the queue needs to handle events. */
export interface EventQueueOptions {
  /** What is watched (and filtered here). */
  plan: WatchPlan;
  /** The database watched. */
  db: number;
  /** The `--key` values (the handshake key's own events count only when it is one of them). */
  keys: readonly string[];
  /** The handshake key, or undefined for `--no-handshake`. */
  handshakeKey: string | undefined;
  /** Stop after this many events. */
  count: number | undefined;
  /** Reads the key and writes the handshake. */
  responder: HandshakeResponder;
  /** Commands to read a key that is not a string with. */
  read: Commands;
  /** Prints one handled event. */
  print: (handled: Handled) => void;
  /** Where a key that cannot be read is reported. */
  status: Reporter;
  /** Aborted when the run is over (`--count` reached, or a fatal error): no more events are handled. */
  done: AbortController;
  /** Ends the run with this error. */
  stopWith: (err: CliError) => void;
  /** Where events received, handled and failed are counted, per event name, with the time each took. */
  metrics?: ServiceMetrics;
}

/**
 * The events asked for, handled in arrival order.
 *
 * @example
 * ```ts ignore
 * const events = new EventQueue({ plan, db: 0, keys, handshakeKey, count, responder, read, print, status, done, stopWith });
 * sub.listen((m) => events.push(m));
 * ```
 */
export class EventQueue {
  /** Events handled. */
  handled = 0;
  /** Handshakes written. */
  handshakes = 0;
  /** Events received and not handled yet. */
  waiting = 0;
  #queue = Promise.resolve();
  readonly #ownKey: string | undefined;

  /**
   * Creates an EventQueue.
   *
   * @param options what to watch, how to read and acknowledge, where to print
   */
  constructor(private readonly options: EventQueueOptions) {
    const { handshakeKey, keys } = options;
    // Its own handshake writes are not events, unless that very key was asked for.
    this.#ownKey = handshakeKey !== undefined && !keys.includes(handshakeKey) ? handshakeKey : undefined;
  }

  /**
   * Takes one pub/sub message.
   *
   * @param m the message
   * @param node the node it came from, where there are several
   */
  push(m: PubSubMessage, node?: string): void {
    const receivedAt = Date.now();
    const { plan, db, done } = this.options;
    if (done.signal.aborted || !plan.firstDelivery(m.channel, m.pattern)) return;
    const n = parseNotification(m.channel, m.payload);
    if (!n || n.db !== db || n.key === this.#ownKey || !plan.wants(n)) return;
    const metrics = this.options.metrics;
    metrics?.received.inc(n.event);
    this.waiting++;
    this.#queue = this.#queue.then(async () => {
      this.waiting--;
      if (done.signal.aborted) return;
      try {
        const started = performance.now();
        const result = await handle(n, receivedAt, this.options.responder, this.options.read);
        metrics?.handlerSeconds.observe(n.event, (performance.now() - started) / 1000);
        metrics?.handled.inc(n.event);
        if (node !== undefined) result.node = node;
        this.handled++;
        if (result.handshake) this.handshakes++;
        this.options.print(result);
        if (this.handled === this.options.count) done.abort();
      } catch (err) {
        metrics?.failed.inc(n.event);
        if (err instanceof CliError) return this.options.stopWith(err);
        this.options.status.warn(
          `Could not read ${escapeControl(n.key)} after its ${escapeControl(n.event)} event: ` +
            (err as Error).message,
        );
      }
    });
  }

  /** Lets the event being handled finish (bounded: a queued command may wait for a server that is down). */
  async drain(): Promise<void> {
    await withTimeout(this.#queue, 1000, () => new Error("still handling")).catch(() => {});
  }
}

/** Reads the key (and writes the handshake) for one event. */
async function handle(
  notification: Notification,
  receivedAt: number,
  responder: HandshakeResponder,
  read: Commands,
): Promise<Handled> {
  const response = await responder.respond(notification.key);
  const view = response.type === "string" || response.type === "none"
    ? stringView(response.type, response.value)
    : await readKeyView(read, notification.key, response.type);
  const stamp = findStamp(view.searchable, receivedAt);
  return {
    notification,
    view,
    handshake: response.handshake,
    ...(stamp ? { stamp, delayMs: receivedAt - stamp.epochMs } : {}),
  };
}
