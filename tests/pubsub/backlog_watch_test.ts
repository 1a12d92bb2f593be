/**
 * The backlog watch's worker (a thread with a connection of its own) runs while the script is behind and goes once it
 * has kept up: a service that met a flood returns to its footprint, and reads its backlog again at the next one.
 */
import assert from "node:assert/strict";
import { Reporter } from "../../lib/core/output.ts";
import { BacklogWatch } from "../../lib/pubsub/backlog_watch.ts";
import { DEFAULT_OUTPUT_LIMIT } from "../../lib/pubsub/output_limit.ts";
import { captureIo, eventually, ownServerTest, testClient, testServer, within } from "../harness.ts";

ownServerTest(
  "the backlog reader starts when messages pile up and goes once the script keeps up, each time",
  async () => {
    await using server = await testServer({ own: true }); // its connections counted, none of other tests'
    await using redis = testClient(server.url);
    /** Connections to the server besides the test's own. */
    const theirs = async () => String(await redis.call("CLIENT", "LIST")).trim().split("\n").length - 1;
    const before = await theirs();
    let pending = 0;
    /** The worker's next word: its connection ready, or let go. */
    let reader = Promise.withResolvers<string>();
    await using watch = new BacklogWatch({
      url: server.url,
      reporter: new Reporter(captureIo().stderr),
      limit: () => DEFAULT_OUTPUT_LIMIT,
      pending: () => pending,
      advice: "",
      releaseAfterMs: 300,
      onReader: (state) => reader.resolve(state),
    });
    watch.setClient(Number(await redis.client("ID")));
    for (const flood of [1, 2]) {
      pending = 5000;
      assert.equal(await within(reader.promise, `the reader, flood ${flood}`), "connected");
      reader = Promise.withResolvers<string>();
      assert.ok(watch.reading);
      assert.equal(await theirs(), before + 1, "the reader's connection");
      pending = 0;
      assert.equal(await within(reader.promise, `the reader gone, flood ${flood}`), "closed");
      reader = Promise.withResolvers<string>();
      assert.ok(!watch.reading);
      await eventually(async () => await theirs() === before, `its connection gone, flood ${flood}`);
    }
    assert.equal(watch.lastSample, undefined, "what it read went with it");
  },
);
