/**
 * Server-Sent Events for `Deno.serve`: numbered events kept for replay after
 * a reconnect (`Last-Event-ID`), a bounded queue per client so one slow or
 * vanished client never holds up the others nor holds memory for long, and
 * heartbeats that keep proxies from closing idle streams.
 *
 * Each event is encoded once and the same bytes are queued for every client.
 * A client's queue holds at most `maxBufferedBytes`; what does not fit waits
 * in the replay ring (nothing is copied; the last `replay` events, at most
 * `replayBytes`), and is queued as the client reads.
 * So a fast reader rides out a burst however large its events, as long as
 * the burst is kept in the ring; a client whose queue stays full (it takes
 * nothing) for `stallMs` is dropped and its queue released.
 *
 * @module
 */
import type { Logger } from "../core/log.ts";

/** One event as sent. */
export interface SseEvent {
  /** `<boot>-<sequence>`: unique across restarts of the server process. */
  id: string;
  /** The event name, e.g. `update`. */
  event: string;
  /** The data (may span lines). */
  data: string;
}

/**
 * The wire form of one event.
 *
 * @param e the event; without an id (a status, see {@linkcode SseHub.setStatus}) the client's last id is kept
 * @returns `id:` (when there is one), `event:` and one `data:` line per line of data, then a blank line
 * @example
 * ```ts
 * import { formatEvent } from "./sse.ts";
 * import assert from "node:assert/strict";
 * assert.equal(formatEvent({ id: "a-1", event: "update", data: "{}" }), "id: a-1\nevent: update\ndata: {}\n\n");
 * assert.equal(formatEvent({ event: "server", data: "{}" }), "event: server\ndata: {}\n\n");
 * ```
 */
export function formatEvent(e: Omit<SseEvent, "id"> & { id?: string }): string {
  const data = e.data.split(/\r\n|\r|\n/).map((line) => `data: ${line}\n`).join("");
  return `${e.id === undefined ? "" : `id: ${e.id}\n`}event: ${e.event}\n${data}\n`;
}

const encoder = new TextEncoder();
/** Each event's bytes, encoded once however many clients get it. */
const encoded = new WeakMap<SseEvent, Uint8Array>();

function bytesOf(e: SseEvent): Uint8Array {
  let bytes = encoded.get(e);
  if (!bytes) encoded.set(e, bytes = encoder.encode(formatEvent(e)));
  return bytes;
}

/**
 * One connected client: a response whose body is fed from a queue of at most
 * `maxBufferedBytes` (plus one event). The connection takes one chunk at a
 * time, as fast as the client reads; {@linkcode SseHub} refills the queue
 * each time.
 */
export class SseClient {
  /** The response to return from the handler. */
  readonly response: Response;
  /** Whether the client is gone (closed, dropped, or disconnected): it takes no more events. */
  closed = false;
  /** When the connection last took a chunk (`performance.now()`). */
  lastTakenAt: number = performance.now();
  #chunks: (Uint8Array | undefined)[] = [];
  #head = 0;
  #queued = 0;
  #ending = false;
  #wake: (() => void) | undefined;
  #goneResolve!: () => void;
  /** Settles when the client is gone (closed, dropped, or disconnected). */
  readonly gone: Promise<void> = new Promise((resolve) => (this.#goneResolve = resolve));

  /**
   * Creates a SseClient.
   *
   * @param label who it is, for logs
   * @param maxBufferedBytes bytes that may be queued for it
   * @param hooks `onTaken` after the connection took a chunk (to refill); `onGone` once when it is gone
   */
  constructor(
    readonly label: string,
    readonly maxBufferedBytes: number,
    private readonly hooks: { onTaken: () => void; onGone: () => void },
  ) {
    const body = new ReadableStream<Uint8Array>({
      pull: (controller) => this.#pull(controller),
      cancel: () => this.#gone(),
    }, { highWaterMark: 0 });
    this.response = new Response(body, {
      headers: {
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-cache",
        "x-accel-buffering": "no",
      },
    });
  }

  /** Bytes queued and not yet taken by the connection. */
  get queued(): number {
    return this.#queued;
  }

  /** Whether the queue has room for more. */
  get hasRoom(): boolean {
    return !this.closed && this.#queued < this.maxBufferedBytes;
  }

  /**
   * Queues bytes for the client (shared: they are never modified).
   *
   * @param bytes wire-format SSE text, encoded
   * @returns false when the client is gone
   */
  push(bytes: Uint8Array): boolean {
    if (this.closed) return false;
    this.#chunks.push(bytes);
    this.#queued += bytes.byteLength;
    this.#wakeUp();
    return true;
  }

  /** Ends the stream after what is already queued; the client takes no more events. */
  close(): void {
    if (this.closed) return;
    this.#ending = true;
    this.#wakeUp();
    this.#gone();
  }

  /** Drops the client: its queue is released at once and the stream ends. */
  drop(): void {
    this.#chunks = [];
    this.#head = 0;
    this.#queued = 0;
    this.close();
  }

  async #pull(controller: ReadableStreamDefaultController<Uint8Array>): Promise<void> {
    while (this.#head === this.#chunks.length && !this.#ending && !this.closed) {
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
    if (this.#head < this.#chunks.length) {
      const chunk = this.#chunks[this.#head]!;
      this.#chunks[this.#head++] = undefined; // released to the collector
      if (this.#head === this.#chunks.length) {
        this.#chunks = [];
        this.#head = 0;
      } else if (this.#head > 1024) {
        this.#chunks = this.#chunks.slice(this.#head);
        this.#head = 0;
      }
      this.#queued -= chunk.byteLength;
      this.lastTakenAt = performance.now();
      controller.enqueue(chunk);
      if (!this.closed) this.hooks.onTaken();
    } else if (this.#ending) controller.close();
  }

  #wakeUp(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  #gone(): void {
    if (this.closed) return;
    this.closed = true;
    this.#wakeUp();
    this.#goneResolve();
    this.hooks.onGone();
  }
}

/** How an {@linkcode SseHub} behaves. */
export interface SseHubOptions {
  /** Events kept for clients that reconnect with Last-Event-ID, and for clients catching up (default 1000). */
  replay?: number;
  /** At most this many bytes of events are kept for replay, however few events that is (default 16 MiB). */
  replayBytes?: number;
  /** Bytes that may be queued per client (default 1 MiB). */
  maxBufferedBytes?: number;
  /** A client whose queue stays full this long, taking nothing, is dropped, in ms (default 10000). */
  stallMs?: number;
  /** A comment line is sent to every idle client this often, in ms (default 15000; 0: never). */
  heartbeatMs?: number;
  /** Client connects, drops and disconnects are logged here. */
  log: Logger;
}

/** What {@linkcode SseHub.attach} may be told besides the first events. */
export interface AttachOptions {
  /** The id of the last event `first` accounts for (default: the last one's id, or the current one). */
  throughId?: string;
  /**
   * Called when the client fell so far behind that the events it still needs are no longer kept (a burst longer
   * than the replay ring): it is detached and should be attached again with fresh first events (default: it is
   * closed, and reconnects).
   */
  onBehind?: (client: SseClient) => void;
}

/** What the hub keeps per client. */
interface ClientState {
  /** Events to send before the live ones, and how many of them were queued. */
  first?: readonly SseEvent[];
  index: number;
  /** The sequence number of the next live event to queue; undefined until attached. */
  cursor?: number;
  /** Whether it has caught up with its first events (it counts as connected). */
  live: boolean;
  /** Since when events have been waiting for room in its queue (`performance.now()`). */
  waitingSince?: number;
  onBehind?: (client: SseClient) => void;
  /** Resolves {@linkcode SseHub.attach}'s promise. */
  attached?: () => void;
}

/**
 * Numbers events, keeps the last ones for replay, and sends each to every
 * live client without ever waiting for one.
 *
 * @example
 * ```ts ignore
 * const hub = new SseHub({ log });
 * Deno.serve((req, info) => {
 *   const client = hub.open(info.completed);
 *   hub.attach(client, hub.since(req.headers.get("last-event-id")) ?? []);
 *   return client.response;
 * });
 * hub.publish("update", '{"type":"Moon"}');
 * ```
 */
export class SseHub {
  /** Identifies this process's event ids. */
  readonly boot: string = Date.now().toString(36);
  #seq = 0;
  #ring: SseEvent[] = [];
  #ringBytes = 0;
  #states = new Map<SseClient, ClientState>();
  #live = 0;
  #streams = 0;
  #opened = 0;
  #timers: ReturnType<typeof setInterval>[] = [];
  #status: Uint8Array | undefined;
  /** Clients dropped for not reading. */
  dropped = 0;

  /**
   * Creates a SseHub.
   *
   * @param options replay size, buffer limit, stall deadline, heartbeat
   */
  constructor(private readonly options: SseHubOptions) {
    const every = options.heartbeatMs ?? 15_000;
    if (every > 0) {
      this.#timers.push(setInterval(() => {
        const beat = encoder.encode(`: heartbeat ${new Date().toISOString()}\n\n`);
        for (const [client, state] of this.#states) {
          if (client.queued === 0 && state.waitingSince === undefined) client.push(beat);
        }
      }, every));
    }
    const stallMs = this.#stallMs;
    this.#timers.push(setInterval(() => this.#dropStalled(), Math.max(20, Math.min(1000, stallMs / 4))));
  }

  get #limit(): number {
    return this.options.maxBufferedBytes ?? 1024 * 1024;
  }

  get #stallMs(): number {
    return this.options.stallMs ?? 10_000;
  }

  /** Clients receiving live events. */
  get clients(): number {
    return this.#live;
  }

  /**
   * Event streams whose response is not over yet: connected clients, clients waiting for their first events, and
   * dropped ones whose connection has not closed yet (what a cap on clients must count).
   */
  get streams(): number {
    return this.#streams;
  }

  /** The id of the last event published (`<boot>-0` before any). */
  get lastId(): string {
    return `${this.boot}-${this.#seq}`;
  }

  /**
   * Numbers an event, keeps it for replay and queues it for every live client that has room (the others get it
   * from the ring as they read).
   *
   * @param event the event name
   * @param data the data
   * @returns the event as sent
   */
  publish(event: string, data: string): SseEvent {
    const e = { id: `${this.boot}-${++this.#seq}`, event, data };
    this.#ring.push(e);
    this.#ringBytes += bytesOf(e).byteLength;
    const [count, bytes] = [this.options.replay ?? 1000, this.options.replayBytes ?? 16 * 1024 * 1024];
    while (this.#ring.length > 1 && (this.#ring.length > count || this.#ringBytes > bytes)) {
      this.#ringBytes -= bytesOf(this.#ring.shift()!).byteLength;
    }
    for (const [client, state] of this.#states) if (state.cursor !== undefined) this.#fill(client, state);
    return e;
  }

  /**
   * Sets the status every stream is told at once and every new one as it opens, before any other event: how things
   * stand now (the server behind the page connected or not, say), not a change to replay. It has no id, so a
   * reconnecting client still resumes from its last numbered event; it goes to clients still waiting for their first
   * events too, past the queue limit (it is small and replaces nothing).
   *
   * @param event the event name, e.g. `server`
   * @param data the data
   */
  setStatus(event: string, data: string): void {
    this.#status = encoder.encode(formatEvent({ event, data }));
    for (const client of this.#states.keys()) client.push(this.#status);
  }

  /**
   * The events after `lastEventId`, when they are all still kept.
   *
   * @param lastEventId the client's Last-Event-ID header
   * @returns the events to replay (maybe none), or undefined when the id is unknown or too old
   */
  since(lastEventId: string | null): SseEvent[] | undefined {
    const seq = this.#seqOf(lastEventId);
    if (seq === undefined || seq < this.#oldest) return undefined;
    return this.#ring.slice(seq - this.#oldest);
  }

  /**
   * Opens a stream for a request; the client gets heartbeats at once and receives events once
   * {@linkcode attach}ed. It is removed when it disconnects.
   *
   * @param completed settles when the response is over (`Deno.ServeHandlerInfo.completed`)
   * @returns the client
   */
  open(completed: Promise<unknown>): SseClient {
    const label = `#${++this.#opened}`;
    const state: ClientState = { index: 0, live: false };
    const client: SseClient = new SseClient(label, this.#limit, {
      onTaken: () => {
        state.waitingSince = undefined;
        if (state.cursor !== undefined) this.#fill(client, state);
      },
      onGone: () => {
        this.#states.delete(client);
        state.attached?.();
        if (state.live) {
          this.#live--;
          this.options.log.debug(`SSE client ${label} left (${this.#live} connected)`);
        } else this.options.log.debug(`SSE client ${label} left before its first events were sent`);
      },
    });
    this.#streams++;
    const over = () => {
      this.#streams--;
      client.drop();
      this.options.log.debug(`SSE client ${label}'s response is over (${this.#streams} stream(s) open)`);
    };
    completed.then(over, over);
    this.#states.set(client, state);
    client.push(encoder.encode("retry: 2000\n\n"));
    if (this.#status) client.push(this.#status);
    return client;
  }

  /**
   * Sends `first` (a replay or a snapshot) to the client, then the events
   * published meanwhile, then makes it live. Everything goes through the
   * client's bounded queue as it reads, so a large snapshot costs no more
   * memory per client; `first` is shared, not copied.
   *
   * @param client an opened client
   * @param first events to send before the live ones
   * @param options up to which event `first` accounts for; what to do when the client falls too far behind
   * @returns when the client is live or gone
   */
  attach(client: SseClient, first: readonly SseEvent[], options: AttachOptions = {}): Promise<void> {
    const state = this.#states.get(client);
    if (!state || client.closed) return Promise.resolve();
    const through = this.#seqOf(options.throughId ?? first.at(-1)?.id ?? this.lastId) ?? this.#seq;
    if (state.live) {
      state.live = false;
      this.#live--;
    }
    Object.assign(state, { first, index: 0, cursor: through + 1, onBehind: options.onBehind });
    const attached = new Promise<void>((resolve) => (state.attached = resolve));
    this.#fill(client, state);
    return attached;
  }

  /** Ends every stream (what was queued is still delivered) and stops the timers. */
  close(): void {
    for (const timer of this.#timers) clearInterval(timer);
    for (const client of [...this.#states.keys()]) client.close();
  }

  get #oldest(): number {
    return this.#seq - this.#ring.length; // the ring holds oldest+1 … seq
  }

  #seqOf(id: string | null | undefined): number | undefined {
    const m = id ? /^([0-9a-z]+)-(\d+)$/.exec(id) : null;
    if (!m || m[1] !== this.boot) return undefined;
    const seq = Number(m[2]);
    return seq > this.#seq ? undefined : seq;
  }

  /** Queues what the client needs next (first events, then the ring from its cursor) while it has room. */
  #fill(client: SseClient, state: ClientState): void {
    const first = state.first;
    while (first && state.index < first.length) {
      if (!client.hasRoom) return this.#waiting(state);
      client.push(bytesOf(first[state.index++]!));
    }
    state.first = undefined;
    const cursor = state.cursor!;
    if (cursor <= this.#oldest) return this.#behind(client, state);
    let next = cursor;
    while (next <= this.#seq && client.hasRoom) client.push(bytesOf(this.#ring[next++ - this.#oldest - 1]!));
    state.cursor = next;
    if (client.closed) return;
    if (!state.live) {
      state.live = true;
      this.#live++;
      this.options.log.debug(`SSE client ${client.label} connected (${this.#live} connected)`);
      state.attached?.();
      state.attached = undefined;
    }
    if (next <= this.#seq) this.#waiting(state);
    else state.waitingSince = undefined;
  }

  #waiting(state: ClientState): void {
    state.waitingSince ??= performance.now();
  }

  #behind(client: SseClient, state: ClientState): void {
    state.cursor = undefined;
    state.waitingSince = undefined;
    if (state.live) {
      state.live = false;
      this.#live--;
    }
    const lag = `fell more than ${this.#ring.length} events behind (a burst longer than the replay ring keeps)`;
    if (state.onBehind) {
      this.options.log.info(`SSE client ${client.label} ${lag}: sending it the current values again`);
      state.onBehind(client);
    } else {
      this.options.log.info(`SSE client ${client.label} ${lag}: closed, it reconnects`);
      client.close();
    }
  }

  #dropStalled(): void {
    const now = performance.now();
    const stallMs = this.#stallMs;
    for (const [client, state] of this.#states) {
      if (state.waitingSince === undefined || now - Math.max(state.waitingSince, client.lastTakenAt) < stallMs) {
        continue;
      }
      const waiting = client.queued;
      this.dropped++;
      this.options.log.warn(
        `SSE client ${client.label} dropped: ${waiting} bytes were waiting unread for ${stallMs / 1000} s ` +
          "(it stopped reading). It can reconnect and resume with Last-Event-ID.",
      );
      client.drop();
    }
  }
}
