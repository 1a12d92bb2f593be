import assert from "node:assert/strict";
import { nullWriter, Reporter } from "../../lib/core/output.ts";
import { endpointFor } from "../../lib/endpoint/endpoint.ts";
import type { LinkedNode } from "../../lib/endpoint/node_set.ts";
import { testServer, withClient } from "../harness.ts";

const reporter = new Reporter(nullWriter);

Deno.test("server Endpoint: database() is --db, else the URL's; writesTo() is that server's Endpoint", () => {
  const endpoint = endpointFor({ cluster: false, url: "redis://127.0.0.1:6390/3" });
  assert.equal(endpoint.database(), 3);
  assert.equal(endpoint.database(5), 5);
  assert.equal(
    endpoint.writesTo("redis://:pw@127.0.0.1:6391", "--write-url", "the handshake").address,
    "redis://:***@127.0.0.1:6391",
  );
});

Deno.test("server Link: its db, its own connection for its one node, MGET, every key combinable", async () => {
  await using server = await testServer();
  const p = server.prefix;
  const endpoint = endpointFor({ cluster: false, url: server.url });
  const link = await endpoint.link({ reporter, db: 2 });
  try {
    await link.redis.set(`${p}a`, "1");
    assert.equal(await withClient(`${server.url}/2`, (r) => r.get(`${p}a`)), "1", "the link SELECTs db 2");
    assert.deepEqual(await link.getMany([`${p}a`, `${p}b`]), ["1", null]);
    assert.deepEqual(await link.getMany([]), []);
    assert.ok(link.combinable([`${p}a`, `${p}b`]));
    assert.equal(link.via, `on ${endpoint.address}`);
    assert.equal(link.nodeOf(`${p}a`), undefined);
    const seen: LinkedNode[] = [];
    const nodes = await link.nodes({
      open: (node) => {
        seen.push(node);
        return Promise.resolve({ close: () => Promise.resolve() });
      },
    }, { reporter });
    const [node] = seen;
    assert.equal(seen.length, 1);
    assert.equal(node!.label, undefined);
    assert.equal(node!.slots, "all");
    assert.equal(node!.keyTag, "");
    assert.equal(node!.clusterNode, false);
    assert.equal(await node!.redis.client("ID"), await link.redis.client("ID"), "the node's connection is the link's");
    assert.ok(node!.ready);
    await node!.whenReady();
    assert.deepEqual(nodes.entries().map(([id]) => id), [node!.id]);
    await nodes.close();
    assert.equal(await link.redis.ping(), "PONG", "closing the set leaves the link open");
    await link.redis.del(`${p}a`);
  } finally {
    await link.close();
  }
});
