/**
 * scripts/bench.ts --cluster on a local cluster of 3 masters: a run of a
 * known size counts exactly in every mode (nothing lost, duplicated or
 * reordered), its channels spread over the masters and it says which; a
 * cluster with a node that is not on loopback is refused before any traffic.
 *
 * @module
 */
import assert from "node:assert/strict";
import { main } from "../../scripts/bench.ts";
import { ExitCode } from "../../lib/core/exit_codes.ts";
import { captureIo, clusterSuite, eventually, withClient } from "../harness.ts";
import { bench } from "../bench_cli/run_bench.ts";

interface ClusterSummary {
  masters: string[];
  channels: Record<string, string>;
  publisher_nodes: string[][];
  subscriber_nodes: string[][];
}

/** The `host:port` in a CLUSTER NODES line for the node `id`. */
function addressOf(nodes: string, id: string): string | undefined {
  return nodes.split("\n").find((l) => l.startsWith(`${id} `))?.split(" ")[1]?.split("@")[0];
}

clusterSuite("bench.ts --cluster on 3 masters", async (t, local) => {
  const masters = local.masters.map((m) => `127.0.0.1:${m.port}`);
  for (const mode of ["sharded", "pubsub", "pattern", "stream"]) {
    await t.step(
      `--mode ${mode}: a known number of messages, 0 lost, 0 duplicated, channels on every master`,
      async () => {
        const args = [
          "--cluster",
          "--url",
          local.seedUrl,
          "--mode",
          mode,
          "--pub",
          "2",
          "--sub",
          "2",
          "--channels",
          "3",
        ];
        const { code, summary, err } = await bench([...args, "--msgs", "3001", "--size", "100"]);
        assert.equal(code, ExitCode.Ok, err);
        assert.equal(summary.published, 3001);
        assert.equal(summary.delivered, 6002);
        assert.equal(summary.lost, 0);
        assert.equal(summary.duplicates, 0);
        assert.equal(summary.reordered, 0);
        const cluster = summary.cluster as ClusterSummary;
        assert.deepEqual([...cluster.masters].sort(), [...masters].sort());
        const names = Object.keys(cluster.channels);
        assert.equal(names.length, 3);
        assert.deepEqual(new Set(Object.values(cluster.channels)), new Set(masters), "one channel on each master");
        for (const name of names) {
          const slot = await withClient(local.seedUrl, async (r) => Number(await r.cluster("KEYSLOT", name)));
          assert.equal(`127.0.0.1:${local.nodeOwning(slot).port}`, cluster.channels[name]);
        }
        const perShard = mode === "sharded" || mode === "stream";
        for (const nodes of [...cluster.subscriber_nodes, ...cluster.publisher_nodes]) {
          assert.equal(nodes.length, perShard ? 3 : 1);
        }
        if (mode === "stream") {
          for (const name of names) {
            const slot = await withClient(local.seedUrl, async (r) => Number(await r.cluster("KEYSLOT", name)));
            await withClient(local.nodeOwning(slot).url, async (r) => assert.equal(await r.exists(name), 0));
          }
        }
      },
    );
  }

  await t.step("the text report names the node of each channel", async () => {
    const io = captureIo();
    const code = await main([
      "--cluster",
      "--url",
      local.seedUrl,
      "--mode",
      "sharded",
      "--channels",
      "3",
      "--msgs",
      "300",
    ], io);
    assert.equal(code, ExitCode.Ok, io.err.text);
    for (const node of masters) assert.match(io.out.text, new RegExp(`${node.replaceAll(".", "\\.")}: bench:`));
  });

  await t.step("a cluster with a node that is not on loopback is refused (exit 2), nothing sent", async () => {
    const seed = local.masters[0]!;
    const remote = "192.0.2.1"; // TEST-NET-1: never routed
    await withClient(seed.url, async (r) => {
      await r.config("SET", "cluster-announce-ip", remote);
      try {
        await eventually(
          async () => addressOf(String(await r.cluster("NODES")), seed.id)?.startsWith(remote) ?? false,
          "the announced address",
        );
        const { code, summary, err } = await bench(["--cluster", "--url", seed.url, "--msgs", "100"]);
        assert.equal(code, ExitCode.Usage);
        assert.deepEqual(summary, {});
        assert.match(err, new RegExp(`${remote.replaceAll(".", "\\.")}:${seed.port}`));
        assert.match(err, /--allow-remote/);
      } finally {
        await r.config("SET", "cluster-announce-ip", "");
      }
      for (const node of local.masters) {
        await withClient(
          node.url,
          async (n) =>
            await eventually(
              async () => addressOf(String(await n.cluster("NODES")), seed.id)?.startsWith("127.0.0.1:") ?? false,
              `${node.port} sees the seed on 127.0.0.1 again`,
            ),
        );
      }
    });
  });
});
