/**
 * Every long-running script stops within its grace period on SIGTERM and on
 * Ctrl+C (SIGINT) with its server gone for many reconnect attempts: the state
 * in which `event_processor.ts --durable` once ignored SIGTERM (its statistics
 * read waited in the offline queue for a server that was gone, and the stop
 * waited for it).
 */
import assert from "node:assert/strict";
import { ExitCode } from "../../lib/core/exit_codes.ts";
import { freePort } from "../../lib/core/local_server.ts";
import { delay } from "../../lib/core/timing.ts";
import { ownServerTest, ScriptProcess, type TestServer, testServer } from "../harness.ts";

/** The grace period of the scripts without a flag for it (README, after the exit codes: "stop within 5 s"). */
const FIXED_GRACE_MS = 5000;

/**
 * How long the server stays gone before the stop: past the 6.3 s after which ioredis's reconnect backoff holds at
 * 5 s (attempts 100 ms, 200 ms, … 3.2 s apart), and past the 5 s between a stream consumer's claims. Every periodic
 * task below (statistics, claims, processor_stats, samples) has then fired during the outage, its commands waiting
 * in an offline queue, as after 90 s. The state is a duration, so this is waited out, not an event.
 */
const OUTAGE_MS = 7000;

interface Case {
  name: string;
  script: string;
  args: (url: string, port: number) => string[];
  /** Its grace period: `--shutdown-timeout`, `--drain-timeout` (defaults), or {@linkcode FIXED_GRACE_MS}. */
  graceMs: number;
  /** What it prints, once the stop is done, when it could not check something with the server. */
  honest?: RegExp;
}

const CASES: Case[] = [
  { name: "subscriber.ts", script: "subscriber.ts", args: (url) => ["--url", url, "stop:ch"], graceMs: FIXED_GRACE_MS },
  {
    name: "keyspace_listener.ts",
    script: "keyspace_listener.ts",
    args: (url) => ["--url", url],
    graceMs: FIXED_GRACE_MS,
  },
  {
    name: "kv_updater.ts",
    script: "kv_updater.ts",
    args: (url) => ["--url", url, "--stats-interval", "100ms"],
    graceMs: 10_000,
  },
  {
    name: "kv_updater.ts --stream",
    script: "kv_updater.ts",
    args: (url) => ["--url", url, "--stream", "stop:updates", "--stats-interval", "100ms"],
    graceMs: 10_000,
  },
  {
    name: "api_server.ts",
    script: "api_server.ts",
    args: (url, port) => ["--url", url, "--port", String(port)],
    graceMs: FIXED_GRACE_MS,
  },
  {
    name: "event_processor.ts",
    script: "event_processor.ts",
    args: (url) => ["--url", url, "--stats-interval", "100ms", "--publish-stats", "100ms"],
    graceMs: 5000,
  },
  {
    name: "event_processor.ts --durable",
    script: "event_processor.ts",
    args: (url) => [
      "--url",
      url,
      "--durable",
      "--stats-interval",
      "100ms",
      "--publish-stats",
      "100ms",
      "--claim-after",
      "200ms",
    ],
    graceMs: 5000,
    honest: /could not check its pending entries/,
  },
  {
    name: "dashboard.ts",
    script: "dashboard.ts",
    args: (url, port) => ["--url", url, "--port", String(port), "--interval", "100ms"],
    graceMs: FIXED_GRACE_MS,
  },
  {
    name: "publisher.ts --repeat --retry",
    script: "publisher.ts",
    args: (url) => ["--url", url, "stop:ch", "m{{n}}", "--repeat", "1000000", "--interval", "50ms", "--retry", "10m"],
    graceMs: FIXED_GRACE_MS,
  },
  {
    name: "keyspace_writer.ts",
    script: "keyspace_writer.ts",
    args: (url) => ["--url", url, "--count", "100000", "--interval", "100ms"],
    graceMs: FIXED_GRACE_MS,
  },
];

/** One run: start, lose the server for {@linkcode OUTAGE_MS}, signal; the time from the signal to the exit. */
async function stopWithServerGone(
  c: Case,
  signal: Deno.Signal,
  server: TestServer,
): Promise<{ ms: number; problem?: string }> {
  await using p = new ScriptProcess(c.script, c.args(server.url, await freePort()));
  await p.err.waitFor(/Press Ctrl\+C to stop|Publishing|Nobody is subscribed/, 30_000);
  await server.local!.kill();
  await p.err.waitFor(/Connection to \S+ lost/);
  await delay(OUTAGE_MS);
  const signalled = performance.now();
  p.kill(signal);
  const code = await p.exit(c.graceMs + 10_000);
  const ms = performance.now() - signalled;
  const problem = code !== ExitCode.Ok
    ? `exit code ${code}`
    : c.honest && !c.honest.test(p.out.text)
    ? `no ${c.honest} in its summary:\n${p.out.text}`
    : undefined;
  return { ms, ...(problem ? { problem: `${problem}\nstderr:\n${p.err.text}` } : {}) };
}

ownServerTest(
  "every long-running script stops within its grace period on SIGTERM and SIGINT, its server gone for many reconnect attempts",
  async () => {
    await using servers = new AsyncDisposableStack();
    const runs: { c: Case; signal: Deno.Signal; server: TestServer }[] = [];
    for (const c of CASES) {
      for (const signal of ["SIGTERM", "SIGINT"] as const) {
        runs.push({ c, signal, server: servers.use(await testServer({ own: true })) });
      }
    }
    // All at once, each with a server of its own: one at a time they would take minutes of outages.
    const failures = runs.map(async ({ c, signal, server }) => {
      const what = `${c.name} on ${signal}`;
      try {
        const { ms, problem } = await stopWithServerGone(c, signal, server);
        const late = ms >= c.graceMs ? `${(ms / 1000).toFixed(2)} s to stop, grace ${c.graceMs / 1000} s` : "";
        return [late, problem ?? ""].filter(Boolean).map((p) => `${what}: ${p}`);
      } catch (err) {
        return [`${what}: ${(err as Error).message}`];
      }
    });
    assert.deepEqual((await Promise.all(failures)).flat(), []);
  },
);
