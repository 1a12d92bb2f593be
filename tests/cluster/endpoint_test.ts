import assert from "node:assert/strict";
import { UsageError } from "../../lib/core/exit_codes.ts";
import { nullWriter, Reporter } from "../../lib/core/output.ts";
import { slotOf } from "../../lib/cluster/topology.ts";
import { endpointFor } from "../../lib/endpoint/endpoint.ts";
import type { LinkedNode } from "../../lib/endpoint/node_set.ts";
import { clusterSuite } from "../harness.ts";

const reporter = new Reporter(nullWriter);

clusterSuite("cluster Endpoint and Link", async (t, local) => {
  const endpoint = endpointFor({ cluster: true, urls: [local.seedUrl] });

  await t.step("database() is 0 only; writesTo() is refused", () => {
    assert.equal(endpoint.database(), 0);
    assert.equal(endpoint.database(0), 0);
    assert.throws(() => endpoint.database(1), UsageError);
    assert.throws(() => endpoint.writesTo("redis://127.0.0.1:1", "--write-url", "the handshake"), UsageError);
  });

  await t.step(
    "link.nodes(): a connection of its own to each master, named, with its slots and a hash tag",
    async (p) => {
      const link = await endpoint.link({ reporter });
      try {
        assert.equal(link.via, "through the cluster");
        const seen: LinkedNode[] = [];
        const nodes = await link.nodes({
          open: (node) => {
            seen.push(node);
            return Promise.resolve({ close: () => Promise.resolve() });
          },
        }, { reporter });
        assert.deepEqual(seen.map((n) => n.label).sort(), local.masters.map((m) => `127.0.0.1:${m.port}`).sort());
        for (const node of seen) {
          const port = (await node.redis.info("server")).match(/tcp_port:(\d+)/)?.[1];
          assert.equal(`127.0.0.1:${port}`, node.id, "its connection is to that master");
          assert.equal(link.nodeOf(`${node.keyTag}${p}k`), node.id, "its hash tag puts a key on it");
          assert.ok(node.clusterNode && node.slots !== "");
        }
        await nodes.close();

        const key = `${p}handshake`;
        const held: string[] = [];
        const holding = await link.nodes({
          open: (node) => {
            held.push(node.id);
            return Promise.resolve({ close: () => Promise.resolve() });
          },
        }, { reporter, holding: key });
        assert.deepEqual(held, [`127.0.0.1:${local.nodeOwning(slotOf(key)).port}`]);
        await holding.close();
      } finally {
        await link.close();
      }
    },
  );

  await t.step("combinable() by slot; getMany() across slots", async (p) => {
    const link = await endpoint.link({ reporter });
    try {
      let other = 0;
      while (slotOf(`${p}${other}`) === slotOf(`${p}a`)) other++;
      assert.ok(link.combinable([`{${p}}a`, `{${p}}b`]));
      assert.ok(!link.combinable([`${p}a`, `${p}${other}`]));
      await link.redis.set(`${p}a`, "1");
      await link.redis.set(`${p}${other}`, "2");
      assert.deepEqual(await link.getMany([`${p}a`, `${p}${other}`, `${p}none`]), ["1", "2", null]);
      await link.redis.del(`${p}a`);
      await link.redis.del(`${p}${other}`);
    } finally {
      await link.close();
    }
  });
});
