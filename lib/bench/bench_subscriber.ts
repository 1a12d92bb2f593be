/**
 * One benchmark subscriber: its own connection, subscribed (or reading the
 * streams) before anything is published, counting every message into its
 * {@linkcode Tally} and the one-way latency (receive time minus the stamp's
 * send time, same process, same clock) into the shared histogram.
 *
 * @module
 */
import type { Connection } from "../core/client.ts";
import type { BenchMode } from "./modes.ts";
import type { LatencyHistogram } from "./latency_histogram.ts";
import { decodeStamp, nowMicros } from "./payload.ts";
import { Tally } from "./tally.ts";

/** Reads per XREAD in stream mode, and how long one blocks (ms): the reading loop checks for a stop this often. */
const XREAD_COUNT = 1000;
const XREAD_BLOCK_MS = 100;

/** A subscriber of the benchmark. */
export class BenchSubscriber {
  /** What it received. */
  readonly tally: Tally;
  /** Its client id on the server (`CLIENT ID`), when allowed. */
  clientId: number | undefined;
  /** When the server closed its connection (epoch ms), if it did. */
  droppedAt: number | undefined;
  /** When the first message arrived (performance.now() ms). */
  firstAt: number | undefined;
  /** When the last message arrived (performance.now() ms). */
  lastAt: number | undefined;
  #closing = false;
  #reading: Promise<void> = Promise.resolve();

  /**
   * Creates a subscriber on an open connection.
   *
   * @param conn its connection, used for nothing else
   * @param publishers how many publishers there are
   * @param channels how many channels they send on
   * @param latencies the shared histogram
   */
  constructor(
    readonly conn: Connection,
    publishers: number,
    channels: number,
    private readonly latencies: LatencyHistogram,
  ) {
    this.tally = new Tally(publishers, channels);
    conn.redis.once("end", () => {
      if (!this.#closing) this.droppedAt = Date.now();
    });
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
   * Subscribes (or starts reading the streams) and resolves once the server has confirmed it.
   *
   * @param mode how messages travel
   * @param names the run's channel or stream names
   * @param pattern the pattern covering them (pattern mode)
   */
  async start(mode: BenchMode, names: string[], pattern: string): Promise<void> {
    const redis = this.conn.redis;
    this.clientId = await redis.client("ID").then(Number, () => undefined);
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
      this.#reading = this.#readStreams(names);
    }
  }

  /** Stream mode: XREAD from the start of every stream until closed (each call blocks at most 100 ms). */
  async #readStreams(names: string[]): Promise<void> {
    const ids = names.map(() => "0-0");
    // Bounded in time: each XREAD blocks at most 100 ms, and the loop ends when the run closes the connection.
    while (!this.#closing && this.droppedAt === undefined) {
      let reply: [string, [string, string[]][]][] | null;
      try {
        reply = await this.conn.redis.xread("COUNT", XREAD_COUNT, "BLOCK", XREAD_BLOCK_MS, "STREAMS", ...names, ...ids);
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
    const stream = this.conn.redis.stream;
    stream.pause();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener("abort", done);
        stream.resume();
        resolve();
      };
      const timer = setTimeout(done, ms);
      signal.addEventListener("abort", done, { once: true });
    });
  }

  /** Closes its connection. */
  async close(): Promise<void> {
    this.#closing = true;
    await this.#reading;
    await this.conn.close();
  }
}
