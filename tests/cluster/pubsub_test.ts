import assert from "node:assert/strict";
import { main as publisher } from "../../scripts/publisher.ts";
import { main as subscriber } from "../../scripts/subscriber.ts";
import { main as demo } from "../../scripts/demo.ts";
import { ExitCode } from "../../lib/core/exit_codes.ts";
import { slotOf } from "../../lib/cluster/topology.ts";
import { ClusterConnection } from "../../lib/cluster/cluster_connection.ts";
import { spublishBatch } from "../../lib/pubsub/sharded.ts";
import { nullWriter, Reporter } from "../../lib/core/output.ts";
import type { LocalCluster } from "../../lib/cluster/local_cluster.ts";
import { captureIo, clusterSuite, runMain } from "../harness.ts";

/** One channel name per master of `local`, each served by another one: `${prefix}s0`, `${prefix}s1`… picked by slot. */
function channelPerMaster(local: LocalCluster, prefix: string): Map<string, string> {
  const byNode = new Map<string, string>();
  for (let i = 0; byNode.size < local.masters.length && i < 10_000; i++) {
    const name = `${prefix}s${i}`;
    const node = `127.0.0.1:${local.nodeOwning(slotOf(name)).port}`;
    if (!byNode.has(node)) byNode.set(node, name);
  }
  assert.equal(byNode.size, local.masters.length);
  return byNode;
}

/** The NDJSON events of a script's stdout. */
function events(text: string): Record<string, unknown>[] {
  return text.trim().split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l));
}

clusterSuite("pub/sub on a cluster of 3 masters", async (t, local) => {
  const seed = ["--cluster", "--url", local.seedUrl];

  await t.step("sharded channels spread over all 3 masters: every message arrives once, from its master", async (p) => {
    const channels = channelPerMaster(local, p);
    const per = 200;
    const args = [...seed, "--json", "--count", String(per * channels.size)];
    await using sub = runMain(subscriber, [...args, ...[...channels.values()].flatMap((c) => ["-s", c])]);
    for (const c of channels.values()) await sub.io.out.waitFor(new RegExp(`"event":"ssubscribe".*"channel":"${c}"`));
    const confirmed = events(sub.io.out.text).filter((e) => e.event === "ssubscribe");
    for (const [node, c] of channels) {
      assert.ok(confirmed.some((e) => e.channel === c && e.node === node && e.slot === slotOf(c)), c);
    }
    for (const c of channels.values()) {
      const pub = captureIo();
      const code = await publisher(
        [...seed, "--sharded", c, "m {{n}}", "--repeat", String(per), "--quiet", "--json"],
        pub,
      );
      assert.equal(code, ExitCode.Ok, pub.err.text);
      assert.equal(events(pub.out.text).at(-1)!.deliveries, per);
    }
    assert.equal(await sub.exit, ExitCode.Ok, sub.io.err.text);
    const got = events(sub.io.out.text).filter((e) => e.event === "smessage");
    assert.equal(got.length, per * channels.size);
    for (const [node, c] of channels) {
      const mine = got.filter((e) => e.channel === c);
      assert.equal(new Set(mine.map((e) => e.payload)).size, per, `${c}: each message once`);
      assert.ok(mine.every((e) => e.node === node), `${c} came from ${node}`);
    }
    const summary = events(sub.io.out.text).at(-1)!;
    assert.equal(summary.event, "summary");
    assert.deepEqual(summary.nodes, Object.fromEntries([...channels.keys()].map((n) => [n, per])));
  });

  await t.step("plain channels and patterns on a cluster: one subscription, each message once", async (p) => {
    const n = 50;
    await using sub = runMain(subscriber, [...seed, `${p}plain`, "-p", `${p}al:*`, "--count", String(2 * n), "--json"]);
    await sub.io.out.waitFor(/"event":"psubscribe"/);
    // PUBLISH through every master: the cluster passes each on to every node, the subscriber hears it once.
    for (const m of local.masters) {
      const url = ["--cluster", "--url", m.url];
      const pub = captureIo();
      assert.equal(await publisher([...url, `${p}plain`, `x{{n}}-${m.port}`, "--repeat", String(n / 2)], pub), 0);
      assert.match(pub.out.text, /on the nodes that took them/);
      assert.equal(await publisher([...url, `${p}al:cpu`, `y{{n}}-${m.port}`, "--repeat", "1"], captureIo()), 0);
      if (m === local.masters[1]) break;
    }
    const pub = captureIo();
    assert.equal(await publisher([...seed, `${p}al:disk`, `z{{n}}`, "--repeat", String(n - 2)], pub), 0);
    assert.equal(await sub.exit, ExitCode.Ok, sub.io.err.text);
    const got = events(sub.io.out.text).filter((e) => e.event === "message" || e.event === "pmessage");
    assert.equal(new Set(got.map((e) => e.payload)).size, 2 * n, "no duplicates");
    assert.equal(got.filter((e) => e.event === "pmessage").length, n);
    assert.ok(got.every((e) => e.node === undefined), "plain messages name no node");
  });

  await t.step(
    "a SPUBLISH batch over channels of 3 masters goes out as one pipeline per master, in order",
    async (p) => {
      const channels = [...channelPerMaster(local, p)];
      const conn = await ClusterConnection.open({ urls: [local.seedUrl], reporter: new Reporter(nullWriter) });
      try {
        const messages = Array.from({ length: 30 }, (_, i) => ({ channel: channels[i % 3]![1], payload: `m${i}` }));
        const deliveries = await spublishBatch(conn.cluster, messages, (c) => conn.owners[slotOf(c)]!);
        assert.equal(deliveries.length, 30);
        deliveries.forEach((d, i) => assert.deepEqual(d, { receivers: 0, node: channels[i % 3]![0] }));
      } finally {
        await conn.close();
      }
    },
  );

  await t.step("publisher --cluster --sharded --stdin and text output name the master", async (p) => {
    const [node, channel] = [...channelPerMaster(local, p)][0]!;
    const pub = captureIo("a\nb\n");
    assert.equal(await publisher([...seed, "--sharded", channel!, "--stdin"], pub), ExitCode.Ok);
    assert.match(pub.out.text, new RegExp(`→ ${channel}: a  \\(received by 0 subscribers on ${node}\\)`));
    assert.match(pub.err.text, /Nobody is subscribed/);
  });

  await t.step(
    "demo.ts --cluster plays lab 1 across the cluster; with --local (no seed) it says what to run",
    async () => {
      const io = captureIo();
      assert.equal(
        await demo(["--cluster", "--url", local.seedUrl, "--interval", "20ms"], io),
        ExitCode.Ok,
        io.err.text,
      );
      assert.match(io.out.text, /subscriber.*│/);
      const bare = captureIo();
      assert.equal(await demo(["--cluster", "--local"], bare), ExitCode.Usage);
      assert.match(bare.err.text, /deno task cluster/);
    },
  );
});
