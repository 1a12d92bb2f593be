#!/usr/bin/env -S deno run -A
/**
 * What dashboard.ts costs the server: its commands per second, from
 * `INFO commandstats` before and after a window on a private server, first
 * with nothing else running (the baseline), then with three event processors
 * (subprocesses, each a processor of its own) publishing their statistics
 * every 5 s, which the processors panel shows. The processors' PUBLISH is
 * counted apart. Run on its own:
 *
 *   deno run -A tests/bench/dashboard.ts [SECONDS]      # default 20 s per window
 *
 * @module
 */
import { Redis } from "ioredis";
import { LocalServer } from "../../lib/core/local_server.ts";
import { delay } from "../../lib/core/timing.ts";
import { TextSink } from "../harness.ts";
import { printTable, type Row } from "./bench_kit.ts";

/** Calls per command, from `INFO commandstats`. */
async function commandCalls(redis: Redis): Promise<Map<string, number>> {
  const calls = new Map<string, number>();
  for (const line of (await redis.info("commandstats")).split("\n")) {
    const m = /^cmdstat_([^:]+):calls=(\d+)/.exec(line.trim());
    if (m) calls.set(m[1]!, Number(m[2]));
  }
  return calls;
}

/** A script as a subprocess, its stderr kept; dispose to stop it (SIGINT) and reap it. */
function spawn(script: string, args: string[]) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL(`../../scripts/${script}`, import.meta.url).pathname, ...args],
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const err = new TextSink();
  const pump = (async () => {
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) err.push(chunk);
  })();
  return {
    err,
    async [Symbol.asyncDispose]() {
      try {
        child.kill("SIGINT");
      } catch {
        // already exited
      }
      await child.status;
      await pump;
    },
  };
}

/** Runs the measurement and prints its table. */
export async function run(args: string[] = []): Promise<void> {
  const seconds = Number(args[0] ?? 20);
  await using server = await LocalServer.start();
  const admin = new Redis(server.url);
  try {
    /** Commands per second over one window, without PUBLISH and this benchmark's own INFO; and PUBLISH apart. */
    const window = async () => {
      await delay(2000); // past what a start does once (CLIENT ID, INFO, SUBSCRIBE…)
      const before = await commandCalls(admin);
      await delay(seconds * 1000);
      const after = await commandCalls(admin);
      const delta = (name: string) => (after.get(name) ?? 0) - (before.get(name) ?? 0);
      const all = [...after.keys()].reduce((n, name) => n + delta(name), 0) - 1; // the second INFO is ours
      return { commands: (all - delta("publish")) / seconds, publish: delta("publish") / seconds };
    };
    await using dash = spawn("dashboard.ts", ["--url", server.url, "--port", "0"]);
    await dash.err.waitFor(/Dashboard on /, 30_000);
    const idle = await window();
    const processors = [0, 1, 2].map(() =>
      spawn("event_processor.ts", ["--url", server.url, "--quiet", "--stats-interval", "0"])
    );
    try {
      for (const p of processors) await p.err.waitFor(/Press Ctrl\+C to stop/, 30_000);
      const busy = await window();
      const rows: Row[] = [
        { name: "dashboard alone, idle", value: idle.commands, unit: "cmd/s" },
        { name: "dashboard, 3 event processors in its panel", value: busy.commands, unit: "cmd/s" },
        { name: "the 3 processors' processor_stats PUBLISH", value: busy.publish, unit: "cmd/s" },
      ];
      printTable(`dashboard.ts: commands per second to the server (INFO commandstats over ${seconds} s)`, rows);
    } finally {
      for (const p of processors) await p[Symbol.asyncDispose]();
    }
  } finally {
    await admin.quit();
  }
}

if (import.meta.main) await run(Deno.args);
