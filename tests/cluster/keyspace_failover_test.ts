import assert from "node:assert/strict";
import { main as listener } from "../../scripts/keyspace_listener.ts";
import { ExitCode } from "../../lib/core/exit_codes.ts";
import { slotOf } from "../../lib/cluster/topology.ts";
import { clusterSuite, eventually, runMain, withClient } from "../harness.ts";

clusterSuite("keyspace_listener --cluster through a failover", async (t, local) => {
  await t.step(
    "a master killed with SIGKILL: the listener says what was missed, subscribes on the promoted replica and hears " +
      "the keys of those slots again",
    async (prefix) => {
      const key = `${prefix}k`;
      const dead = local.nodeOwning(slotOf(key));
      const [replica] = local.replicasOf(dead);
      const deadAddress = `127.0.0.1:${dead.port}`;
      const promotedAddress = `127.0.0.1:${replica!.port}`;
      await using l = runMain(listener, [
        "--url",
        local.seedUrl,
        "--cluster",
        "--key",
        `${prefix}*`,
        "--event",
        "set",
        "--no-handshake",
        "--json",
      ], 90_000);
      const { io } = l;
      await io.err.waitFor(/Listening on cluster /);
      await withClient(dead.url, async (redis) => {
        await redis.set(key, "before");
        assert.equal(await redis.wait(1, 5000), 1);
      });
      await io.out.waitFor(new RegExp(`"node":"${deadAddress}"`));
      await local.kill(dead);
      const promoted = await local.waitFailover(dead, 30_000);
      assert.equal(promoted.id, replica!.id);
      await io.err.waitFor(new RegExp(`Listening on ${promotedAddress} too now`), 20_000);
      const dropped = await io.err.waitFor(new RegExp(`No longer listening on ${deadAddress}: [^\\n]*`), 20_000);
      assert.match(dropped[0], new RegExp(`are on ${promotedAddress} now`));
      assert.match(dropped[0], /when it was lost, until now \(\d+\.\d s\) were missed/);
      // Written on the promoted replica: heard from there (bounded: a write may come before the subscription is seen).
      let n = 0;
      await eventually(
        async () => {
          await withClient(promoted.url, (redis) => redis.set(key, `after ${n++}`));
          return io.out.text.includes(`"node":"${promotedAddress}"`);
        },
        "an event from the promoted replica",
        10_000,
      );
      io.stop();
      assert.equal(await l.exit, ExitCode.Ok, io.err.text);
      const lines = io.out.text.split("\n").filter((s) => s.startsWith("{")).map((s) => JSON.parse(s));
      const changes = lines.filter((e) => e.event === "cluster_node");
      const drop = changes.find((e) => e.change === "dropped");
      assert.equal(drop?.node, deadAddress);
      assert.equal(typeof drop?.missed_seconds, "number");
      assert.ok(changes.some((e) => e.change === "subscribed" && e.node === promotedAddress));
      const summary = lines.find((e) => e.event === "summary");
      assert.ok(Number(summary?.topology_changes) >= 1);
      await withClient(promoted.url, (redis) => redis.del(key));
    },
  );
}, { masters: 3, replicas: 1, nodeTimeoutMs: 1000 });
