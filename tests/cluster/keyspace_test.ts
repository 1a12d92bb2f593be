import assert from "node:assert/strict";
import { main as listener } from "../../scripts/keyspace_listener.ts";
import { main as writer } from "../../scripts/keyspace_writer.ts";
import { ExitCode } from "../../lib/core/exit_codes.ts";
import { slotOf } from "../../lib/cluster/topology.ts";
import type { LocalCluster } from "../../lib/cluster/local_cluster.ts";
import { clusterSuite, runMain, withClient } from "../harness.ts";

const LISTENING = /Listening on cluster /;

/** `host:port` of the master serving `key`. */
function ownerOf(local: LocalCluster, key: string): string {
  const node = local.nodeOwning(slotOf(key));
  return `127.0.0.1:${node.port}`;
}

/** Writes `key` on the master serving it. */
function setOnOwner(local: LocalCluster, key: string, value: string): Promise<unknown> {
  return withClient(local.nodeOwning(slotOf(key)).url, (redis) => redis.set(key, value));
}

/** Each master's notify-keyspace-events. */
function notifySettings(local: LocalCluster): Promise<string[]> {
  return Promise.all(
    local.masters.map((m) =>
      withClient(m.url, async (redis) => String(((await redis.config("GET", "notify-keyspace-events")) as string[])[1]))
    ),
  );
}

/** The JSON lines of a script's stdout. */
function jsonLines(text: string): Record<string, unknown>[] {
  return text.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
}

clusterSuite("keyspace_listener and keyspace_writer on a cluster of 3 masters", async (t, local) => {
  await t.step(
    "100 keys spread over every master: events from all three, each tagged with its node; notifications on every " +
      "master turned on and put back",
    async (prefix) => {
      assert.deepEqual(await notifySettings(local), ["", "", ""]);
      const keys = Array.from({ length: 100 }, (_, i) => `${prefix}k${i}`);
      await using l = runMain(listener, [
        "--url",
        local.seedUrl,
        "--cluster",
        "--key",
        `${prefix}*`,
        "--event",
        "set",
        "--no-handshake",
        "--restore-config",
        "--count",
        "100",
        "--json",
      ]);
      await l.io.err.waitFor(LISTENING);
      for (const setting of await notifySettings(local)) assert.match(setting, /E/);
      for (const key of keys) await setOnOwner(local, key, `v timestamp ${Date.now()}`);
      assert.equal(await l.exit, ExitCode.Ok, l.io.err.text);
      const lines = jsonLines(l.io.out.text);
      const notifications = lines.filter((e) => e.event === "notification");
      assert.equal(notifications.length, 100);
      for (const n of notifications) assert.equal(n.node, ownerOf(local, String(n.key)), `node of ${n.key}`);
      const nodes = new Set(notifications.map((n) => n.node));
      assert.equal(nodes.size, 3, `events came from ${[...nodes].join(", ")}`);
      const subscribed = lines.filter((e) => e.event === "cluster_node");
      assert.deepEqual(subscribed.map((e) => e.change), ["subscribed", "subscribed", "subscribed"]);
      assert.deepEqual(new Set(subscribed.map((e) => e.node)), nodes);
      const summary = lines.find((e) => e.event === "summary")!;
      assert.equal(summary.events, 100);
      assert.equal(summary.topology_changes, 0);
      for (const m of local.masters) {
        assert.match(l.io.err.text, new RegExp(`Enabled keyspace notifications on redis://127\\.0\\.0\\.1:${m.port}`));
        assert.match(
          l.io.err.text,
          new RegExp(`Put notify-keyspace-events back to "" on redis://127\\.0\\.0\\.1:${m.port}`),
        );
      }
      assert.deepEqual(await notifySettings(local), ["", "", ""]);
      await Promise.all(keys.map((k) => withClient(local.nodeOwning(slotOf(k)).url, (r) => r.del(k))));
    },
  );

  await t.step("the writer ↔ listener handshake with the two keys on different masters", async (prefix) => {
    const key = `${prefix}shared`;
    let i = 0;
    while (ownerOf(local, `${prefix}hs${i}`) === ownerOf(local, key) && i < 100) i++;
    const handshake = `${prefix}hs${i}`;
    assert.notEqual(ownerOf(local, handshake), ownerOf(local, key));
    const keyArgs = ["--key", key, "--handshake-key", handshake];
    await using l = runMain(listener, ["--url", local.seedUrl, "--cluster", ...keyArgs, "--count", "5"]);
    await l.io.err.waitFor(LISTENING);
    await using w = runMain(writer, [
      "--url",
      local.seedUrl,
      "--cluster",
      ...keyArgs,
      "--count",
      "5",
      "--interval",
      "0",
      "--json",
    ]);
    assert.equal(await w.exit, ExitCode.Ok, w.io.err.text);
    assert.equal(await l.exit, ExitCode.Ok, l.io.err.text);
    const rounds = jsonLines(w.io.out.text).filter((e) => e.event === "round");
    assert.deepEqual(rounds.map((r) => r.outcome), Array(5).fill("handshake"));
    assert.match(w.io.err.text, new RegExp(`waits up to 5 s for ${handshake} on ${ownerOf(local, handshake)}`));
    const from = l.io.out.text.match(new RegExp(`✓ ${handshake} · from (\\S+)`, "g")) ?? [];
    assert.equal(from.length, 5);
    for (const line of from) assert.ok(line.endsWith(ownerOf(local, key)), line);
    await setOnOwner(local, key, "x");
    await withClient(local.nodeOwning(slotOf(key)).url, (r) => r.del(key));
    await withClient(local.nodeOwning(slotOf(handshake)).url, (r) => r.del(handshake));
    for (const setting of await notifySettings(local)) assert.match(setting, /K/); // left on: no --restore-config
    await Promise.all(
      local.masters.map((m) => withClient(m.url, (r) => r.config("SET", "notify-keyspace-events", ""))),
    );
  });
}, { masters: 3, notifications: "" });
