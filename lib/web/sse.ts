/**
 * Server-Sent Events for `Deno.serve`: numbered events kept for replay after
 * a reconnect (`Last-Event-ID`), a bounded buffer per client so one slow or
 * vanished client never holds up the others, and heartbeats that keep
 * proxies from closing idle streams.
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
 * @param e the event
 * @returns `id:`, `event:` and one `data:` line per line of data, then a blank line
 * @example
 * ```ts
 * import { formatEvent } from "./sse.ts";
 * console.assert(formatEvent({ id: "a-1", event: "update", data: "{}" }) === "id: a-1\nevent: update\ndata: {}\n\n");
 * ```
 */
export function formatEvent(e: SseEvent): string {
  const data = e.data.split(/\r\n|\r|\n/).map((line) => `data: ${line}\n`).join("");
  return `id: ${e.id}\nevent: ${e.event}\n${data}\n`;
}

const encoder = new TextEncoder();

/**
 * One connected client: a response whose body is fed by {@linkcode send}.
 * When more than `maxBufferedBytes` would wait unread, the client is dropped:
 * it gets no more events and its stream ends after what is already queued
 * (so it holds at most that much memory); a browser then reconnects and
 * resumes with Last-Event-ID.
 */
export class SseClient {
  /** The response to return from the handler. */
  readonly response: Response;
  /** Whether the client is gone (closed, dropped, or disconnected). */
  closed = false;
  #controller!: ReadableStreamDefaultController<Uint8Array>;
  #onGone: () => void;
  #enqueued = 0;
  #initial = 0;
  #writable: (() => void)[] = [];
  #goneResolve!: () => void;
  /** Settles when the client is gone (closed, dropped, or disconnected). */
  readonly gone: Promise<void> = new Promise((resolve) => (this.#goneResolve = resolve));

  /**
   * Creates a SseClient.
   *
   * @param label who it is, for logs
   * @param maxBufferedBytes bytes that may wait unread before the client is dropped
   * @param onGone called once when the client is gone, for whatever reason
   */
  constructor(readonly label: string, private readonly maxBufferedBytes: number, onGone: () => void) {
    this.#onGone = onGone;
    const body = new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.#controller = controller;
      },
      pull: () => this.#wakeWriters(),
      cancel: () => this.#gone(),
    }, { highWaterMark: maxBufferedBytes, size: (chunk) => chunk.byteLength });
    this.response = new Response(body, {
      headers: {
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-cache",
        "x-accel-buffering": "no",
      },
    });
  }

  /**
   * Queues text for the client.
   *
   * @param text wire-format SSE text
   * @param initial part of what a client gets on connecting (a snapshot or a replay): never counted against the
   *   buffer limit, however large
   * @returns `sent`; `dropped` when it would overflow the buffer (the client is then closed); `gone` when closed before
   */
  send(text: string, initial = false): "sent" | "dropped" | "gone" {
    if (this.closed) return "gone";
    const bytes = encoder.encode(text);
    if (!initial && this.backlog + bytes.byteLength > this.maxBufferedBytes) {
      this.close();
      return "dropped";
    }
    this.#controller.enqueue(bytes);
    this.#enqueued += bytes.byteLength;
    if (initial) this.#initial += bytes.byteLength;
    return "sent";
  }

  /** Bytes queued and not yet taken by the connection (what was sent on connecting included). */
  get queued(): number {
    return this.maxBufferedBytes - (this.#controller.desiredSize ?? 0);
  }

  /**
   * Settles once fewer than `maxBufferedBytes` are queued (the connection took some), or the client is gone.
   *
   * @returns a promise that never rejects
   */
  whenWritable(): Promise<void> {
    if (this.closed || this.queued < this.maxBufferedBytes) return Promise.resolve();
    return new Promise((resolve) => this.#writable.push(resolve));
  }

  /** Bytes of live events queued and not yet taken by the connection (what was sent on connecting excluded). */
  get backlog(): number {
    const queued = this.maxBufferedBytes - (this.#controller.desiredSize ?? 0);
    const taken = this.#enqueued - queued;
    return queued - Math.max(0, this.#initial - taken); // the queue is FIFO: the initial bytes go first
  }

  /** Ends the stream (what was queued is still delivered). */
  close(): void {
    if (this.closed) return;
    this.#controller.close();
    this.#gone();
  }

  #gone(): void {
    if (this.closed) return;
    this.closed = true;
    this.#wakeWriters();
    this.#goneResolve();
    this.#onGone();
  }

  #wakeWriters(): void {
    for (const wake of this.#writable.splice(0)) wake();
  }
}

/** How an {@linkcode SseHub} behaves. */
export interface SseHubOptions {
  /** Events kept for clients that reconnect with Last-Event-ID (default 1000). */
  replay?: number;
  /** Bytes that may wait unread per client before it is dropped (default 1 MiB). */
  maxBufferedBytes?: number;
  /** A comment line is sent to every client this often, in ms (default 15000; 0: never). */
  heartbeatMs?: number;
  /** Client connects, drops and disconnects are logged here. */
  log: Logger;
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
  #clients = new Set<SseClient>();
  /** Opened and not yet live (waiting for or receiving their first events): they get heartbeats too. */
  #pending = new Set<SseClient>();
  #opened = 0;
  #timer: ReturnType<typeof setInterval> | undefined;
  /** Clients dropped for being too slow. */
  dropped = 0;

  /**
   * Creates a SseHub.
   *
   * @param options replay size, buffer limit, heartbeat
   */
  constructor(private readonly options: SseHubOptions) {
    const every = options.heartbeatMs ?? 15_000;
    if (every > 0) {
      this.#timer = setInterval(() => {
        const text = `: heartbeat ${new Date().toISOString()}\n\n`;
        for (const client of [...this.#pending]) this.#send(client, text);
        this.#broadcast(text);
      }, every);
    }
  }

  /** Clients receiving live events. */
  get clients(): number {
    return this.#clients.size;
  }

  /** The id of the last event published (`<boot>-0` before any). */
  get lastId(): string {
    return `${this.boot}-${this.#seq}`;
  }

  /**
   * Numbers an event, keeps it for replay and sends it to every live client.
   *
   * @param event the event name
   * @param data the data
   * @returns the event as sent
   */
  publish(event: string, data: string): SseEvent {
    const e = { id: `${this.boot}-${++this.#seq}`, event, data };
    this.#ring.push(e);
    if (this.#ring.length > (this.options.replay ?? 1000)) this.#ring.shift();
    this.#broadcast(formatEvent(e));
    return e;
  }

  /**
   * The events after `lastEventId`, when they are all still kept.
   *
   * @param lastEventId the client's Last-Event-ID header
   * @returns the events to replay (maybe none), or undefined when the id is unknown or too old
   */
  since(lastEventId: string | null): SseEvent[] | undefined {
    const m = lastEventId ? /^([0-9a-z]+)-(\d+)$/.exec(lastEventId) : null;
    if (!m || m[1] !== this.boot) return undefined;
    const seq = Number(m[2]);
    if (seq > this.#seq) return undefined;
    const oldest = this.#seq - this.#ring.length; // the ring holds oldest+1 … seq
    if (seq < oldest) return undefined;
    return this.#ring.slice(seq - oldest);
  }

  /**
   * Opens a stream for a request; the client gets heartbeats at once and receives live events once
   * {@linkcode attach}ed. It is removed when it disconnects.
   *
   * @param completed settles when the response is over (`Deno.ServeHandlerInfo.completed`)
   * @returns the client
   */
  open(completed: Promise<unknown>): SseClient {
    const label = `#${++this.#opened}`;
    const limit = this.options.maxBufferedBytes ?? 1024 * 1024;
    const client = new SseClient(label, limit, () => {
      const wasPending = this.#pending.delete(client);
      const wasLive = this.#clients.delete(client);
      if (wasLive) this.options.log.debug(`SSE client ${label} left (${this.#clients.size} connected)`);
      if (wasPending) this.options.log.debug(`SSE client ${label} left before its first events were sent`);
    });
    completed.then(() => client.close(), () => client.close());
    this.#pending.add(client);
    client.send("retry: 2000\n\n", true);
    return client;
  }

  /**
   * Sends `first` (a replay or a snapshot) to the client, then the events
   * published meanwhile, then makes it live. `first` is sent as the client
   * reads it, never more than `maxBufferedBytes` queued at once (so a large
   * snapshot costs no more memory per client); a client that falls so far
   * behind that the events published meanwhile are no longer kept is closed
   * (it reconnects and gets a fresh snapshot).
   *
   * @param client an opened client
   * @param first events to send before the live ones
   * @param throughId the id of the last event `first` accounts for (default: the last one's id, or the current one)
   * @returns when the client is live or gone
   */
  async attach(client: SseClient, first: readonly SseEvent[], throughId?: string): Promise<void> {
    const through = throughId ?? first.at(-1)?.id ?? this.lastId;
    const limit = this.options.maxBufferedBytes ?? 1024 * 1024;
    for (const e of first) {
      if (client.queued >= limit) await client.whenWritable();
      if (!this.#send(client, formatEvent(e), true)) return;
    }
    const meanwhile = this.since(through);
    if (meanwhile === undefined) {
      this.options.log.debug(`SSE client ${client.label} read its first events too slowly to catch up: closed`);
      client.close();
      return;
    }
    for (const e of meanwhile) if (!this.#send(client, formatEvent(e), true)) return;
    if (client.closed) return; // left while its snapshot was being read
    this.#pending.delete(client);
    this.#clients.add(client);
    this.options.log.debug(`SSE client ${client.label} connected (${this.#clients.size} connected)`);
  }

  /** Ends every stream and stops the heartbeat. */
  close(): void {
    clearInterval(this.#timer);
    for (const client of [...this.#pending, ...this.#clients]) client.close();
  }

  #broadcast(text: string): void {
    for (const client of [...this.#clients]) this.#send(client, text);
  }

  #send(client: SseClient, text: string, initial = false): boolean {
    const waiting = client.backlog;
    const result = client.send(text, initial);
    if (result === "dropped") {
      this.dropped++;
      this.options.log.warn(
        `SSE client ${client.label} dropped: ${waiting} bytes were waiting unread (slower than the updates). ` +
          "It can reconnect and resume with Last-Event-ID.",
      );
    }
    return result === "sent";
  }
}
