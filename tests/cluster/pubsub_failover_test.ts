import assert from "node:assert/strict";
import { main as publisher } from "../../scripts/publisher.ts";
import { main as subscriber } from "../../scripts/subscriber.ts";
import { ExitCode } from "../../lib/core/exit_codes.ts";
import { slotOf } from "../../lib/cluster/topology.ts";
import { clusterSuite, eventually, runMain } from "../harness.ts";

/** The NDJSON events of a script's stdout. */
function events(text: string): Record<string, unknown>[] {
  return text.trim().split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
}

clusterSuite("sharded pub/sub through a failover", async (t, local) => {
  await t.step(
    "kill -9 of the master of a sharded channel: subscriber and publisher follow it to the replica",
    async (p) => {
      const channel = `${p}orders`;
      const dead = local.nodeOwning(slotOf(channel));
      const seed = local.masters.find((m) => m !== dead)!.url;
      await using sub = runMain(subscriber, ["--cluster", "--url", seed, "-s", channel, "--json"], 90_000);
      await sub.io.out.waitFor(/"event":"ssubscribe"/);
      await using pub = runMain(
        publisher,
        [
          "--cluster",
          "--url",
          seed,
          "--sharded",
          channel,
          "m {{n}}",
          "--repeat",
          "100000",
          "--rate",
          "50",
          "--retry",
          "30s",
          "--quiet",
          "--json",
        ],
        90_000,
      );
      const smessages = () => events(sub.io.out.text).filter((e) => e.event === "smessage");
      await eventually(() => smessages().length >= 20, "messages before the failover");
      const killedAt = Date.now();
      await local.kill(dead);
      const heir = await local.waitFailover(dead);
      const heirKey = `127.0.0.1:${heir.port}`;
      await sub.io.err.waitFor(
        new RegExp(
          `Sharded channel "${channel}" \\(slot \\d+\\) moved from 127\\.0\\.0\\.1:${dead.port} to ${heirKey}`,
        ),
        30_000,
      );
      const movedAt = Date.now();
      const before = smessages().length;
      await eventually(
        () => smessages().slice(before).filter((e) => e.node === heirKey).length >= 20,
        "messages from the new master",
        30_000,
      );
      assert.match(sub.io.err.text, /were lost: pub\/sub keeps nothing/);
      const moved = events(sub.io.out.text).find((e) => e.event === "shard_moved");
      assert.deepEqual(
        { ...moved, time: undefined },
        {
          event: "shard_moved",
          time: undefined,
          channel,
          slot: slotOf(channel),
          from: `127.0.0.1:${dead.port}`,
          to: heirKey,
        },
      );
      pub.io.stop();
      assert.equal(await pub.exit, ExitCode.Ok, pub.io.err.text);
      const summary = events(pub.io.out.text).at(-1)!;
      assert.equal(summary.event, "summary");
      assert.ok(Number(summary.published) > 40);
      sub.io.stop();
      assert.equal(await sub.exit, ExitCode.Ok);
      const subSummary = events(sub.io.out.text).at(-1)!;
      assert.equal(subSummary.shard_moves, 1, sub.io.err.text);
      assert.ok(Number(subSummary.topology_changes) >= 1);
      // The master lost, from its loss until its replica took its slots over: not to the end of the run.
      assert.equal(subSummary.outages, 1, sub.io.err.text);
      const down = Number(subSummary.disconnected_seconds) * 1000;
      assert.ok(
        down > 0 && down <= movedAt - killedAt,
        `${down} ms lost, moved ${movedAt - killedAt} ms after the kill`,
      );
      assert.deepEqual([subSummary.fell_behind, subSummary.server_restarts], [0, 0]);
      const payloads = smessages().map((e) => e.payload);
      assert.equal(new Set(payloads).size, payloads.length, "no message twice");
    },
  );
}, { replicas: 1, nodeTimeoutMs: 1000 });
