/**
 * One subscriber process for the receive tables of the pub/sub benchmark:
 * subscribes to CHANNEL, prints `subscribed`, counts COUNT messages and
 * prints `{"rate_per_second": …, "cpu_us_per_message": …}`, both from the
 * first message to the last (the CPU time is the whole process's, so it
 * drifts far less than the rate when other processes share the cores), then
 * exits. It stops early when nothing comes for a second, or after 60 s, and
 * then says how many came; exit code 1 when fewer than two did.
 *
 *   deno run -A tests/bench/receiver.ts KIND URL CHANNEL COUNT
 *
 * KIND is what receives:
 * - `ioredis6-resp3`, `ioredis6-resp2`: a bare ioredis 6.0.0 client counting
 *   `message` events, on RESP3 (its default) or with `protocol: 2`;
 * - `ioredis5`: the same with ioredis 5.11.1 (RESP2 only), for reference;
 * - `lib-resp3`, `lib-resp2`: lib/pubsub's {@linkcode onMessage} feeding a
 *   {@linkcode MessageCounter}, the per-message path of subscriber.ts, its
 *   messages decoded by ioredis (its public path);
 * - `lib-resp3-ahead`: the same with the messages read ahead of ioredis's
 *   decoder ({@linkcode readPushesAhead}), as subscriber.ts reads them;
 * - `lib-resp3-counters`: the same, plus lib/ops's received and handled
 *   counters per message (what a script with `--metrics-port` adds);
 * - `lib-resp3-histogram`: that, plus a handler-latency histogram observation.
 *
 * @module
 */
import process from "node:process";
import { Redis } from "ioredis";
// The old version, for reference only here: it stays out of deno.json so that no script can import it.
// deno-lint-ignore no-import-prefix
import { Redis as Redis5 } from "npm:ioredis@5.11.1";
import { readPushesAhead } from "../../lib/core/ioredis_guard.ts";
import { MessageCounter } from "../../lib/core/stats.ts";
import { onMessage } from "../../lib/pubsub/subscribe.ts";
import { OpsRegistry } from "../../lib/ops/registry.ts";
import { ServiceMetrics } from "../../lib/ops/service_metrics.ts";

/**
 * Counts messages up to an expected number, timing them first to last in
 * wall-clock and CPU time; stops early when they stop coming for a second.
 */
class Meter {
  total = 0;
  #first = 0;
  #last = 0;
  #cpuFirst = 0;
  #cpuLast = 0;
  readonly #done = Promise.withResolvers<void>();

  constructor(readonly expected: number) {}

  /** Counts one message. */
  tick(): void {
    this.#last = performance.now();
    if (this.total++ === 0) [this.#first, this.#cpuFirst] = [this.#last, cpuMicros()];
    if (this.total === this.expected) this.#stop();
  }

  #stop(): void {
    this.#cpuLast = cpuMicros();
    this.#done.resolve();
  }

  /** Resolves once all expected messages came, or none for a second since the last, or after `limitMs`. */
  async finished(limitMs: number): Promise<void> {
    let seen = -1;
    const watch = setInterval(() => {
      if (this.total > 0 && this.total === seen) this.#stop();
      seen = this.total;
    }, 1000);
    const limit = setTimeout(() => this.#stop(), limitMs);
    await this.#done.promise;
    clearInterval(watch);
    clearTimeout(limit);
  }

  /** Messages per second, and CPU microseconds per message, first message to last (an idle second adds next to no CPU). */
  figures(): { messages: number; rate_per_second: number; cpu_us_per_message: number } {
    const n = Math.max(1, this.total - 1);
    return {
      messages: this.total,
      rate_per_second: Math.round((n * 1000) / Math.max(1, this.#last - this.#first)),
      cpu_us_per_message: Number(((this.#cpuLast - this.#cpuFirst) / n).toFixed(3)),
    };
  }
}

/** CPU time this process has used (all threads, user + system), in microseconds. */
function cpuMicros(): number {
  const { user, system } = process.cpuUsage();
  return user + system;
}

/** A bare subscriber: a `message` listener that only counts, the least a subscriber can do. */
function plain(client: Redis | Redis5, meter: Meter): Redis | Redis5 {
  client.on("message", () => meter.tick());
  return client;
}

/** subscriber.ts's per-message path: lib/pubsub's onMessage into a MessageCounter. */
function viaLib(client: Redis, meter: Meter): Redis {
  const counter = new MessageCounter();
  onMessage(client, (m) => {
    counter.record(m.channel);
    meter.tick();
  });
  return client;
}

/** subscriber.ts's per-message path with lib/ops's metrics: two counters, and with `histogram` a latency too. */
function viaLibWithMetrics(client: Redis, meter: Meter, histogram: boolean): Redis {
  const counter = new MessageCounter();
  const metrics = new ServiceMetrics(new OpsRegistry());
  onMessage(client, (m) => {
    const started = histogram ? performance.now() : 0;
    metrics.received.inc(m.channel);
    counter.record(m.channel);
    metrics.handled.inc(m.channel);
    if (histogram) metrics.handlerSeconds.observe(m.channel, (performance.now() - started) / 1000);
    meter.tick();
  });
  return client;
}

const KINDS: Record<string, (url: string, meter: Meter) => Redis | Redis5> = {
  "ioredis6-resp3": (url, meter) => plain(new Redis(url), meter),
  "ioredis6-resp2": (url, meter) => plain(new Redis(url, { protocol: 2 }), meter),
  "ioredis5": (url, meter) => plain(new Redis5(url), meter),
  "lib-resp3": (url, meter) => viaLib(new Redis(url, { protocol: 3 }), meter),
  "lib-resp2": (url, meter) => viaLib(new Redis(url, { protocol: 2 }), meter),
  "lib-resp3-counters": (url, meter) => viaLibWithMetrics(new Redis(url, { protocol: 3 }), meter, false),
  "lib-resp3-histogram": (url, meter) => viaLibWithMetrics(new Redis(url, { protocol: 3 }), meter, true),
  "lib-resp3-ahead": (url, meter) => {
    const client = viaLib(new Redis(url, { protocol: 3 }), meter);
    readPushesAhead(client);
    return client;
  },
};

if (import.meta.main) {
  const [kind = "", url = "", channel = "", count = ""] = Deno.args;
  const make = KINDS[kind];
  const expected = Number(count);
  if (!make || !url || !channel || !(expected > 1)) {
    console.error(`Usage: receiver.ts ${Object.keys(KINDS).join("|")} URL CHANNEL COUNT`);
    Deno.exit(2);
  }
  const meter = new Meter(expected);
  const client = make(url, meter);
  await client.subscribe(channel);
  console.log("subscribed");
  await meter.finished(60_000);
  console.log(JSON.stringify(meter.figures()));
  client.disconnect();
  Deno.exit(meter.total > 1 ? 0 : 1);
}
