import assert from "node:assert/strict";
import { main as listener } from "../../scripts/keyspace_listener.ts";
import { main as writer } from "../../scripts/keyspace_writer.ts";
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

  await t.step(
    "the master of the handshake key killed: the writer watches it on the promoted replica and handshakes go on",
    async (prefix) => {
      const withReplica = (slot: number) => local.replicasOf(local.nodeOwning(slot)).length > 0;
      let i = 0;
      while (!withReplica(slotOf(`${prefix}hs${i}`)) && i < 1000) i++;
      const handshake = `${prefix}hs${i}`;
      const dead = local.nodeOwning(slotOf(handshake));
      let j = 0;
      while (local.nodeOwning(slotOf(`${prefix}k${j}`)).id === dead.id && j < 1000) j++;
      const key = `${prefix}k${j}`;
      const [replica] = local.replicasOf(dead);
      const keyArgs = ["--url", local.seedUrl, "--cluster", "--key", key, "--handshake-key", handshake];
      await using l = runMain(listener, keyArgs, 90_000);
      await l.io.err.waitFor(/Listening on cluster /);
      await using w = runMain(writer, [...keyArgs, "--count", "1000", "--interval", "50ms", "--timeout", "1s"], 90_000);
      await w.io.out.waitFor(/#3 .*→ handshake/);
      await local.kill(dead);
      await local.waitFailover(dead, 30_000);
      await w.io.err.waitFor(
        new RegExp(`Watching ${handshake} on 127\\.0\\.0\\.1:${replica!.port} now`),
        20_000,
      );
      const after = w.io.out.text.length;
      await eventually(() => /→ handshake in/.test(w.io.out.text.slice(after)), "a handshake after the move", 15_000);
      w.io.stop();
      l.io.stop();
      assert.equal(await w.exit, ExitCode.Ok, w.io.err.text);
      assert.equal(await l.exit, ExitCode.Ok, l.io.err.text);
      assert.match(w.io.out.text, /\d+ handshake\(s\) in \d+ round\(s\)/);
      await withClient(local.nodeOwning(slotOf(key)).url, (redis) => redis.del(key));
      await withClient(local.nodeOwning(slotOf(handshake)).url, (redis) => redis.del(handshake));
    },
  );
}, { masters: 3, replicas: 1, nodeTimeoutMs: 1000 });
