/**
 * event_processor.ts --cluster --sharded --recover on a 3-master cluster: each topic's history on its own slot, the
 * processor cut off from the master of `profile_events` while events are SPUBLISHed with history — they come back
 * once, in order, marked recovered, before the live ones.
 */
import assert from "node:assert/strict";
import { endpointFor } from "../../lib/endpoint/endpoint.ts";
import { nullWriter, Reporter } from "../../lib/core/output.ts";
import { completeEvent } from "../../lib/events/envelope.ts";
import { profileEvent, TOPICS } from "../../lib/events/kinds.ts";
import { slotOf } from "../../lib/cluster/topology.ts";
import { closeClient, clusterSuite, ScriptProcess } from "../harness.ts";
import { outageClient, type SequenceFormat, SequencePublisher } from "../recover/outage_kit.ts";

const PROFILES: SequenceFormat = {
  payload: (seq) => JSON.stringify(completeEvent(profileEvent("updated", seq), { source: "test" })),
  seqOf: (payload) => Number(JSON.parse(payload).profile_id),
};

clusterSuite("event_processor.ts --recover on a cluster, sharded", async (t, cluster) => {
  await t.step("cut off from the topic's master: the events missed come back in order", async () => {
    const owner = cluster.nodeOwning(slotOf(TOPICS.profileEvents));
    const admin = outageClient(owner.url);
    const link = await endpointFor({ cluster: true, urls: [cluster.seedUrl] }).link({
      reporter: new Reporter(nullWriter),
    });
    const pub = new SequencePublisher(link.redis, TOPICS.profileEvents, undefined, true, PROFILES);
    const args = ["--cluster", "--url", cluster.seedUrl, "--sharded", "--recover", "--concurrency", "1"];
    await using proc = new ScriptProcess("event_processor.ts", [...args, "--publish-stats", "0"]);
    try {
      await proc.err.waitFor(/Processing events on/);
      for (let i = 0; i < 5; i++) await pub.next();
      await proc.out.waitFor(/profile 5\b/);
      Deno.kill(proc.pid, "SIGSTOP");
      try {
        await admin.call("CLIENT", "KILL", "TYPE", "pubsub");
        for (let i = 0; i < 20; i++) await pub.next();
      } finally {
        Deno.kill(proc.pid, "SIGCONT");
      }
      await proc.out.waitFor(/profile 25\b/, 20_000);
      await pub.next(); // a live one after
      await proc.out.waitFor(/profile 26\b/);
    } finally {
      await link.close();
      await closeClient(admin);
    }
    proc.kill("SIGINT");
    assert.equal(await proc.exit(), 0, proc.err.text);
    const lines = proc.out.text.split("\n").filter((l) => / profile \d+/.test(l));
    assert.deepEqual(
      lines.map((l) => Number(l.match(/ profile (\d+)/)![1])),
      Array.from({ length: 26 }, (_, i) => i + 1),
    );
    assert.equal(lines.filter((l) => / recovered$/.test(l)).length, 20, "6-25 marked recovered");
    assert.match(proc.out.text, /Recovered 20 missed message\(s\) from the history, lost 0\./);
  });
});
