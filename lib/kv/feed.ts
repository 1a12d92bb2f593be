/**
 * The API server's event feed: for each update stored, read the stored value
 * and send it to the SSE clients.
 *
 * kv_updater announces what each batch stored (stored_channel.ts): the feed
 * sends those values at once ({@linkcode KvFeed.stored}), except around a
 * snapshot, when it reads them instead (see there). An updater that
 * does not announce (the seed's Python updater) is followed through the
 * update channel alone ({@linkcode KvFeed.notify}): the API server hears an
 * update at the same moment as the updater, so the key may not be written
 * yet, and the feed reads until the stored text is the one the update
 * produces (or a newer one), for at most `confirmMs`. Once an announcement
 * was heard, updates from the channel wait for theirs instead of being read
 * again and again — until one is not announced within `confirmMs` (that
 * updater gone): then it reads as for the seed's.
 * Reads and snapshots run one after another on one connection, so a client
 * that gets a snapshot then receives exactly the changes made after it.
 *
 * @module
 */
import { type KvUpdate, updateEventJson } from "./message.ts";
import type { KvStore } from "./store.ts";
import type { StoredAnnouncement } from "./stored_channel.ts";
import type { Logger } from "../core/log.ts";
import type { SseClient, SseEvent, SseHub } from "../web/sse.ts";
import { delay, withTimeout } from "../core/timing.ts";

/** How a {@linkcode KvFeed} works. */
export interface KvFeedOptions {
  /** What was stored, read through the command link (not the subscribed connection). */
  store: KvStore;
  /** Where events go. */
  hub: SseHub;
  /** Where unconfirmed updates are reported. */
  log: Logger;
  /** How long to wait for the updater to store an update, in ms (default 2000). */
  confirmMs?: number;
  /**
   * Whether the connection is up: a read that fails while it is down is not logged as an error (the connection
   * reports its own outage), and is retried quietly (default: always up).
   */
  connected?: () => boolean;
}

interface Awaited {
  expected: string;
  since: number;
  validAt: number;
}

/** How long {@linkcode KvFeed.stop} waits for the read in progress, in ms. */
const STOP_WAIT_MS = 1000;

/**
 * Turns channel updates into SSE `update` events carrying the stored value.
 *
 * @example
 * ```ts ignore
 * const feed = new KvFeed({ store, hub, log });
 * feed.notify(update);                 // from the channel
 * feed.stored(["Weather"]);            // announced by kv_updater
 * return feed.connect(request);        // GET /events
 * ```
 */
export class KvFeed {
  #awaited = new Map<string, Awaited>();
  /** Types announced as stored, to read at once (around a snapshot). */
  #announced = new Set<string>();
  /** Per type, the announcement last applied: by whom and its number (an older one arriving late is left out). */
  #applied = new Map<string, { by: string; seq: number }>();
  /** Until when announced values are read back instead of sent as announced (a snapshot, and a while after it). */
  #readUntil = 0;
  /** Whether an updater that announces what it stored is followed: updates from the channel then wait for it. */
  #following = false;
  /** Per type, the text sent for an announcement that came before its update (on a cluster, they may cross). */
  #sentFirst = new Map<string, string>();
  #snapshots: SseClient[] = [];
  #resync = false;
  #running: Promise<void> | undefined;
  #stop = new AbortController();
  #wake: (() => void) | undefined;
  #warned = new Set<string>();
  /** Whether reads are failing: `loud` once an error was logged, `quiet` while the connection is down. */
  #failing: "no" | "quiet" | "loud" = "no";

  /**
   * Creates a KvFeed.
   *
   * @param options connection, prefix, hub
   */
  constructor(private readonly options: KvFeedOptions) {}

  /**
   * An update was published: read its stored value and send it.
   *
   * @param update the checked update from the channel
   */
  notify(update: KvUpdate): void {
    if (this.#sentFirst.get(update.type) === update.stored) {
      this.#sentFirst.delete(update.type); // announced, read and sent already
      return;
    }
    const current = this.#awaited.get(update.type);
    this.#awaited.set(update.type, {
      expected: update.stored,
      since: current?.since ?? Date.now(),
      validAt: update.validAt,
    });
    this.#kick();
  }

  /**
   * An updater announced what it stored: send those values, at once. While a snapshot is read and for `confirmMs`
   * after, the announced types are read instead and what is stored then is sent: an announcement of an older value
   * may come after a snapshot that has the newer one (it was published before the snapshot was read), and would
   * show the older value after the newer.
   *
   * @param announcement what was stored
   */
  stored(announcement: StoredAnnouncement): void {
    const { by, seq } = announcement;
    this.#following = true;
    const read = Date.now() < this.#readUntil;
    for (const [type, text] of announcement.stored) {
      const last = this.#applied.get(type);
      if (last?.by === by && last.seq >= seq) continue; // an older announcement, arrived late
      this.#applied.set(type, { by, seq });
      if (read) this.#announced.add(type);
      else this.#sendStored(type, text);
    }
    if (this.#announced.size > 0) this.#kick();
  }

  /** Sends a value stored for an announcement, settling the update awaited for its type. */
  #sendStored(type: string, value: string): void {
    const awaited = this.#awaited.get(type);
    if (awaited?.expected === value) this.#awaited.delete(type);
    else if (!awaited) this.#sentFirst.set(type, value);
    const data = updateEventJson(type, value);
    if (data) this.options.hub.publish("update", data);
  }

  /**
   * Serves `GET /events`: a reconnecting client with a known Last-Event-ID
   * gets the events it missed; any other client first gets every stored
   * value as `update` events, then the live ones.
   *
   * @param request the HTTP request
   * @param completed settles when the response is over (`Deno.ServeHandlerInfo.completed`)
   * @returns the event-stream response
   */
  connect(request: Request, completed: Promise<unknown>): Response {
    const { hub } = this.options;
    const client = hub.open(completed);
    const missed = hub.since(request.headers.get("last-event-id"));
    if (missed) this.#attach(client, missed);
    else this.#wantSnapshot(client);
    return client.response;
  }

  /** Queues a client for the next snapshot: a new one, or one that fell behind a burst longer than the replay ring. */
  #wantSnapshot(client: SseClient): void {
    this.#snapshots.push(client);
    // A client that leaves while waiting (reads failing, say) is forgotten at once.
    client.gone.then(() => (this.#snapshots = this.#snapshots.filter((c) => c !== client)));
    this.#kick();
  }

  /**
   * Sends every stored value to every client as new events: after the
   * channel was lost for a while, clients catch up with what changed then.
   */
  resync(): void {
    this.#resync = true;
    this.#kick();
  }

  /** Stops reading (what was waiting is dropped) and waits for the read in progress, for at most 1 s. */
  async stop(): Promise<void> {
    this.#stop.abort();
    const running = this.#running;
    if (running) {
      await withTimeout(running, STOP_WAIT_MS, () => new Error("read unanswered")).catch(() =>
        this.options.log.debug(`A read was still unanswered after ${STOP_WAIT_MS / 1000} s; stopping anyway.`)
      );
    }
    for (const client of this.#snapshots.splice(0)) client.close();
  }

  #kick(): void {
    this.#wake?.();
    if (this.#running || this.#stop.signal.aborted) return;
    this.#running = this.#run().finally(() => (this.#running = undefined));
  }

  async #run(): Promise<void> {
    const stopped = this.#stop.signal;
    let pause = 5;
    while (
      !stopped.aborted &&
      (this.#awaited.size > 0 || this.#announced.size > 0 || this.#snapshots.length > 0 || this.#resync)
    ) {
      try {
        if (this.#resync || this.#snapshots.length > 0) {
          this.#readUntil = Infinity;
          try {
            if (this.#resync) {
              for (const e of await this.#readAll()) this.options.hub.publish(e.event, e.data);
              this.#resync = false;
            }
            if (this.#snapshots.length > 0) await this.#sendSnapshot();
          } finally {
            this.#readUntil = Date.now() + (this.options.confirmMs ?? 2000);
          }
        }
        if ((this.#awaited.size > 0 || this.#announced.size > 0) && await this.#confirm()) {
          // Some updates are not stored yet: look again soon, or as soon as something new comes.
          const woken = new AbortController();
          this.#wake = () => woken.abort();
          await delay(pause, AbortSignal.any([stopped, woken.signal]));
          this.#wake = undefined;
          pause = Math.min(pause * 2, 200);
        } else pause = 5;
        if (this.#failing === "loud") this.options.log.info("Reading stored values works again.");
        this.#failing = "no";
      } catch (err) {
        if (this.options.connected?.() ?? true) {
          if (this.#failing !== "loud") {
            this.options.log.error(`Reading stored values failed: ${(err as Error).message}. Retrying every 0.5 s…`);
          }
          this.#failing = "loud";
        } else if (this.#failing === "no") {
          this.options.log.debug("Reading stored values waits for the connection to come back…");
          this.#failing = "quiet";
        }
        await delay(500, stopped);
      }
    }
  }

  /**
   * Reads the announced types, and the awaited ones due (every one when no announcing updater is followed, else
   * those it did not announce in time), once; publishes what is stored. Returns true when some are still awaited.
   */
  async #confirm(): Promise<boolean> {
    const { store, hub, log } = this.options;
    const prefix = store.prefix;
    const confirmMs = this.options.confirmMs ?? 2000;
    let now = Date.now();
    const announced = new Set(this.#announced);
    this.#announced.clear();
    const due = [...this.#awaited].filter(([type, a]) =>
      !announced.has(type) && (!this.#following || now - a.since > confirmMs)
    ).map(([type]) => type);
    const types = [...announced, ...due];
    if (types.length === 0) return this.#awaited.size > 0;
    const values = await store.read(types);
    now = Date.now();
    types.forEach((type, n) => {
      const awaited = this.#awaited.get(type);
      const value = values[n] ?? null;
      if (announced.has(type)) {
        if (value !== null) this.#sendStored(type, value); // else gone already (--expire-at-valid)
        return;
      }
      if (!awaited) return;
      const late = now - awaited.since > confirmMs;
      if (value !== awaited.expected && !late) return;
      this.#awaited.delete(type);
      if (late && this.#following) {
        this.#following = false; // not announced in time: the updater that announced is gone, read as for the seed's
        log.debug(
          `Update for "${type}" not announced as stored within ${confirmMs / 1000} s: reading each update's key`,
        );
      }
      if (value === null) {
        // An update whose valid time has passed may be gone legitimately (kv_updater --expire-at-valid).
        if (!this.#warned.has(type) && awaited.validAt > now) {
          this.#warned.add(type);
          log.warn(
            `Update for "${type}" seen on the channel but nothing stored under "${prefix}${type}" after ` +
              `${confirmMs / 1000} s: is kv_updater running with the same --prefix? (said once per type)`,
          );
        }
        return;
      }
      const data = updateEventJson(type, value);
      if (data) hub.publish("update", data);
    });
    return this.#awaited.size > 0;
  }

  /** Every stored value as an `update` event carrying the last id sent. */
  async #readAll(): Promise<SseEvent[]> {
    const { store, hub } = this.options;
    const stored = await store.all();
    const id = hub.lastId;
    return stored.map((s) => ({ id, event: "update", data: s.event }));
  }

  /** Sends the current values (read once, shared) to the clients waiting for them, then makes them live (they wait on failure). */
  async #sendSnapshot(): Promise<void> {
    const events = await this.#readAll();
    for (const client of this.#snapshots.splice(0)) this.#attach(client, events);
  }

  #attach(client: SseClient, first: readonly SseEvent[]): void {
    void this.options.hub.attach(client, first, { onBehind: (behind) => this.#wantSnapshot(behind) });
  }
}
