/**
 * What the recovery tests share: a publisher of sequence-numbered messages
 * to a recoverable channel that publishes each exactly once through outages,
 * outages of each kind, and reading what subscriber.ts --recover --json printed.
 *
 * @module
 */
import assert from "node:assert/strict";
import { type Cluster, Redis } from "ioredis";
import type { Commands } from "../../lib/endpoint/link.ts";
import { historySender } from "../../lib/recover/history_publisher.ts";
import { historyKeys } from "../../lib/recover/history.ts";
import type { HistoryLimit } from "../../lib/recover/history.ts";
import { delay } from "../../lib/core/timing.ts";
import type { ScriptProcess, TestServer } from "../harness.ts";
import { closeClient, pubsubClients } from "../harness.ts";

/**
 * A client for the test's own commands through outages: it reconnects, fails a command at once while the server is
 * away, and fails one cut off in flight (ioredis otherwise drops it unsettled, or sends it again).
 */
export function outageClient(url: string): Redis {
  const redis = new Redis(url, { enableOfflineQueue: false, maxRetriesPerRequest: 0 });
  redis.on("error", () => {});
  return redis;
}

/** Waits until `redis` is connected (bounded). */
export async function whenReady(redis: Redis): Promise<void> {
  for (let i = 0; i < 300 && redis.status !== "ready"; i++) await delay(50);
}

/** How a {@linkcode SequencePublisher}'s messages read: the payload of number `seq`, and the number of a payload. */
export interface SequenceFormat {
  /** The payload of message `seq`, with `pad` bytes of padding. */
  payload(seq: number, pad: number): string;
  /** The number of a payload. */
  seqOf(payload: string): number;
}

/** `s1 xxx…`, `s2 xxx…`: what subscriber.ts prints as it is. */
export const PLAIN_SEQUENCE: SequenceFormat = {
  payload: (seq, pad) => `s${seq} ${"x".repeat(pad)}`,
  seqOf: (payload) => Number(payload.match(/^s(\d+) /)?.[1] ?? 0),
};

/**
 * Publishes `s1 …`, `s2 …` (or another {@linkcode SequenceFormat}) in order, each exactly once: a failed send is sent again as it was (the publish script
 * skips a message it took already, even when the client library resent it itself) unless the history has it.
 */
export class SequencePublisher {
  /** The last sequence number published. */
  seq = 0;
  #chain: Promise<void> = Promise.resolve();
  readonly #send;

  constructor(
    private readonly redis: Redis | Cluster | Commands,
    readonly channel: string,
    limit: HistoryLimit = { kind: "size", size: 100_000 },
    sharded = false,
    private readonly format: SequenceFormat = PLAIN_SEQUENCE,
  ) {
    this.#send = historySender(limit, sharded);
  }

  /** Publishes the next message, `pad` bytes of padding after its number; resolves when it is in. */
  next(pad = 16): Promise<void> {
    const run = this.#chain.then(() => this.#one(this.seq + 1, pad));
    this.#chain = run.catch(() => {});
    return run;
  }

  async #one(seq: number, pad: number): Promise<void> {
    const message = { channel: this.channel, payload: this.format.payload(seq, pad) }; // sent again as it is
    for (let attempt = 0; attempt < 400; attempt++) {
      try {
        await this.#send(this.redis, [message]);
        this.seq = seq;
        return;
      } catch {
        await delay(50);
        if (await this.#lastSeq().catch(() => -1) === seq) {
          this.seq = seq;
          return;
        }
      }
    }
    throw new Error(`Could not publish s${seq}`);
  }

  async #lastSeq(): Promise<number> {
    const rows = await this.redis.xrevrange(historyKeys(this.channel).stream, "+", "-", "COUNT", 1);
    const fields = rows[0]?.[1] ?? [];
    return fields[1] === undefined ? 0 : this.format.seqOf(fields[1]);
  }

  /** Publishes every `everyMs` until `signal` aborts. */
  async paced(everyMs: number, signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      await this.next();
      await delay(everyMs);
    }
  }
}

/** The `message`/`smessage` events of subscriber.ts --json: the sequence numbers in order, and how many recovered. */
export function received(
  stdout: string,
): { seqs: number[]; offsets: number[]; recovered: number; summary: Record<string, unknown> } {
  const seqs: number[] = [];
  const offsets: number[] = [];
  let recovered = 0;
  let summary: Record<string, unknown> = {};
  for (const line of stdout.split("\n")) {
    if (!line.startsWith("{")) continue;
    const e = JSON.parse(line);
    if (e.event === "summary") summary = e;
    if (e.event !== "message" && e.event !== "smessage") continue;
    seqs.push(Number(String(e.payload).match(/^s(\d+) /)?.[1]));
    offsets.push(e.offset);
    if (e.recovered) recovered++;
  }
  return { seqs, offsets, recovered, summary };
}

/** Asserts that `seqs` is 1..n, each once, in order. */
export function assertExactlyOnceInOrder(seqs: number[], n: number, offsets: number[] = []): void {
  const firstWrong = seqs.findIndex((s, i) => s !== i + 1);
  const around = (a: number[]) => a.slice(Math.max(0, firstWrong - 3), firstWrong + 3);
  if (firstWrong !== -1) console.error(`offsets around it: ${around(offsets)}`);
  assert(
    firstWrong === -1,
    `message ${firstWrong + 1} is s${seqs[firstWrong]} (…${seqs.slice(Math.max(0, firstWrong - 3), firstWrong + 3)}…)`,
  );
  assert.equal(seqs.length, n);
}

/**
 * Stops the recovering subscriber and asserts that it ended with every message of `pub` exactly once, in order, and
 * nothing lost; prints what the outages were.
 *
 * @param sub subscriber.ts --recover --json
 * @param pub the publisher of the numbered messages
 * @param kinds the outages it went through
 */
export async function assertAllRecovered(sub: ScriptProcess, pub: SequencePublisher, kinds: string[]): Promise<void> {
  sub.kill("SIGINT");
  assert.equal(await sub.exit(), 0, sub.err.text);
  const { seqs, offsets, recovered, summary } = received(sub.out.text);
  assertExactlyOnceInOrder(seqs, pub.seq, offsets);
  assert.equal(summary.lost, 0, sub.err.text);
  console.log(`  ${pub.seq} messages, ${recovered} recovered; outages: ${kinds.join(", ")}`);
}

/** Waits until the subscriber has printed sequence number `n`. */
export async function waitForSeq(sub: ScriptProcess, n: number, ms = 30_000): Promise<void> {
  await sub.out.waitFor(new RegExp(`"payload":"s${n} `), ms);
}

/**
 * Pauses the subscriber (SIGSTOP) and publishes large messages until the server drops it for falling behind (a
 * small pubsub output limit), then lets it go on after `ms` in all; the limit is put back.
 */
export async function dropPaused(
  admin: Redis,
  sub: ScriptProcess,
  pub: SequencePublisher,
  ms: number,
): Promise<void> {
  const started = Date.now();
  const [, saved] = (await admin.config("GET", "client-output-buffer-limit")) as [string, string];
  const pubsubLimit = saved.match(/pubsub \d+ \d+ \d+/)?.[0] ?? "pubsub 33554432 8388608 60";
  await admin.config("SET", "client-output-buffer-limit", "pubsub 65536 0 0");
  Deno.kill(sub.pid, "SIGSTOP");
  try {
    for (let i = 0; i < 5000 && await pubsubClients(admin) > 0; i += 25) {
      await Promise.all(Array.from({ length: 25 }, () => pub.next(8192)));
    }
    assert.equal(await pubsubClients(admin), 0, "the server should have dropped the paused subscriber");
    await delay(Math.max(0, ms - (Date.now() - started)));
  } finally {
    await admin.config("SET", "client-output-buffer-limit", pubsubLimit);
    Deno.kill(sub.pid, "SIGCONT");
  }
}

/** Kills every pub/sub connection again and again for `ms`: the subscriber stays away that long. */
export async function killFor(admin: Redis, ms: number): Promise<void> {
  const until = Date.now() + ms;
  do {
    await admin.call("CLIENT", "KILL", "TYPE", "pubsub");
    await delay(50);
  } while (Date.now() < until);
}

/** A random outage length between 0.1 and 5 s, scaled by `scale` (≤ 1 keeps the run short). */
export function outageMs(scale = 1): number {
  return Math.round((100 + Math.random() * 4900) * scale);
}

/**
 * `count` outages in turn — a restart that keeps the data, CLIENT KILL, the paused process dropped for falling behind —
 * each of a random length (see {@linkcode outageMs}), with some live messages between them.
 *
 * @returns each outage's kind and length, for the test's output
 */
export async function outageRounds(
  count: number,
  o: { server: TestServer; admin: Redis; proc: ScriptProcess; pub: SequencePublisher; scale?: number },
): Promise<string[]> {
  const kinds: string[] = [];
  for (let i = 0; i < count; i++) {
    const ms = outageMs(o.scale);
    const kind = ["restart", "kill", "drop"][i % 3]!;
    kinds.push(`${kind} ${ms} ms`);
    if (Deno.env.get("RECOVER_TEST_VERBOSE")) console.error(`outage ${i + 1}: ${kind} ${ms} ms at s${o.pub.seq}`);
    await whenReady(o.admin);
    if (kind === "restart") {
      await o.server.local!.stop();
      await delay(ms);
      await o.server.local!.start();
    } else if (kind === "kill") await killFor(o.admin, ms);
    else await dropPaused(o.admin, o.proc, o.pub, ms);
    await delay(300); // some live messages between outages
  }
  return kinds;
}

/**
 * The outage test's run: once `o.ready` (the process listens), `pub` paced every 5 ms through {@linkcode outageRounds}, then stopped, then `caughtUp` awaited
 * (the process has delivered the last message); the publisher's and admin's clients are closed at the end.
 *
 * @returns each outage's kind and length
 */
export async function pacedThroughOutages(
  count: number,
  o: {
    server: TestServer;
    admin: Redis;
    publisherClient: Redis;
    proc: ScriptProcess;
    pub: SequencePublisher;
    scale?: number;
    ready: () => Promise<unknown>;
  },
  caughtUp: (lastSeq: number) => Promise<unknown>,
): Promise<string[]> {
  const stop = new AbortController();
  let pacing: Promise<void> = Promise.resolve();
  try {
    await o.ready();
    pacing = o.pub.paced(5, stop.signal);
    const kinds = await outageRounds(count, o);
    stop.abort();
    await pacing;
    await caughtUp(o.pub.seq);
    return kinds;
  } finally {
    stop.abort();
    await pacing.catch(() => {});
    await closeClient(o.publisherClient);
    await closeClient(o.admin);
  }
}
