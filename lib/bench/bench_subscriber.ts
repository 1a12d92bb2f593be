/**
 * One benchmark subscriber: its own connection, subscribed (or reading the
 * streams) before anything is published, counting every message into its
 * {@linkcode Tally} and the one-way latency (receive time minus the stamp's
 * send time, same process, same clock) into the shared histogram. On a
 * cluster a sharded (or stream) subscriber has a connection per master
 * serving its channels, each subscribed to that node's channels only.
 *
 * @module
 */
import type { Connection } from "../core/client.ts";
import { pauseReading } from "../core/ioredis_guard.ts";
import type { BenchMode } from "./modes.ts";
import type { LatencyHistogram } from "./latency_histogram.ts";
import { decodeStamp, nowMicros } from "./payload.ts";
import { Tally } from "./tally.ts";

/** Reads per XREAD in stream mode, and how long one blocks (ms): the reading loop checks for a stop this often. */
const XREAD_COUNT = 1000;
const XREAD_BLOCK_MS = 100;

/** One connection of a subscriber and the channels (or streams) it takes on it. */
export interface SubscriberLeg {
  /** The connection, used for nothing else. */
  conn: Connection;
  /** The node it is connected to (`host:port`, or the server's redacted address). */
  node: string;
  /** The names it subscribes to (or reads) on that node. */
  names: string[];
  /** Its client id on that node (`CLIENT ID`), when allowed; set by {@linkcode BenchSubscriber.start}. */
  clientId?: number;
}

/** A subscriber of the benchmark. */
export class BenchSubscriber {
  /** What it received. */
  readonly tally: Tally;
  /** When the server closed one of its connections (epoch ms), if it did. */
  droppedAt: number | undefined;
  /** …and the node that closed it. */
  droppedBy: SubscriberLeg | undefined;
  /** When the first message arrived (performance.now() ms). */
  firstAt: number | undefined;
  /** When the last message arrived (performance.now() ms). */
  lastAt: number | undefined;
  #closing = false;
  #reading: Promise<void> = Promise.resolve();

  /**
   * Creates a subscriber on open connections.
   *
   * @param legs its connections (one on a single server), each with its names
   * @param publishers how many publishers there are
   * @param channels how many channels they send on
   * @param latencies the shared histogram
   */
  constructor(
    readonly legs: SubscriberLeg[],
    publishers: number,
    channels: number,
    private readonly latencies: LatencyHistogram,
  ) {
    this.tally = new Tally(publishers, channels);
    for (const leg of legs) {
      leg.conn.redis.once("end", () => {
        if (this.#closing || this.droppedAt !== undefined) return;
        this.droppedAt = Date.now();
        this.droppedBy = leg;
      });
    }
  }

  /** Counts one payload. */
  #take(payload: string): void {
    const now = nowMicros();
    const stamp = decodeStamp(payload);
    if (stamp === undefined) return this.tally.addForeign();
    if (this.tally.add(stamp)) this.latencies.record(now - stamp.sentUs);
    this.lastAt = performance.now();
    this.firstAt ??= this.lastAt;
  }

  /**
   * Subscribes (or starts reading the streams) on every connection and resolves once the servers have confirmed it.
   *
   * @param mode how messages travel
   * @param pattern the pattern covering the run's names (pattern mode)
   */
  async start(mode: BenchMode, pattern: string): Promise<void> {
    await Promise.all(this.legs.map((leg) => this.#startLeg(leg, mode, pattern)));
  }

  async #startLeg(leg: SubscriberLeg, mode: BenchMode, pattern: string): Promise<void> {
    const redis = leg.conn.redis, names = leg.names;
    const id = await redis.client("ID").then(Number, () => undefined);
    if (id !== undefined) leg.clientId = id;
    if (mode === "pubsub") {
      redis.on("message", (_channel: string, payload: string) => this.#take(payload));
      await redis.subscribe(...names);
    } else if (mode === "pattern") {
      redis.on("pmessage", (_pattern: string, _channel: string, payload: string) => this.#take(payload));
      await redis.psubscribe(pattern);
    } else if (mode === "sharded") {
      redis.on("smessage", (_channel: string, payload: string) => this.#take(payload));
      await redis.ssubscribe(...names);
    } else {
      const reading = this.#readStreams(leg.conn, names);
      const before = this.#reading;
      this.#reading = Promise.all([before, reading]).then(() => {});
    }
  }

  /** Stream mode: XREAD from the start of every stream until closed (each call blocks at most 100 ms). */
  async #readStreams(conn: Connection, names: string[]): Promise<void> {
    const ids = names.map(() => "0-0");
    // Bounded in time: each XREAD blocks at most 100 ms, and the loop ends when the run closes the connection.
    while (!this.#closing && this.droppedAt === undefined) {
      let reply: [string, [string, string[]][]][] | null;
      try {
        reply = await conn.redis.xread("COUNT", XREAD_COUNT, "BLOCK", XREAD_BLOCK_MS, "STREAMS", ...names, ...ids);
      } catch {
        return; // closed under it
      }
      for (const [key, entries] of reply ?? []) {
        const i = names.indexOf(key);
        for (const [id, fields] of entries) {
          ids[i] = id;
          this.#take(fields[1] ?? "");
        }
      }
    }
  }

  /**
   * Stops reading for `ms` (the socket is paused: the server's output buffer for it grows), then reads on.
   *
   * @param ms how long
   * @param signal ends the stall early
   * @returns resolves when it reads again
   */
  stall(ms: number, signal: AbortSignal): Promise<void> {
    const paused = this.legs.map((leg) => pauseReading(leg.conn.redis));
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        for (const resume of paused) resume?.();
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener("abort", done, { once: true });
    });
  }

  /** Closes its connections. */
  async close(): Promise<void> {
    this.#closing = true;
    await this.#reading;
    await Promise.all(this.legs.map((leg) => leg.conn.close()));
  }
}
