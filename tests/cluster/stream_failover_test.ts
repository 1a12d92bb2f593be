import assert from "node:assert/strict";
import { main as publisher } from "../../scripts/publisher.ts";
import { ExitCode } from "../../lib/core/exit_codes.ts";
import { slotOf } from "../../lib/cluster/topology.ts";
import { PAYLOAD_FIELD, toEntries } from "../../lib/streams/entry.ts";
import { clusterSuite, runMain, withClient } from "../harness.ts";

clusterSuite("stream appends through a failover", async (t, local) => {
  await t.step(
    "kill -9 of the stream's master during publisher --stream --retry: every event appended once, none skipped",
    async (p) => {
      const stream = `${p}ticks`;
      const dead = local.nodeOwning(slotOf(stream));
      const seed = local.masters.find((m) => m !== dead)!.url;
      const count = 400; // 8 s at 50/s: the failover (about 2–5 s) falls inside
      const args = ["--cluster", "--url", seed, "--stream", stream, "{{n}}", "--repeat", String(count)];
      await using pub = runMain(publisher, [...args, "--rate", "50", "--retry", "30s", "--json"], 90_000);
      await pub.io.out.waitFor(/"n":20,/, 20_000);
      await local.kill(dead);
      const heir = await local.waitFailover(dead);
      assert.equal(await pub.exit, ExitCode.Ok, pub.io.err.text);
      const summary = JSON.parse(pub.io.out.text.trim().split("\n").at(-1)!);
      assert.equal(summary.event, "summary");
      assert.deepEqual([summary.appended, summary.skipped], [count, 0], JSON.stringify(summary));
      const entries = await withClient(heir.url, async (redis) => toEntries(await redis.xrange(stream, "-", "+")));
      assert.deepEqual(
        entries.map((e) => e.fields![PAYLOAD_FIELD]),
        Array.from({ length: count }, (_, i) => `${i + 1}`),
      );
    },
  );
}, { replicas: 1, nodeTimeoutMs: 1000 });
