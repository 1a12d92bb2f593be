import assert from "node:assert/strict";
import { main as cluster } from "../../scripts/cluster.ts";
import type { SlotRange } from "../../lib/cluster/local_cluster.ts";
import { CLUSTER_SLOTS } from "../../lib/cluster/topology.ts";
import { ExitCode } from "../../lib/core/exit_codes.ts";
import { answersPing, askServer } from "../../lib/core/local_server.ts";
import {
  captureIo,
  clusterSuite,
  clusterTest,
  consecutiveFreePorts,
  nothingLeft,
  ScriptProcess,
  testClient,
  withClient,
} from "../harness.ts";

/** The slots covered by `ranges`, each once: throws on an overlap. */
function covered(ranges: readonly SlotRange[]): number {
  const seen = new Set<number>();
  for (const [first, last] of ranges) {
    for (let slot = first; slot <= last; slot++) {
      assert.ok(!seen.has(slot), `slot ${slot} is served twice`);
      seen.add(slot);
    }
  }
  return seen.size;
}

/** The slot of `key`, as the node says. */
function keySlot(url: string, key: string): Promise<number> {
  return withClient(url, async (redis) => Number(await redis.cluster("KEYSLOT", key)));
}

clusterSuite("a local cluster of 3 masters", async (t, local) => {
  await t.step("forms with all 16384 slots covered once by 3 masters, and every node agrees", async () => {
    assert.equal(local.masters.length, 3);
    assert.equal(local.replicas.length, 0);
    assert.equal(covered(local.masters.flatMap((m) => m.slots)), CLUSTER_SLOTS);
    for (const node of local.nodes) {
      await withClient(node.url, async (redis) => {
        const info = String(await redis.cluster("INFO"));
        assert.match(info, /^cluster_state:ok\r?$/m);
        assert.match(info, new RegExp(`^cluster_slots_assigned:${CLUSTER_SLOTS}\\r?$`, "m"));
        assert.match(info, /^cluster_known_nodes:3\r?$/m);
        assert.equal(String(await redis.cluster("MYID")), node.id);
      });
    }
    assert.deepEqual(local.urls, local.nodes.map((n) => n.url));
    assert.ok(local.urls.includes(local.seedUrl));
  });

  await t.step("nodeOwning() names the node that takes a key; the others answer MOVED to it", async (prefix) => {
    const key = `${prefix}k`;
    const owner = local.nodeOwning(await keySlot(local.seedUrl, key));
    await withClient(owner.url, async (redis) => assert.equal(await redis.set(key, "v"), "OK"));
    for (const other of local.masters.filter((m) => m.id !== owner.id)) {
      await withClient(other.url, async (redis) => {
        await assert.rejects(redis.get(key), new RegExp(`^ReplyError: MOVED \\d+ 127\\.0\\.0\\.1:${owner.port}$`));
      });
    }
  });
});

clusterSuite("a local cluster of 3 masters with a replica each", async (t, local) => {
  await t.step("each master has one replica, attached", async () => {
    assert.equal(local.masters.length, 3);
    assert.equal(local.replicas.length, 3);
    for (const master of local.masters) {
      const replicas = local.replicasOf(master);
      assert.equal(replicas.length, 1);
      const info = String(await askServer(master.port, "INFO replication"));
      assert.match(info, /^connected_slaves:1\r?$/m);
      assert.match(info, new RegExp(`^slave0:ip=127\\.0\\.0\\.1,port=${replicas[0]!.port},state=online`, "m"));
    }
  });

  await t.step(
    "a master killed with SIGKILL is replaced by its replica, which has the master's data",
    async (prefix) => {
      const key = `${prefix}k`;
      const dead = local.nodeOwning(await keySlot(local.seedUrl, key));
      const [replica] = local.replicasOf(dead);
      const slots = dead.slots;
      await withClient(dead.url, async (redis) => {
        await redis.set(key, "before");
        assert.equal(await redis.wait(1, 5000), 1);
      });
      await local.kill(dead);
      assert.equal(await answersPing(dead.port), false);
      const promoted = await local.waitFailover(dead, 20_000);
      assert.equal(promoted.id, replica!.id);
      assert.equal(promoted.role, "master");
      assert.deepEqual(promoted.slots, slots);
      assert.equal(local.nodeOwning(slots[0]![0]).id, promoted.id);
      assert.equal(local.masters.length, 3);
      assert.ok(!local.urls.includes(dead.url));
      await withClient(promoted.url, async (redis) => assert.equal(await redis.get(key), "before"));
    },
  );
}, { masters: 3, replicas: 1, nodeTimeoutMs: 1000 });

Deno.test("cluster.ts --help exits 0; a bad flag exits 2", async () => {
  const help = captureIo();
  assert.equal(await cluster(["--help"], help), ExitCode.Ok);
  assert.match(help.out.text, /deno task cluster/);
  for (const bad of [["--bogus"], ["--replicas", "2"], ["--masters", "0"]]) {
    const io = captureIo();
    assert.equal(await cluster(bad, io), ExitCode.Usage, bad.join(" "));
  }
});

Deno.test("cluster.ts with SERVER=keydb exits 3 with one line naming what to install", async () => {
  await using p = new ScriptProcess("cluster.ts", [], { SERVER: "keydb" });
  assert.equal(await p.exit(), ExitCode.Connect);
  assert.match(p.err.text, /^error: .*valkey-server or redis-server.*apt-get install redis-server.*\n$/);
});

clusterTest("cluster.ts: a port in use exits 1 with one line saying which", async () => {
  const base = await consecutiveFreePorts(3);
  using _held = Deno.listen({ hostname: "127.0.0.1", port: base + 1 });
  const io = captureIo();
  assert.equal(await cluster(["--port", String(base)], io), ExitCode.Failure);
  assert.match(io.err.text, new RegExp(`^error: Port ${base + 1} on 127\\.0\\.0\\.1 is in use[^\\n]*\\n$`));
});

clusterTest(
  "deno task cluster prints the seed URL and the nodes; PING works on it; Ctrl+C stops it, exit 0, nothing left",
  async () => {
    const base = await consecutiveFreePorts(3);
    const ports = [base, base + 1, base + 2];
    const tmp = await Deno.makeTempDir({ prefix: "pubsub-lab-test-" });
    await using p = new ScriptProcess("cluster", ["--port", String(base)], { TMPDIR: tmp }, "null", "task");
    const [, seed] = await p.err.waitFor(/Seed URL: (redis:\/\/127\.0\.0\.1:\d+)\n/, 30_000);
    assert.equal(seed, `redis://127.0.0.1:${base}`);
    assert.match(p.err.text, /cluster of 3 master\(s\) is running, with keyspace notifications \(KEA\)/);
    await p.err.waitFor(/export REDIS_URL=redis:\/\/127\.0\.0\.1:\d+ REDIS_CLUSTER=1\n.*--cluster\n/);
    for (const port of ports) assert.match(p.err.text, new RegExp(`127\\.0\\.0\\.1:${port} +master +\\d+-\\d+\\n`));
    {
      await using redis = testClient(seed!);
      assert.equal(await redis.ping(), "PONG");
      assert.match(String(await redis.cluster("INFO")), /^cluster_state:ok\r?$/m);
    }
    p.kill("SIGINT");
    assert.equal(await p.exit(), ExitCode.Ok);
    assert.match(p.err.text, /The cluster stopped\./);
    await nothingLeft(ports, tmp);
  },
);
