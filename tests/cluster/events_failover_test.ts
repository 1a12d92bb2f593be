import assert from "node:assert/strict";
import { slotOf } from "../../lib/cluster/topology.ts";
import { TOPICS } from "../../lib/events/kinds.ts";
import { clusterSuite, ScriptProcess } from "../harness.ts";

/** The JSON events a script printed, by name. */
function jsonEvents(text: string, name: string): Record<string, unknown>[] {
  return text.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l)).filter((e) => e.event === name);
}

clusterSuite("events through a failover (kill -9 a master)", async (t, local) => {
  const seed = ["--cluster", "--url", local.seedUrl];

  await t.step("durable: the master of key_submission dies while events flow; none lost", async () => {
    const dead = local.nodeOwning(slotOf(TOPICS.keySubmission));
    await using p = new ScriptProcess("event_processor.ts", [
      ...seed,
      "--durable",
      "--quiet",
      "--json",
      "--stats-interval",
      "0",
      "--claim-after",
      "2s",
    ]);
    await p.err.waitFor(/Press Ctrl\+C to stop/, 20_000);
    await using demo = new ScriptProcess("demo_events.ts", [
      ...seed,
      "--durable",
      "--count",
      "4000",
      "--rate",
      "1000",
      "--timeout",
      "60s",
      "--json",
    ]);
    await new Promise((resolve) => setTimeout(resolve, 1500)); // about a third appended
    await local.kill(dead);
    const promoted = await local.waitFailover(dead);
    assert.equal(await demo.exit(90_000), 0, demo.err.text);
    const back = jsonEvents(demo.out.text, "summary")[0]!;
    assert.equal(back.expected, 4000);
    assert.equal(back.received, 4000, "every event processed at least once: lost = 0");
    await p.err.waitFor(new RegExp(`Lost cluster node 127\\.0\\.0\\.1:${dead.port}`), 5000);
    await p.err.waitFor(new RegExp(`Reading key_submission from 127\\.0\\.0\\.1:${promoted.port} now`), 5000);
    p.kill("SIGINT");
    assert.equal(await p.exit(), 0, p.err.text);
    const summary = jsonEvents(p.out.text, "summary")[0]!;
    assert.ok((summary.processed as number) >= 4000, `${summary.processed} processed`);
    assert.ok((summary.slot_map_changes as number) >= 1);
    assert.ok((summary.reads_moved as number) >= 1);
    // Duplicates (an event processed again after the failover) are said, never hidden.
    assert.equal(typeof back.duplicates, "number");
  });

  await t.step("plain pub/sub: a master dies; the processor carries on and says what may be lost", async () => {
    const victim = local.masters.find((m) => local.replicasOf(m).some((r) => r.alive))!;
    await using p = new ScriptProcess("event_processor.ts", [...seed, "--stats-interval", "0"]);
    await p.err.waitFor(/Press Ctrl\+C to stop/, 20_000);
    await local.kill(victim);
    await local.waitFailover(victim);
    await p.err.waitFor(new RegExp(`Slots [\\d -]+ moved from 127\\.0\\.0\\.1:${victim.port}`), 10_000);
    // After the failover the round trip works again.
    let code = -1;
    for (let attempt = 0; attempt < 5 && code !== 0; attempt++) {
      // Seeds that are alive (the first seed may be the master that died).
      const alive = local.nodes.filter((n) => n.alive).map((n) => n.url).join(",");
      await using demo = new ScriptProcess("demo_events.ts", ["--cluster", "--url", alive, "--timeout", "5s"]);
      code = await demo.exit(30_000);
    }
    assert.equal(code, 0);
    p.kill("SIGINT");
    assert.equal(await p.exit(), 0, p.err.text);
    assert.match(
      p.out.text,
      /Cluster: \d+ node\(s\) lost, slot map changed \d+ time\(s\): events published then were not received\./,
    );
  });
}, { replicas: 1, nodeTimeoutMs: 1000 });
