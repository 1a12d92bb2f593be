/**
 * keyspace_listener.ts --reconcile on 10,000 watched keys: the keys changed,
 * added and deleted while its subscription was cut off are each reported
 * once (`missed_change`), before the live events; the time and memory a
 * reconciliation of that many keys takes are measured (KeyReconciler alone).
 */
import assert from "node:assert/strict";
import { closeClient, ScriptProcess, testClient, testServer } from "../harness.ts";
import { KeyReconciler } from "../../lib/keyspace/reconcile.ts";

const KEYS = 10_000;

async function fill(redis: ReturnType<typeof testClient>, prefix: string): Promise<void> {
  for (let from = 0; from < KEYS; from += 1000) {
    const p = redis.pipeline();
    for (let i = from; i < from + 1000; i++) p.set(`${prefix}k${i}`, `v${i}`);
    await p.exec();
  }
}

Deno.test("keyspace_listener.ts --reconcile: 10,000 watched keys, each change of an outage reported once", async () => {
  await using server = await testServer({ notifications: "KA" });
  await using redis = testClient(server.url);
  const p = server.prefix;
  await fill(redis, p);
  await using listener = new ScriptProcess("keyspace_listener.ts", [
    "--url",
    server.url,
    "--key",
    `${p}*`,
    "--event",
    "all",
    "--no-handshake",
    "--no-config",
    "--reconcile",
    "--json",
  ]);
  await listener.err.waitFor(/Took note of 10,000 watched key/, 20_000);
  Deno.kill(listener.pid, "SIGSTOP");
  const expected = new Map<string, string>();
  try {
    await redis.call("CLIENT", "KILL", "TYPE", "pubsub");
    const w = redis.pipeline();
    for (let i = 0; i < 100; i++) {
      w.set(`${p}k${i}`, `changed ${i}`);
      expected.set(`${p}k${i}`, "changed");
      w.hset(`${p}new${i}`, "f", String(i));
      expected.set(`${p}new${i}`, "added");
      w.del(`${p}k${KEYS - 1 - i}`);
      expected.set(`${p}k${KEYS - 1 - i}`, "deleted");
    }
    w.set(`${p}k500`, "v500"); // written again with the same value: not a change
    await w.exec();
  } finally {
    Deno.kill(listener.pid, "SIGCONT");
  }
  const line = await listener.err.waitFor(/Reconciled ([\d,]+) watched key\(s\) in ([\d.]+) s: (.*)/, 20_000);
  assert.equal(line[3], "100 changed, 100 added, 100 deleted while events were not heard.");
  await redis.set(`${p}k7000`, "live");
  await listener.out.waitFor(new RegExp(`"key":"${p}k7000"`));
  listener.kill("SIGINT");
  assert.equal(await listener.exit(), 0, listener.err.text);
  const events = listener.out.text.trim().split("\n").map((l) => JSON.parse(l));
  const missed = events.filter((e) => e.event === "missed_change");
  assert.equal(missed.length, 300);
  assert.deepEqual(new Map(missed.map((e) => [e.key, e.change])), expected);
  const firstLive = events.findIndex((e) => e.event === "notification");
  assert.ok(events.findLastIndex((e) => e.event === "missed_change") < firstLive, "missed changes before live events");
  const summary = events.at(-1);
  assert.equal(summary.event, "summary");
  assert.deepEqual([summary.missed_changed, summary.missed_added, summary.missed_deleted], [100, 100, 100]);
  console.log(`  reconciled ${line[1]} keys in ${line[2]} s (listener subprocess)`);
});

Deno.test("KeyReconciler: time and memory of reconciling 10,000 keys", async () => {
  await using server = await testServer();
  const redis = testClient(server.url);
  try {
    await fill(redis, server.prefix);
    const r = new KeyReconciler([`${server.prefix}*`], 1_000_000);
    const nodes = [{ redis, perSlot: false }];
    const heapBefore = Deno.memoryUsage().heapUsed;
    const baseline = await r.reconcile(nodes, () => {});
    const heapAfter = Deno.memoryUsage().heapUsed;
    await redis.set(`${server.prefix}k1`, "changed");
    const found: string[] = [];
    const run = await r.reconcile(nodes, (c) => found.push(`${c.key} ${c.change}`));
    assert.deepEqual(found, [`${server.prefix}k1 changed`]);
    assert.equal(baseline.keys, 10_000);
    const stateBytes = r.save()!.length;
    console.log(
      `  10,000 keys: baseline ${baseline.ms} ms, reconcile ${run.ms} ms; heap +${
        Math.round((heapAfter - heapBefore) / 1024)
      } KiB (roughly), saved state ${Math.round(stateBytes / 1024)} KiB`,
    );
  } finally {
    await closeClient(redis);
  }
});
