import assert from "node:assert/strict";
import { main as check } from "../../scripts/check.ts";
import { main as deadLetters } from "../../scripts/dead_letters.ts";
import { ExitCode } from "../../lib/core/exit_codes.ts";
import { slotOf } from "../../lib/cluster/topology.ts";
import { redriveLedger } from "../../lib/streams/dead_letters.ts";
import { captureIo, clusterSuite, eventually, testClient } from "../harness.ts";

/** Runs check.ts to its end: its exit code, its lines, and stderr. */
async function run(...args: string[]) {
  const io = captureIo();
  const code = await check(args, io);
  return { code, lines: io.out.text.trim().split("\n").filter((l) => l !== ""), err: io.err.text };
}

/** check.ts --json: its exit code and its check objects by name. */
async function runJson(...args: string[]) {
  const { code, lines } = await run(...args, "--json");
  const objects = lines.map((l) => JSON.parse(l));
  return { code, checks: Object.fromEntries(objects.filter((o) => o.event === "check").map((o) => [o.name, o])) };
}

clusterSuite(
  "check.ts and dead_letters.ts on a cluster: state, replicas, subscribers over the masters, a group, a redrive",
  async (t, cluster) => {
    const url = cluster.seedUrl;
    await t.step("every master has a replica: OK", async () => {
      const r = await runJson("--cluster", "--url", url, "--cluster-state");
      assert.equal(r.code, 0, JSON.stringify(r.checks));
      assert.match(r.checks["cluster state"].detail, /^ok \(16384 of 16384 slots assigned/);
      assert.equal(r.checks["cluster masters without a replica"].value, 0);
    });
    await t.step("a channel's subscribers counted over the masters", async (prefix) => {
      const channel = `${prefix}news`;
      await using sub = testClient(cluster.masters.at(-1)!.url);
      await sub.subscribe(channel);
      const r = await runJson("--cluster", "--url", url, "--channel", channel);
      assert.equal(r.checks[`${channel} subscribers`].value, 1, JSON.stringify(r.checks));
      assert.match(r.checks[`${channel} subscribers`].detail, /on 2 masters/);
    });
    await t.step("a consumer group on a cluster", async (prefix) => {
      const stream = `${prefix}orders`;
      await using redis = testClient(
        cluster.nodeOwning((await import("../../lib/cluster/topology.ts")).slotOf(stream)).url,
      );
      await redis.xgroup("CREATE", stream, "g", "$", "MKSTREAM");
      await redis.xadd(stream, "*", "payload", "x");
      const r = await runJson("--cluster", "--url", url, "--stream", stream, "--group", "g");
      assert.equal(r.checks[`${stream}/g lag`].value, 1, JSON.stringify(r.checks));
      await redis.del(stream);
    });
    await t.step("dead_letters.ts redrives on a cluster, once: the ledger shares the stream's slot", async (prefix) => {
      const stream = `${prefix}orders`;
      await using dead = testClient(cluster.nodeOwning(slotOf(`${stream}:dead`)).url);
      await using home = testClient(cluster.nodeOwning(slotOf(stream)).url);
      const deadId = await dead.xadd(
        `${stream}:dead`,
        "*",
        "payload",
        '{"n":1}',
        "reason",
        "boom",
        "original_id",
        "1-1",
      );
      for (let i = 0; i < 2; i++) {
        const io = captureIo();
        const code = await deadLetters(["redrive", stream, deadId!, "--cluster", "--url", url], io);
        assert.equal(code, ExitCode.Ok, io.err.text);
        assert.match(io.out.text, i === 0 ? /1 redriven to / : /redriven before \(not appended again\)/);
      }
      assert.equal(await home.xlen(stream), 1);
      assert.equal(await home.hexists(redriveLedger(stream), `dead:${deadId}`), 1);
      assert.equal(await dead.xlen(`${stream}:dead`), 0);
      await home.del(stream, redriveLedger(stream));
    });
    await t.step("a replica gone: its master is without one (WARNING)", async () => {
      const replica = cluster.replicas[0]!;
      await replica.server[Symbol.asyncDispose]();
      // The run that saw it is the one read: CLUSTER NODES goes to any node, and until the failure report has spread
      // another may not take the replica for failed yet (a run after one that warned said "OK … 0 of 2" once).
      let r: Awaited<ReturnType<typeof run>> | undefined;
      await eventually(
        async () => (r = await run("--cluster", "--url", url, "--cluster-state")).code === 1,
        "the cluster to take the replica for failed",
        20_000,
      );
      assert.match(r!.lines[1]!, /^WARNING: cluster masters without a replica 1 of 2: 127\.0\.0\.1:\d+ \(warn > 0\)/);
    });
  },
  { masters: 2, replicas: 1, nodeTimeoutMs: 1000 },
);
