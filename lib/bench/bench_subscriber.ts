/**
 * One benchmark subscriber, in a worker (lib/bench/worker.ts): its own
 * connection, subscribed (or reading the streams) before anything is
 * published, its messages read ahead of ioredis's decoder (`readPushesAhead`
 * in lib/core/ioredis_guard.ts: each push cut out of the socket's bytes, as
 * subscriber.ts reads them) and each stamp read from the payload's bytes,
 * counted into its {@linkcode Tally} and the one-way latency (receive time
 * minus the stamp's send time, on the one clock of lib/bench/clock.ts) into
 * the worker's histogram. The receive time is read once per piece the
 * socket delivers: every message in it arrived then. On a cluster a
 * sharded (or stream) subscriber has a connection per master serving its
 * channels, each subscribed to that node's channels only.
 *
 * @module
 */
import type { Buffer } from "node:buffer";
import { Connection } from "../core/client.ts";
import { pauseReading, readPushesAhead } from "../core/ioredis_guard.ts";
import type { Reporter } from "../core/output.ts";
import type { LatencyHistogram } from "./latency_histogram.ts";
import type { BenchMode } from "./modes.ts";
import { nowMicros, readStamp, type Stamp } from "./payload.ts";
import { Tally } from "./tally.ts";
import type { LegId, SubscriberFigures, SubscriberMember } from "./worker_protocol.ts";
import type { LegPlan } from "./wiring.ts";

/** Reads per XREAD in stream mode, and how long one blocks (ms): the reading loop checks for a stop this often. */
const XREAD_COUNT = 1000;
const XREAD_BLOCK_MS = 100;

/** One open connection of a subscriber. */
interface Leg {
  plan: LegPlan;
  conn: Connection;
  clientId?: number;
}

/** A receive time for every message of one piece of a socket: read once, until the next microtask. */
function pieceClock(): () => number {
  let now = 0, fresh = false;
  const stale = () => void (fresh = false);
  return () => {
    if (!fresh) {
      now = nowMicros();
      fresh = true;
      queueMicrotask(stale);
    }
    return now;
  };
}

/** What a subscriber calls when the server closed one of its connections. */
export type OnDropped = (at: number, leg: LegId) => void;

/** A subscriber of the benchmark. */
export class BenchSubscriber {
  /** What it received. */
  readonly tally: Tally;
  #firstAt: number | undefined;
  #lastAt: number | undefined;
  #dropped = false;
  #closing = false;
  #reading: Promise<unknown>[] = [];
  readonly #now = pieceClock();
  readonly #stamp: Stamp = { publisher: 0, seq: 0, sentUs: 0 };

  private constructor(
    readonly index: number,
    private readonly legs: Leg[],
    publishers: number,
    channels: number,
    private readonly latencies: LatencyHistogram,
    private readonly onCount: (received: number, unique: number) => void,
    onDropped: OnDropped,
  ) {
    this.tally = new Tally(publishers, channels);
    for (const leg of legs) {
      leg.conn.redis.once("end", () => {
        if (this.#closing || this.#dropped) return;
        this.#dropped = true;
        onDropped(Date.now(), this.#id(leg));
      });
    }
  }

  /**
   * Opens a subscriber's connections (nothing subscribed yet).
   *
   * @param member its index and where its connections go
   * @param shape publishers and channels of the run
   * @param latencies the worker's histogram
   * @param reporter where connection trouble is reported
   * @param signal stops connecting
   * @param onCount called with its counts after each message
   * @param onDropped called when the server closes one of its connections
   * @returns the subscriber
   * @throws {CliError} when a server cannot be reached
   */
  static async open(
    member: SubscriberMember,
    shape: { publishers: number; channels: number },
    latencies: LatencyHistogram,
    reporter: Reporter,
    signal: AbortSignal,
    onCount: (received: number, unique: number) => void,
    onDropped: OnDropped,
  ): Promise<BenchSubscriber> {
    const legs: Leg[] = [];
    try {
      for (const plan of member.legs) {
        const conn = await Connection.open({
          url: plan.url,
          reporter,
          reconnect: false,
          clusterNode: plan.clusterNode,
          signal,
        });
        legs.push({ plan, conn });
      }
    } catch (err) {
      await Promise.all(legs.map((l) => l.conn.close()));
      throw err;
    }
    return new BenchSubscriber(member.index, legs, shape.publishers, shape.channels, latencies, onCount, onDropped);
  }

  #id(leg: Leg): LegId {
    return {
      index: this.index,
      node: leg.plan.node,
      ...(leg.clientId !== undefined ? { clientId: leg.clientId } : {}),
    };
  }

  /** Its connections' client ids. */
  ids(): LegId[] {
    return this.legs.map((l) => this.#id(l));
  }

  /** Counts one payload (`buf` from `start` to `end`). */
  #take(buf: Uint8Array, start = 0, end = buf.length): void {
    const now = this.#now();
    const stamp = this.#stamp;
    if (!readStamp(buf, stamp, start, end)) return this.tally.addForeign();
    if (this.tally.add(stamp)) this.latencies.record(now - stamp.sentUs);
    this.onCount(this.tally.received, this.tally.unique);
    this.#lastAt = now / 1000;
    this.#firstAt ??= this.#lastAt;
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

  async #startLeg(leg: Leg, mode: BenchMode, pattern: string): Promise<void> {
    const redis = leg.conn.redis, names = leg.plan.names;
    const id = await redis.client("ID").then(Number, () => undefined);
    if (id !== undefined) leg.clientId = id;
    if (mode === "stream") {
      this.#reading.push(this.#readStreams(leg.conn, names));
      return;
    }
    // Read ahead straight into the count; what ioredis decodes itself (RESP2, or past something the cut does not
    // know) comes as its events.
    const take = (_channel: Buffer, payload: Buffer) => this.#take(payload);
    readPushesAhead(redis, {
      message: take,
      smessage: take,
      pmessage: (_p, channel, payload) => take(channel, payload),
      payload: (buf, start, end) => this.#take(buf, start, end),
    });
    redis.on("messageBuffer", take);
    redis.on("pmessageBuffer", (_pattern: unknown, channel: Buffer, payload: Buffer) => take(channel, payload));
    redis.on("smessageBuffer", take);
    if (mode === "pubsub") await redis.subscribe(...names);
    else if (mode === "pattern") await redis.psubscribe(pattern);
    else await redis.ssubscribe(...names);
  }

  /** Stream mode: XREAD from the start of every stream until closed (each call blocks at most 100 ms). */
  async #readStreams(conn: Connection, names: string[]): Promise<void> {
    const ids = names.map(() => "0-0");
    // Bounded in time: each XREAD blocks at most 100 ms, and the loop ends when the run closes the connection.
    while (!this.#closing && !this.#dropped) {
      let reply: [Buffer, [Buffer, Buffer[]][]][] | null;
      try {
        reply = await conn.redis.xreadBuffer(
          "COUNT",
          XREAD_COUNT,
          "BLOCK",
          XREAD_BLOCK_MS,
          "STREAMS",
          ...names,
          ...ids,
        );
      } catch {
        return; // closed under it
      }
      for (const [key, entries] of reply ?? []) {
        const i = names.indexOf(key.toString());
        for (const [id, fields] of entries) {
          ids[i] = id.toString();
          if (fields[1]) this.#take(fields[1]);
          else this.tally.addForeign();
        }
      }
    }
  }

  /**
   * Stops reading for `ms` (the socket is paused: the server's output buffer for it grows), then reads on.
   *
   * @param ms how long
   */
  stall(ms: number): void {
    const paused = this.legs.map((leg) => pauseReading(leg.conn.redis));
    setTimeout(() => {
      for (const resume of paused) resume?.();
    }, ms);
  }

  /** What it counted. */
  figures(): SubscriberFigures {
    return {
      index: this.index,
      tally: this.tally.snapshot(),
      ...(this.#firstAt !== undefined ? { firstAt: this.#firstAt } : {}),
      ...(this.#lastAt !== undefined ? { lastAt: this.#lastAt } : {}),
    };
  }

  /** Closes its connections. */
  async close(): Promise<void> {
    this.#closing = true;
    await Promise.all(this.#reading);
    await Promise.all(this.legs.map((leg) => leg.conn.close()));
  }
}
