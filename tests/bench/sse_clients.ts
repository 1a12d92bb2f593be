#!/usr/bin/env -S deno run -A
/**
 * api_server's memory with clients that connect to `/events` and never
 * read: the RSS of the api_server process (a subprocess, as in lab 4) before,
 * with N such clients, after updates that fill their queues, and after the
 * clients closed. Run on its own:
 *
 *   deno run -A tests/bench/sse_clients.ts [N] [api_server flags…]
 *   deno run -A tests/bench/sse_clients.ts 500                     # 100 admitted (--max-clients), 400 get 503
 *   deno run -A tests/bench/sse_clients.ts 200 --max-clients 1000
 *
 * @module
 */
import { Redis } from "ioredis";
import { LocalServer } from "../../lib/core/local_server.ts";
import { delay } from "../../lib/core/timing.ts";
import { TextSink } from "../harness.ts";
import { printTable, type Row, rssBytes } from "./bench_kit.ts";

const SNAPSHOT_TYPES = 50; // × 48 KB: each new client first gets 2.4 MB of stored values
const UPDATES = 100; // × 48 KB, published after the clients connected
const PAD = "x".repeat(48 * 1024);

const rssMb = (pid: number) => (rssBytes(pid) ?? NaN) / 2 ** 20;

function stored(n: number): string {
  return JSON.stringify({ updated: "2023-10-01T12:00:00Z", valid: "2099-01-01T00:00:00Z", values: { n, pad: PAD } });
}

/** Runs the measurement and prints its table. */
export async function run(args: string[] = []): Promise<void> {
  const clients = Number(args[0] ?? 200);
  const extra = args.slice(1);
  await using server = await LocalServer.start();
  const redis = new Redis(server.url);
  try {
    for (let n = 0; n < SNAPSHOT_TYPES; n++) await redis.set(`Snap${n}`, stored(n));
    const script = new URL("../../scripts/api_server.ts", import.meta.url).pathname;
    const api = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", script, "--url", server.url, "--port", "0", ...extra],
      env: { NO_COLOR: "1" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const [out, err] = [new TextSink(), new TextSink()];
    const pumps = [[api.stdout, out], [api.stderr, err]].map(async ([stream, sink]) => {
      for await (const chunk of (stream as ReadableStream<Uint8Array>).pipeThrough(new TextDecoderStream())) {
        (sink as TextSink).push(chunk);
      }
    });
    try {
      const pid = api.pid;
      const [, port] = await err.waitFor(/listening on http:\/\/127\.0\.0\.1:(\d+)\//);
      await delay(1000);
      const rows: Row[] = [{ name: "api_server alone", value: rssMb(pid), unit: "MB" }];
      const conns: Deno.Conn[] = [];
      const request = new TextEncoder().encode(`GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
      try {
        for (let i = 0; i < clients; i++) {
          const conn = await Deno.connect({ hostname: "127.0.0.1", port: Number(port) });
          conns.push(conn);
          await conn.write(request);
        }
        await delay(2000);
        rows.push({ name: `${clients} clients that never read, connected`, value: rssMb(pid), unit: "MB" });
        let peak = 0;
        for (let n = 0; n < UPDATES; n++) {
          const type = `Live${n}`;
          const message = JSON.stringify({ type, ...JSON.parse(stored(n)) });
          await redis.pipeline().set(type, stored(n)).publish("update", message).exec();
          if (n % 10 === 9) peak = Math.max(peak, rssMb(pid));
        }
        for (let s = 0; s < 14; s++) {
          await delay(1000);
          peak = Math.max(peak, rssMb(pid));
        }
        rows.push({ name: `after ${UPDATES} updates of 48 KB and 14 s (peak)`, value: peak, unit: "MB" });
        rows.push({ name: `after ${UPDATES} updates of 48 KB and 14 s`, value: rssMb(pid), unit: "MB" });
      } finally {
        for (const conn of conns) conn.close();
      }
      await delay(5000);
      rows.push({ name: "5 s after the clients closed", value: rssMb(pid), unit: "MB" });
      const health = await (await fetch(`http://127.0.0.1:${port}/health`)).json();
      api.kill("SIGINT");
      await api.status;
      printTable(`api_server RSS with clients that never read /events (${extra.join(" ") || "default flags"})`, rows);
      const dropped = err.count(/SSE client #\d+ dropped/);
      const refused = /, (\d+) refused/.exec(out.text)?.[1] ?? "0";
      console.log(`  dropped ${dropped}, refused ${refused}, still connected at the end ${health.clients}`);
    } finally {
      try {
        api.kill("SIGKILL");
      } catch {
        // already exited
      }
      await api.status;
      await Promise.all(pumps);
    }
  } finally {
    await redis.quit();
  }
}

if (import.meta.main) await run(Deno.args);
