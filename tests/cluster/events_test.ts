import assert from "node:assert/strict";
import { slotOf } from "../../lib/cluster/topology.ts";
import { TOPICS } from "../../lib/events/kinds.ts";
import { clusterSuite, ScriptProcess, withClient } from "../harness.ts";

/** The JSON events a script printed, by name. */
function jsonEvents(text: string, name: string): Record<string, unknown>[] {
  return text.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l)).filter((e) => e.event === name);
}

const PROCESSED_TOPICS: string[] = [TOPICS.keySubmission, TOPICS.profileEvents];

clusterSuite("events on a cluster of 3 masters", async (t, local) => {
  const seed = ["--cluster", "--url", local.seedUrl];
  const owner = (name: string) => local.nodeOwning(slotOf(name));

  await t.step("the lab's topics live on different masters", () => {
    assert.notEqual(owner(TOPICS.keySubmission).id, owner(TOPICS.profileEvents).id);
  });

  for (const sharded of [false, true]) {
    const how = sharded ? "sharded channels (SSUBSCRIBE/SPUBLISH)" : "plain channels";
    await t.step(`demo_events → event_processor on ${how}: each event processed once, results back`, async () => {
      const extra = sharded ? ["--sharded"] : [];
      await using p = new ScriptProcess("event_processor.ts", [...seed, ...extra, "--json", "--stats-interval", "0"]);
      await p.err.waitFor(/Press Ctrl\+C to stop/, 20_000);
      if (sharded) {
        // Each topic is subscribed on the master of its slot, and only there.
        for (const topic of PROCESSED_TOPICS) {
          const counts = await Promise.all(
            local.masters.map((m) =>
              withClient(m.url, async (r) => Number((await r.pubsub("SHARDNUMSUB", topic) as unknown[])[1]))
            ),
          );
          assert.deepEqual(counts, local.masters.map((m) => m.id === owner(topic).id ? 1 : 0), topic);
        }
      }
      await using demo = new ScriptProcess("demo_events.ts", [...seed, ...extra, "--json", "--timeout", "10s"]);
      assert.equal(await demo.exit(30_000), 0, demo.err.text);
      const published = jsonEvents(demo.out.text, "published");
      assert.equal(published.length, 3);
      assert.equal(jsonEvents(demo.out.text, "result").length, 2);
      assert.deepEqual(jsonEvents(demo.out.text, "summary")[0], {
        ...jsonEvents(demo.out.text, "summary")[0],
        expected: 2,
        received: 2,
      });
      p.kill("SIGINT");
      assert.equal(await p.exit(), 0, p.err.text);
      const processed = jsonEvents(p.out.text, "processed");
      const ids = processed.map((e) => e.id).sort();
      const mine = published.filter((e) => PROCESSED_TOPICS.includes(e.channel as string)).map((e) => e.id).sort();
      assert.deepEqual(ids, mine, "each of the demo's events processed exactly once");
      const summary = jsonEvents(p.out.text, "summary")[0]!;
      assert.equal(summary.processed, 2);
      assert.equal(summary.slot_map_changes, 0);
    });
  }

  await t.step("durable: 2,000 events on streams of two masters all processed and acknowledged", async (prefix) => {
    const group = `${prefix}g`;
    await using p = new ScriptProcess("event_processor.ts", [
      ...seed,
      "--durable",
      "--group",
      group,
      "--from",
      "new",
      "--quiet",
      "--json",
      "--stats-interval",
      "0",
    ]);
    await p.err.waitFor(/Press Ctrl\+C to stop/, 20_000);
    const groups = jsonEvents(p.out.text, "group");
    assert.deepEqual(
      Object.fromEntries(groups.map((g) => [g.channel, g.node])),
      Object.fromEntries(PROCESSED_TOPICS.map((s) => [s, `127.0.0.1:${owner(s).port}`])),
    );
    await using demo = new ScriptProcess("demo_events.ts", [...seed, "--durable", "--count", "2000", "--json"]);
    assert.equal(await demo.exit(30_000), 0, demo.err.text);
    const back = jsonEvents(demo.out.text, "summary")[0]!;
    assert.equal(back.expected, 2000);
    assert.equal(back.received, 2000);
    assert.equal(back.duplicates, 0);
    p.kill("SIGINT");
    assert.equal(await p.exit(), 0, p.err.text);
    const summary = jsonEvents(p.out.text, "summary")[0]!;
    assert.equal(summary.processed, 2000);
    assert.equal(summary.consumer_removed, true);
    for (const topic of summary.topics as { topic: string; pending: number; processed: number }[]) {
      assert.equal(topic.pending, 0, topic.topic);
    }
    // Acknowledged on the master of each stream: nothing pending in the group.
    for (const stream of PROCESSED_TOPICS) {
      await withClient(owner(stream).url, async (r) => {
        const [pending] = await r.xpending(stream, group) as [number];
        assert.equal(Number(pending), 0, stream);
        await r.xgroup("DESTROY", stream, group);
      });
    }
  });

  await t.step("stream_tail --cluster reads a stream and shows groups wherever they live", async () => {
    await using tail = new ScriptProcess("stream_tail.ts", [...seed, ...PROCESSED_TOPICS, "--groups", "--json"]);
    assert.equal(await tail.exit(), 0, tail.err.text);
    const shown = jsonEvents(tail.out.text, "groups");
    assert.deepEqual(shown.map((g) => g.node), PROCESSED_TOPICS.map((s) => `127.0.0.1:${owner(s).port}`));
    assert.ok(shown.every((g) => (g.length as number) > 0));
    await using one = new ScriptProcess("stream_tail.ts", [...seed, TOPICS.profileEvents, "--count", "3", "--json"]);
    assert.equal(await one.exit(), 0, one.err.text);
    assert.equal(jsonEvents(one.out.text, "entry").length, 3);
    for (const stream of [...PROCESSED_TOPICS, TOPICS.processingResults, "my_topic"]) {
      await withClient(owner(stream).url, (r) => r.del(stream));
    }
  });
});
