import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { onMessage, type PubSubMessage, subscribeAll } from "../../lib/pubsub/subscribe.ts";
import { withTimeout } from "../../lib/core/timing.ts";
import { testClient, testServer } from "../harness.ts";

Deno.test("onMessage() gives channel and pattern as text (UTF-8 included) and the payload byte for byte", async () => {
  await using server = await testServer();
  await using sub = testClient(server.url);
  await using pub = testClient(server.url);
  const got: PubSubMessage[] = [];
  const both = Promise.withResolvers<void>();
  const stop = onMessage(sub, (m) => got.push(m) === 2 && both.resolve());
  await subscribeAll(sub, [{ kind: "channel", name: "t1:café" }, { kind: "pattern", name: "t1:ü*" }], () => {});
  const bytes = [0xff, 0x00, 0xc3, 0xa9];
  await pub.publish("t1:café", Buffer.from(bytes));
  await pub.publish("t1:über", "hi");
  await withTimeout(both.promise, 5000, () => new Error(`${got.length} of 2 messages arrived`));
  stop();
  assert.deepEqual(got.map((m) => [m.pattern, m.channel]), [[undefined, "t1:café"], ["t1:ü*", "t1:über"]]);
  assert.deepEqual([...got[0]!.payload], bytes);
  assert.equal(new TextDecoder().decode(got[1]!.payload), "hi");
});
