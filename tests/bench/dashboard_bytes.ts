#!/usr/bin/env -S deno run -A
/**
 * What one open page of dashboard.ts costs in bytes with 10,000 channels: the
 * `state` events of `/events` (default `--interval` 500ms) on a private
 * server, after a warm-up long enough to fill the one-minute chart, first
 * idle (10,000 channels subscribed, no message), then busy (each channel
 * published 5 times a second). The first event (the whole state a new page
 * gets) is counted apart. Run on its own:
 *
 *   deno run -A tests/bench/dashboard_bytes.ts [SECONDS] [WARMUP_SECONDS]   # default 10 s per window, 65 s warm-up
 *
 * @module
 */
import { Redis } from "ioredis";
import { LocalServer } from "../../lib/core/local_server.ts";
import { delay } from "../../lib/core/timing.ts";
import { ScriptProcess } from "../harness.ts";
import { StateStream } from "../dashboard/live_dashboard.ts";
import { printTable, type Row } from "./bench_kit.ts";

const CHANNELS = 10_000;

/** Runs the measurement and prints its table. */
export async function run(args: string[] = []): Promise<void> {
  const seconds = Number(args[0] ?? 10);
  const warmup = Number(args[1] ?? 65);
  await using server = await LocalServer.start();
  const sub = new Redis(server.url);
  const pub = new Redis(server.url);
  const names = Array.from({ length: CHANNELS }, (_, i) => `sensor:${i}`);
  const dash = new ScriptProcess("dashboard.ts", ["--url", server.url, "--port", "0"]);
  try {
    for (let i = 0; i < names.length; i += 1000) await sub.subscribe(...names.slice(i, i + 1000));
    const [, base] = await dash.err.waitFor(/Dashboard on (http:\/\/127\.0\.0\.1:\d+)\//, 30_000);
    await using stream = StateStream.open(base!);
    /** Bytes per event and per second of the state events of one window. */
    const window = async () => {
      const from = stream.sizes.length;
      const started = performance.now();
      await delay(seconds * 1000);
      const sizes = stream.sizes.slice(from);
      const bytes = sizes.reduce((a, b) => a + b, 0);
      return { perEvent: bytes / sizes.length, perSecond: bytes / ((performance.now() - started) / 1000) };
    };
    await delay(warmup * 1000);
    const first = stream.sizes[0] ?? 0;
    const idle = await window();
    let publishing = true;
    const rounds = (async () => {
      while (publishing) {
        const pipe = pub.pipeline();
        for (const name of names) pipe.publish(name, "x");
        await pipe.exec();
        await delay(200);
      }
    })();
    await delay(3000); // rates and rows settle
    const busy = await window();
    publishing = false;
    await rounds;
    const table = (what: string, unit: string, pick: (w: typeof idle) => number): Row[] => [
      { name: `idle: ${what}`, value: pick(idle), unit },
      { name: `busy: ${what}`, value: pick(busy), unit },
    ];
    const title = `dashboard.ts: one page's /events with ${CHANNELS.toLocaleString("en")} channels (${seconds} s ` +
      `windows after ${warmup} s; busy: 5 msg/s per channel)`;
    printTable(`${title}, bytes per second`, table("bytes per second", "B/s", (w) => w.perSecond));
    printTable(`${title}, bytes per state event`, table("bytes per state event", "B", (w) => w.perEvent));
    console.log(`  the whole state a new page gets first: ${first.toLocaleString("en")} bytes`);
  } finally {
    dash.kill("SIGINT");
    await dash.exit();
    sub.disconnect();
    pub.disconnect();
  }
}

if (import.meta.main) await run(Deno.args);
