/**
 * Every long-running script with `--metrics-port`: `/readyz` answers 200
 * once it does its job, 503 within a second of its server going away
 * (killed, as a crash), 200 again once the server is back, and `/livez`
 * answers meanwhile. Each script runs as a real subprocess against a server
 * of the test's own.
 *
 * @module
 */
import assert from "node:assert/strict";
import { delay } from "../../lib/core/timing.ts";
import {
  eventually,
  floodUntilDropped,
  metricsBase,
  ownServerTest,
  ScriptProcess,
  testClient,
  testServer,
} from "../harness.ts";
import { LONG_RUNNING } from "./long_running.ts";
import { sample } from "./prometheus.ts";

/** GET `path` of the script's ops server: its status and first line, or undefined when nothing answers. */
async function ask(base: string, path: string): Promise<{ status: number; text: string } | undefined> {
  try {
    const res = await fetch(base + path, { signal: AbortSignal.timeout(2000) });
    return { status: res.status, text: (await res.text()).trim() };
  } catch {
    return undefined;
  }
}

for (const script of LONG_RUNNING) {
  ownServerTest(
    `${script.name}: /readyz turns 503 within 1 s of the server going away and 200 after it returns`,
    async () => {
      await using server = await testServer({ own: true, notifications: "KEA" });
      await using proc = new ScriptProcess(script.file, [
        ...script.args(server.url, server.prefix),
        "--metrics-port",
        "0",
      ]);
      const base = await metricsBase(proc);
      await eventually(
        async () => (await ask(base, "/readyz"))?.status === 200,
        () => `${script.name} ready: ${proc.err.text}`,
      );
      assert.deepEqual(await ask(base, "/livez"), { status: 200, text: "ok" });

      await server.local!.kill();
      const killedAt = performance.now();
      let answer = await ask(base, "/readyz");
      while (answer?.status === 200 && performance.now() - killedAt < 1000) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        answer = await ask(base, "/readyz");
      }
      assert.equal(
        answer?.status,
        503,
        `not ready within 1 s of the kill: ${JSON.stringify(answer)}\n${proc.err.text}`,
      );
      assert.match(answer!.text, /^not ready: /);
      assert.deepEqual(await ask(base, "/livez"), { status: 200, text: "ok" }, "alive during the outage");

      await server.local!.start();
      await eventually(
        async () => (await ask(base, "/readyz"))?.status === 200,
        () => `${script.name} ready again after the server's return: ${proc.err.text}`,
        20_000,
      );
      proc.kill("SIGTERM");
      assert.equal(await proc.exit(), 0, proc.err.text);
    },
  );
}

ownServerTest("subscriber.ts dropped for falling behind: /metrics counts the drop and the outage", async () => {
  await using server = await testServer({ own: true });
  await using redis = testClient(server.url);
  await redis.config("SET", "client-output-buffer-limit", "pubsub 64kb 32kb 1");
  const channel = `${server.prefix}news`;
  await using proc = new ScriptProcess("subscriber.ts", [
    ...["--url", server.url, "--quiet", channel, "--metrics-port", "0"],
  ]);
  const base = await metricsBase(proc);
  await eventually(async () => (await ask(base, "/readyz"))?.status === 200, () => `ready: ${proc.err.text}`);
  proc.kill("SIGSTOP"); // it stops reading, as a stalled pipe or Ctrl+Z would make it
  const stoppedAt = Date.now();
  try {
    await floodUntilDropped(redis, (p, n) => p.publish(channel, `flood ${n} ${"x".repeat(100)}`));
    await delay(2500 - (Date.now() - stoppedAt)); // the stall itself (its backlog watch sees it)
  } finally {
    proc.kill("SIGCONT");
  }
  await proc.err.waitFor(/Reconnected to /, 15_000);
  const text = await (await fetch(`${base}/metrics`)).text();
  assert.equal(sample(text, 'pubsub_lab_fell_behind_total{connection="subscriber"}'), 1, proc.err.text);
  assert.equal(sample(text, 'pubsub_lab_outages_total{connection="subscriber"}'), 1);
  assert.ok(sample(text, 'pubsub_lab_disconnected_seconds_total{connection="subscriber"}')! > 0);
  assert.ok(sample(text, `pubsub_lab_messages_received_total{channel="${channel}"}`)! > 0);
  proc.kill("SIGTERM");
  assert.equal(await proc.exit(), 0, proc.err.text);
});
