/**
 * The two pairs next to which the pub/sub benchmark puts the one-way latency
 * of publisher.ts → subscriber.ts at 1,000 msg/s: the same trip with none of
 * the scripts' work, each end its own process, paced the same way
 * ({@linkcode waitUntil}, one message every millisecond, each reply awaited).
 *
 * - `bare`: two Deno sockets, a writer sending PUBLISH as RESP bytes and a
 *   reader finding the payloads in what it reads — the floor of the trip on
 *   this machine;
 * - `ioredis`: a plain ioredis publisher and subscriber.
 *
 * The payload is the send time, epoch ms to the microsecond
 * (`performance.timeOrigin + performance.now()`, one clock for both ends).
 * The reader prints `subscribed`, then, after COUNT messages (or 10 s), the
 * one-way latency of each, in ms, as one JSON array.
 *
 *   deno run -A tests/bench/latency_pair.ts bare|ioredis reader URL CHANNEL COUNT
 *   deno run -A tests/bench/latency_pair.ts bare|ioredis writer URL CHANNEL COUNT
 *
 * @module
 */
import { Redis } from "ioredis";
import { preciseNow } from "../../lib/core/json_event.ts";
import { waitUntil, withTimeout } from "../../lib/core/timing.ts";

const RATE = 1000;
const LIMIT_MS = 10_000;

/** A raw socket to the URL's host and port. */
async function rawSocket(url: string): Promise<Deno.TcpConn> {
  const { hostname, port } = new URL(url);
  const conn = await Deno.connect({ hostname, port: Number(port || 6379) });
  conn.setNoDelay(true);
  return conn;
}

/** RESP for one command of ASCII arguments. */
function command(...args: string[]): Uint8Array {
  return new TextEncoder().encode(`*${args.length}\r\n${args.map((a) => `$${a.length}\r\n${a}\r\n`).join("")}`);
}

/** Sends `count` messages paced at RATE; `publish` sends one and resolves with its reply. */
async function paced(count: number, publish: (payload: string) => Promise<unknown>): Promise<void> {
  const start = performance.now();
  for (let n = 0; n < count; n++) {
    await waitUntil(start + (n * 1000) / RATE);
    await publish(preciseNow().toFixed(3));
  }
}

async function bareWriter(url: string, channel: string, count: number): Promise<void> {
  const conn = await rawSocket(url);
  const reply = new Uint8Array(64);
  try {
    await paced(count, async (payload) => {
      await conn.write(command("PUBLISH", channel, payload));
      await conn.read(reply); // ":1\r\n": small enough to come in one read
    });
  } finally {
    conn.close();
  }
}

async function bareReader(url: string, channel: string, got: (latency: number) => boolean) {
  const conn = await rawSocket(url);
  const buf = new Uint8Array(64 * 1024);
  // The payloads are the only bulk strings of the form digits.digits: the channel name is no number.
  const payload = /\$\d+\r\n(\d+\.\d+)\r\n/g;
  try {
    await conn.write(command("SUBSCRIBE", channel));
    await conn.read(buf); // the subscribe confirmation
    console.log("subscribed");
    for (let n = await conn.read(buf); n !== null; n = await conn.read(buf)) {
      const at = preciseNow();
      for (const m of new TextDecoder().decode(buf.subarray(0, n)).matchAll(payload)) {
        if (got(at - Number(m[1]))) return;
      }
    }
  } finally {
    conn.close();
  }
}

async function ioredisWriter(url: string, channel: string, count: number): Promise<void> {
  const redis = new Redis(url);
  try {
    await redis.ping();
    await paced(count, (payload) => redis.publish(channel, payload));
  } finally {
    redis.disconnect();
  }
}

async function ioredisReader(url: string, channel: string, got: (latency: number) => boolean) {
  const redis = new Redis(url);
  try {
    const done = Promise.withResolvers<void>();
    redis.on("message", (_channel: string, payload: string) => {
      if (got(preciseNow() - Number(payload))) done.resolve();
    });
    await redis.subscribe(channel);
    console.log("subscribed");
    await done.promise;
  } finally {
    redis.disconnect();
  }
}

const PAIRS = {
  bare: { writer: bareWriter, reader: bareReader },
  ioredis: { writer: ioredisWriter, reader: ioredisReader },
};

if (import.meta.main) {
  const [kind = "", role = "", url = "", channel = "", countText = ""] = Deno.args;
  const count = Number(countText);
  const pair = PAIRS[kind as keyof typeof PAIRS];
  if (!pair || (role !== "reader" && role !== "writer") || !url || !channel || !(count > 0)) {
    console.error("Usage: latency_pair.ts bare|ioredis reader|writer URL CHANNEL COUNT");
    Deno.exit(2);
  }
  if (role === "writer") await pair.writer(url, channel, count);
  else {
    const latencies: number[] = [];
    const reading = pair.reader(url, channel, (ms) => latencies.push(ms) >= count);
    await withTimeout(reading, LIMIT_MS, () => new Error("timed out")).catch(() => {});
    console.log(JSON.stringify(latencies));
    Deno.exit(0);
  }
}
