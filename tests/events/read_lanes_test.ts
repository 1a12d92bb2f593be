import assert from "node:assert/strict";
import { nullWriter, Reporter } from "../../lib/core/output.ts";
import { endpointFor } from "../../lib/endpoint/mod.ts";
import { ReadLanes } from "../../lib/events/read_lanes.ts";
import { linkAppendSender } from "../../lib/streams/append.ts";
import { testServer } from "../harness.ts";

Deno.test("ReadLanes on one server: one lane reads every stream on the reader link's own connection", async () => {
  await using server = await testServer();
  const reporter = new Reporter(nullWriter);
  const link = await endpointFor({ cluster: false, url: server.url }).link({ reporter });
  try {
    // Two streams of different slots: on one server they still go in one blocking read, never two in a row.
    const lanes = await ReadLanes.open(link, ["key_submission", "profile_events"], reporter);
    try {
      assert.equal(lanes.lanes.length, 1);
      assert.deepEqual(lanes.lanes[0]!.streams, ["key_submission", "profile_events"]);
      assert.equal(lanes.lanes[0]!.reader, link.redis, "the link's own connection reads");
      assert.deepEqual(lanes.nodes, {}, "one server's output names no node");
      assert.equal(lanes.spread, false);
    } finally {
      await lanes.close();
    }
    assert.equal(link.ready, true, "closing the lanes leaves the link open");
  } finally {
    await link.close();
  }
});

Deno.test("linkAppendSender() on one server appends a batch across streams in one pipeline, in order", async () => {
  await using server = await testServer();
  const link = await endpointFor({ cluster: false, url: server.url }).link({ reporter: new Reporter(nullWriter) });
  const prefix = `lanes-${crypto.randomUUID()}`;
  try {
    const messages = [{ channel: `${prefix}:a`, payload: "1" }, { channel: `${prefix}:b`, payload: "2" }];
    const deliveries = await linkAppendSender(link)(link.redis, messages);
    assert.equal(deliveries.length, 2);
    assert.ok(deliveries.every((d) => /^\d+-\d+$/.test(d.entryId!)), JSON.stringify(deliveries));
    assert.equal(await link.redis.xlen(`${prefix}:a`), 1);
    assert.equal(await link.redis.xlen(`${prefix}:b`), 1);
  } finally {
    await link.redis.del(`${prefix}:a`, `${prefix}:b`);
    await link.close();
  }
});
