/**
 * The plain ioredis publisher of the pub/sub benchmark's second baseline:
 * publishes COUNT messages `msg N TS` to CHANNEL in pipelines of 1,000, two
 * in flight (as publisher.ts did before it had a socket of its own), then
 * prints `{"rate_per_second": …}` over the time from the first write to the
 * last reply.
 *
 *   deno run -A tests/bench/plain_publisher.ts URL CHANNEL COUNT
 *
 * @module
 */
import { Redis } from "ioredis";

const BATCH = 1000;

if (import.meta.main) {
  const [url = "", channel = "", count = ""] = Deno.args;
  const total = Number(count);
  if (!url || !channel || !(total > 0)) {
    console.error("Usage: plain_publisher.ts URL CHANNEL COUNT");
    Deno.exit(2);
  }
  const redis = new Redis(url);
  await redis.ping();
  const started = performance.now();
  let next = 1;
  const batch = async (size: number) => {
    const pipeline = redis.pipeline();
    for (let i = 0; i < size; i++, next++) pipeline.publish(channel, `msg ${next} ${Date.now()}`);
    await pipeline.exec();
  };
  let inFlight: Promise<void> = Promise.resolve();
  while (next <= total) {
    const sent = batch(Math.min(BATCH, total - next + 1));
    await inFlight;
    inFlight = sent;
  }
  await inFlight;
  const ms = performance.now() - started;
  console.log(JSON.stringify({ rate_per_second: Math.round((total * 1000) / ms) }));
  redis.disconnect();
}
