/**
 * One benchmark publisher, in a worker of its own (lib/bench/worker.ts):
 * stamped messages round-robin over the channels through the project's fast
 * path, `publishSeries` (lib/pubsub/publish.ts) sending through a
 * {@linkcode PublishLane} (PUBLISH or SPUBLISH encoded by hand, one write a
 * batch): as fast as possible in batches of 1,000, two in flight, as
 * `publisher.ts --repeat`; or paced to a rate against the clock with a
 * precise wait (`waitUntil`: nothing else reads on this thread), as
 * `publisher.ts --rate`. In stream mode it XADDs in ioredis pipelines. On a
 * cluster it has a connection (and lane) per master it sends to and each
 * batch is split by the node serving each channel.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { Connection } from "../core/client.ts";
import type { Reporter } from "../core/output.ts";
import { type BatchSender, type Delivery, type Outgoing, publishSeries } from "../pubsub/publish.ts";
import { PublishLane } from "../pubsub/publish_lane.ts";
import { STREAM_MAXLEN } from "./modes.ts";
import { StampWriter } from "./payload.ts";
import type { PublisherFigures, PublisherMember, RunShape } from "./worker_protocol.ts";

/** Batches a publisher has out at once as fast as possible. */
export const IN_FLIGHT = Number(Deno.env.get("BENCH_IN_FLIGHT") ?? 2);

/** A publisher of the benchmark. */
export class BenchPublisher {
  #confirmed = 0;
  #failed = 0;
  #error: string | undefined;
  #firstAt: number | undefined;
  #lastAt: number | undefined;
  readonly #lanes: PublishLane[];

  private constructor(
    readonly id: number,
    private readonly conns: Connection[],
    private readonly route: readonly number[] | undefined,
    private readonly shape: RunShape,
  ) {
    const command = shape.mode === "sharded" ? "SPUBLISH" : "PUBLISH";
    this.#lanes = shape.mode === "stream" ? [] : conns.map((c) => new PublishLane(c.redis, command));
  }

  /**
   * Opens a publisher's connections.
   *
   * @param member its id and where its connections go
   * @param shape the run's shape
   * @param reporter where connection trouble is reported
   * @param signal stops connecting
   * @returns the publisher
   * @throws {CliError} when a server cannot be reached
   */
  static async open(
    member: PublisherMember,
    shape: RunShape,
    reporter: Reporter,
    signal: AbortSignal,
  ): Promise<BenchPublisher> {
    const conns: Connection[] = [];
    try {
      for (const c of member.plan.conns) {
        conns.push(
          await Connection.open({ url: c.url, reporter, reconnect: false, clusterNode: c.clusterNode, signal }),
        );
      }
    } catch (err) {
      await Promise.all(conns.map((c) => c.close()));
      throw err;
    }
    return new BenchPublisher(member.id, conns, member.plan.route, shape);
  }

  /**
   * Publishes until the quota, the deadline or the signal.
   *
   * @param quota messages to send
   * @param durationMs the longest it may take
   * @param signal stops it
   * @param precise pace with a precise wait (this thread has nothing else to do)
   * @param onConfirmed called with the confirmed count after each batch
   */
  async run(
    quota: number,
    durationMs: number,
    signal: AbortSignal,
    precise: boolean,
    onConfirmed: (n: number) => void,
  ): Promise<void> {
    const { names, size, rate } = this.shape;
    const id = this.id;
    const deadline = AbortSignal.any([signal, this.#timeout(durationMs)]);
    const stamps = new StampWriter(id, size);
    const make = (n: number, at: number): Outgoing => {
      const seq = n - 1;
      return { channel: names[(id + seq) % names.length]!, payload: stamps.stamp(seq, at * 1000) };
    };
    this.#firstAt = performance.timeOrigin + performance.now();
    try {
      await publishSeries(this.conns[0]!.redis, quota, make, rate > 0 ? { rate, precise } : {}, () => {}, deadline, {
        send: this.#sender(),
        inFlight: IN_FLIGHT,
        onBatch: (_first, batch) => {
          this.#confirmed += batch.length;
          this.#lastAt = performance.timeOrigin + performance.now();
          onConfirmed(this.#confirmed);
        },
      });
    } catch (err) {
      this.#error ??= err instanceof Error ? err.message : String(err);
    } finally {
      clearTimeout(this.#timer);
    }
  }

  #timer: ReturnType<typeof setTimeout> | undefined;

  #timeout(ms: number): AbortSignal {
    const c = new AbortController();
    this.#timer = setTimeout(() => c.abort(), ms);
    return c.signal;
  }

  /** Sends a batch: one lane (or XADD pipeline), or on a cluster one per node, the batch split by route. */
  #sender(): BatchSender {
    const one = (leg: number, messages: readonly Outgoing[]): Promise<unknown> =>
      this.#lanes[leg] ? this.#lanes[leg].publish(messages) : xadd(this.conns[leg]!, messages);
    const route = this.route;
    const index = new Map(this.shape.names.map((n, i) => [n, i]));
    return async (_redis, messages) => {
      try {
        if (!route || this.conns.length === 1) await one(0, messages);
        else {
          const groups = this.conns.map((): Outgoing[] => []);
          for (const m of messages) groups[route[index.get(m.channel)!]!]!.push(m);
          await Promise.all(groups.map((g, leg) => g.length ? one(leg, g) : undefined));
        }
      } catch (err) {
        this.#failed += messages.length;
        throw err;
      }
      return new Array<Delivery>(messages.length);
    };
  }

  /** What it did. */
  figures(): PublisherFigures {
    return {
      id: this.id,
      confirmed: this.#confirmed,
      failed: this.#failed,
      ...(this.#error !== undefined ? { error: this.#error } : {}),
      ...(this.#firstAt !== undefined ? { firstAt: this.#firstAt } : {}),
      ...(this.#lastAt !== undefined ? { lastAt: this.#lastAt } : {}),
    };
  }

  /** Closes its lanes and connections. */
  async close(): Promise<void> {
    await Promise.all(this.#lanes.map((l) => l.close()));
    await Promise.all(this.conns.map((c) => c.close()));
  }
}

/** Stream mode: the batch as XADDs in one ioredis pipeline; throws the first error. */
async function xadd(conn: Connection, messages: readonly Outgoing[]): Promise<void> {
  const pipe = conn.redis.pipeline();
  for (const m of messages) pipe.xadd(m.channel, "MAXLEN", "~", STREAM_MAXLEN, "*", "p", Buffer.from(m.payload));
  for (const [err] of (await pipe.exec()) ?? []) if (err) throw err;
}
