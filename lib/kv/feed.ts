/**
 * The API server's event feed: for each update seen on the channel, read the
 * stored value and send it to the SSE clients.
 *
 * The API server hears an update at the same moment as the kv_updater, so
 * the key may not be written yet: the feed reads until the stored text is
 * the one the update produces (or a newer one), for at most `confirmMs`.
 * Reads and snapshots run one after another on one connection, so a client
 * that gets a snapshot then receives exactly the changes made after it.
 *
 * @module
 */
import type { Cluster, Redis } from "ioredis";
import { type KvUpdate, updateEventJson } from "./message.ts";
import { readAllStored, readStored } from "./store.ts";
import type { Logger } from "../core/log.ts";
import type { SseClient, SseEvent, SseHub } from "../web/sse.ts";
import { delay, withTimeout } from "../core/timing.ts";

/** How a {@linkcode KvFeed} works. */
export interface KvFeedOptions {
  /** A command connection (not the subscribed one), or a cluster client. */
  redis: Redis | Cluster;
  /** The key prefix the updater uses. */
  prefix: string;
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
 * const feed = new KvFeed({ redis, prefix: "", hub, log });
 * feed.notify(update);                 // from the channel
 * return feed.connect(request);        // GET /events
 * ```
 */
export class KvFeed {
  #awaited = new Map<string, Awaited>();
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
    const current = this.#awaited.get(update.type);
    this.#awaited.set(update.type, {
      expected: update.stored,
      since: current?.since ?? Date.now(),
      validAt: update.validAt,
    });
    this.#kick();
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
    while (!stopped.aborted && (this.#awaited.size > 0 || this.#snapshots.length > 0 || this.#resync)) {
      try {
        if (this.#resync) {
          for (const e of await this.#readAll()) this.options.hub.publish(e.event, e.data);
          this.#resync = false;
        }
        if (this.#snapshots.length > 0) await this.#sendSnapshot();
        if (this.#awaited.size > 0 && await this.#confirm()) {
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

  /** Reads the awaited types once; publishes the confirmed ones. Returns true when some are still awaited. */
  async #confirm(): Promise<boolean> {
    const { redis, prefix, hub, log } = this.options;
    const confirmMs = this.options.confirmMs ?? 2000;
    const types = [...this.#awaited.keys()];
    const values = await readStored(redis, prefix, types);
    const now = Date.now();
    types.forEach((type, n) => {
      const awaited = this.#awaited.get(type)!;
      const value = values[n] ?? null;
      const late = now - awaited.since > confirmMs;
      if (value !== awaited.expected && !late) return;
      this.#awaited.delete(type);
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
    const { redis, prefix, hub } = this.options;
    const stored = await readAllStored(redis, prefix);
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
