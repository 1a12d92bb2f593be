#!/usr/bin/env -S deno run -A
/**
 * Lab 4's whole chain, as a browser sees it: updates published at a steady
 * 100 a second → `kv_updater.ts` stores each → `api_server.ts` (both
 * subprocesses, as in the lab) pushes it to an SSE client (this process).
 * Measured: the time from each PUBLISH to its `update` event at the client
 * (p50, p99), and the server's commands per update (INFO commandstats
 * before and after, the INFO calls themselves left out), in all and by
 * command. Then, for the choice of the signal api_server acts on, both as a
 * listener in this process sees them, for the same updates: kv_updater's
 * announcement (it carries the stored value) next to a keyspace
 * notification of the key (`notify-keyspace-events K$`, set for that phase
 * only) followed by the GET api_server would then need. Run on its own:
 *
 *   deno run -A tests/bench/kv_chain.ts [UPDATES] [RATE]     # default 1000 updates at 100/s
 *   deno task bench kv_chain
 *
 * @module
 */
import { Redis } from "ioredis";
import { LocalServer } from "../../lib/core/local_server.ts";
import { delay } from "../../lib/core/timing.ts";
import { ScriptProcess } from "../harness.ts";
import { printTable, type Row } from "./bench_kit.ts";

const TYPES = 20;
const WARMUP = 200;
const PROBED = 500;

function message(n: number): string {
  return JSON.stringify({
    type: `T${n % TYPES}`,
    updated: new Date(1_700_000_000_000 + n).toISOString(),
    valid: "2099-01-01T00:00:00Z",
    values: { n, temperature: 21.5, label: "sensor reading" },
  });
}

/** The `calls` of each command in INFO commandstats. */
async function commandCalls(redis: Redis): Promise<Map<string, number>> {
  const calls = new Map<string, number>();
  for (const m of (await redis.info("commandstats")).matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
    calls.set(m[1]!, Number(m[2]));
  }
  return calls;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

/**
 * Reads `update` events from `/events`, calling `onUpdate` with each one's `values.n` and when it came, until `stop`
 * is aborted.
 */
async function followEvents(url: string, onUpdate: (n: number, at: number) => void, stop: AbortSignal) {
  const res = await fetch(url);
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  const stopped = new Promise<void>((resolve) => stop.addEventListener("abort", () => resolve(), { once: true }));
  let buffer = "";
  try {
    while (!stop.aborted) {
      const read = await Promise.race([reader.read(), stopped.then(() => undefined)]);
      if (!read || read.done) break;
      const at = performance.now();
      buffer += read.value;
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        if (!/^event: update$/m.test(block)) continue;
        const data = /^data: (.*)$/m.exec(block)?.[1];
        const n = data ? JSON.parse(data).values?.n : undefined;
        if (typeof n === "number") onUpdate(n, at);
      }
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
}

/**
 * Publishes `count` more updates (numbered from `first`) with a listener of both signals: kv_updater's announcement
 * (the value in it), and a keyspace notification of the key followed by the GET that brings the value; gives the time
 * from each PUBLISH (`sentAt`) to each signal's value in hand.
 */
async function probeSignals(
  url: string,
  channel: string,
  range: [first: number, count: number],
  publish: (from: number, to: number) => Promise<void>,
  sentAt: Map<number, number>,
): Promise<Row[]> {
  const [first, count] = range;
  const sub = new Redis(url, { maxRetriesPerRequest: 0 });
  const reads = new Redis(url, { maxRetriesPerRequest: 0 });
  const announced: number[] = [];
  const notified: number[] = [];
  const seen = [new Set<number>(), new Set<number>()];
  const took = (n: number, at: number, into: number[], once: Set<number>) => {
    const sent = sentAt.get(n);
    if (n < first || sent === undefined || once.has(n)) return;
    once.add(n);
    into.push(at - sent);
  };
  try {
    await reads.config("SET", "notify-keyspace-events", "K$");
    const keyspace = "__keyspace@0__:";
    sub.on("message", (_channel: string, text: string) => {
      const at = performance.now();
      for (const value of Object.values(JSON.parse(text).stored as Record<string, string>)) {
        took(JSON.parse(value).values.n, at, announced, seen[0]!);
      }
    });
    sub.on("pmessage", (_pattern: string, key: string, event: string) => {
      if (event !== "set") return;
      void reads.get(key.slice(keyspace.length)).then((value) => {
        if (value) took(JSON.parse(value).values.n, performance.now(), notified, seen[1]!);
      });
    });
    await sub.subscribe(`${channel}:stored`);
    await sub.psubscribe(`${keyspace}${channel}:*`);
    await publish(first, first + count);
    await delay(500); // the last signals
  } finally {
    await reads.config("SET", "notify-keyspace-events", "").catch(() => {});
    sub.disconnect();
    reads.disconnect();
  }
  const rows: Row[] = [];
  for (
    const [name, values] of [["announcement (value in it)", announced], ["keyspace event + GET", notified]] as const
  ) {
    values.sort((a, b) => a - b);
    rows.push({
      name: `signal in hand: ${name}, p50 (${values.length} of ${count})`,
      value: percentile(values, 50),
      unit: "ms",
    });
    rows.push({ name: `signal in hand: ${name}, p99`, value: percentile(values, 99), unit: "ms" });
  }
  return rows;
}

/** Runs the chain benchmark and prints its table. */
export async function run(args: string[] = []): Promise<void> {
  const updates = Number(args[0] ?? 1000);
  const rate = Number(args[1] ?? 100);
  await using server = await LocalServer.start();
  const redis = new Redis(server.url, { maxRetriesPerRequest: 0 });
  const channel = `chain${crypto.randomUUID().slice(0, 6)}`;
  const common = ["--url", server.url, "--channel", channel, "--prefix", `${channel}:`];
  await using updater = new ScriptProcess("kv_updater.ts", [...common, "--stats-interval", "0"]);
  await using api = new ScriptProcess("api_server.ts", [...common, "--port", "0"]);
  const stop = new AbortController();
  try {
    await updater.err.waitFor(/Listening on channel/, 30_000);
    const [, port] = await api.err.waitFor(/listening on http:\/\/127\.0\.0\.1:(\d+)\//, 30_000);
    const sentAt = new Map<number, number>();
    const latencies: number[] = [];
    const seenN = new Set<number>();
    let seen = 0;
    const following = followEvents(`http://127.0.0.1:${port}/events`, (n, at) => {
      const sent = sentAt.get(n);
      if (sent === undefined || seenN.has(n)) return; // a snapshot's old value, or one seen already
      seenN.add(n);
      seen++;
      if (n >= WARMUP) latencies.push(at - sent);
    }, stop.signal);
    await delay(500); // the client's snapshot first
    /** Publishes updates `from` to `to` at `rate` a second, each at its time (none sent in a burst to catch up). */
    const publish = async (from: number, to: number) => {
      const started = performance.now();
      for (let n = from; n < to; n++) {
        const wait = started + ((n - from) * 1000) / rate - performance.now();
        if (wait > 0) await delay(wait);
        sentAt.set(n, performance.now());
        await redis.publish(channel, message(n));
      }
    };
    // A service runs for days: a warm-up (the JIT compiling the hot paths) is left out of the figures.
    await publish(0, WARMUP);
    const warm = performance.now();
    while (seen < WARMUP && performance.now() - warm < 10_000) await delay(10);
    const before = await commandCalls(redis);
    await publish(WARMUP, WARMUP + updates);
    const deadline = performance.now() + 10_000;
    while (seen < WARMUP + updates && performance.now() < deadline) await delay(10);
    await delay(200); // any late reads of the last updates
    const after = await commandCalls(redis);
    stop.abort();
    await following;
    const per: [string, number][] = [...after]
      .filter(([name]) => name !== "info")
      .map(([name, calls]): [string, number] => [name, (calls - (before.get(name) ?? 0)) / updates])
      .filter(([, n]) => n > 0)
      .sort((a, b) => b[1] - a[1]);
    const total = per.reduce((sum, [, n]) => sum + n, 0);
    latencies.sort((a, b) => a - b);
    const probe = await probeSignals(server.url, channel, [WARMUP + updates, PROBED], publish, sentAt);
    const rows: Row[] = [
      {
        name: `update → SSE client, p50 (${latencies.length} of ${updates} at ${rate}/s)`,
        value: percentile(latencies, 50),
        unit: "ms",
      },
      { name: "update → SSE client, p99", value: percentile(latencies, 99), unit: "ms" },
      { name: "update → SSE client, max", value: latencies.at(-1) ?? NaN, unit: "ms" },
      { name: "commands per update, in all", value: total, unit: "cmd", ratio: 1 },
      ...per.map(([name, n]): Row => ({ name: `  ${name}`, value: n, unit: "cmd", ratio: n / total })),
      ...probe,
    ];
    printTable("kv_chain: publisher → kv_updater → api_server → an SSE client (ratios: share of the commands)", rows);
  } finally {
    stop.abort();
    redis.disconnect();
    for (const p of [updater, api]) {
      p.kill("SIGTERM");
      await p.exit().catch(() => {});
    }
  }
}

if (import.meta.main) await run(Deno.args);
