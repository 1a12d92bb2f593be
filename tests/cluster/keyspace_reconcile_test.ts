/**
 * keyspace_listener.ts --cluster --reconcile: after its subscriptions on
 * every master were cut off, the keys changed, added and deleted on all
 * three masters meanwhile are each reported once (SCAN per master, digests
 * per slot).
 */
import assert from "node:assert/strict";
import { endpointFor } from "../../lib/endpoint/endpoint.ts";
import { nullWriter, Reporter } from "../../lib/core/output.ts";
import { clusterSuite, ScriptProcess, withClient } from "../harness.ts";

clusterSuite("keyspace_listener.ts --reconcile on a cluster of 3 masters", async (t, local) => {
  await t.step("300 keys over three masters: 10 changed, 10 added, 10 deleted during an outage", async (prefix) => {
    const link = await endpointFor({ cluster: true, urls: [local.seedUrl] }).link({
      reporter: new Reporter(nullWriter),
    });
    const cluster = link.redis;
    try {
      for (let i = 0; i < 300; i++) await cluster.set(`${prefix}k${i}`, `v${i}`);
      await using listener = new ScriptProcess("keyspace_listener.ts", [
        "--url",
        local.seedUrl,
        "--cluster",
        "--key",
        `${prefix}*`,
        "--event",
        "all",
        "--no-handshake",
        "--reconcile",
        "--json",
      ]);
      await listener.err.waitFor(/Took note of 300 watched key/, 20_000);
      await listener.err.waitFor(/Listening on/);
      Deno.kill(listener.pid, "SIGSTOP");
      try {
        await Promise.all(
          local.masters.map((m) => withClient(m.url, (r) => r.call("CLIENT", "KILL", "TYPE", "pubsub"))),
        );
        for (let i = 0; i < 10; i++) {
          await cluster.set(`${prefix}k${i}`, "changed");
          await cluster.set(`${prefix}new${i}`, "added");
          await cluster.del(`${prefix}k${299 - i}`);
        }
      } finally {
        Deno.kill(listener.pid, "SIGCONT");
      }
      await listener.err.waitFor(/10 changed, 10 added, 10 deleted while events were not heard/, 20_000);
      listener.kill("SIGINT");
      assert.equal(await listener.exit(), 0, listener.err.text);
      const missed = listener.out.text.trim().split("\n").map((l) => JSON.parse(l)).filter((e) =>
        e.event === "missed_change"
      );
      assert.equal(missed.length, 30);
      assert.equal(new Set(missed.map((e) => e.key)).size, 30);
    } finally {
      await link.close();
    }
  });
}, { masters: 3, notifications: "KEA" });
