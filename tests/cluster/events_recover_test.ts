/**
 * event_processor.ts --cluster --sharded --recover on a 3-master cluster: each topic's history on its own slot, the
 * processor cut off from the master of `profile_events` while events are SPUBLISHed with history — they come back
 * once, in order, marked recovered, before the live ones.
 */
import assert from "node:assert/strict";
import { endpointFor } from "../../lib/endpoint/endpoint.ts";
import { nullWriter, Reporter } from "../../lib/core/output.ts";
import { TOPICS } from "../../lib/events/kinds.ts";
import { slotOf } from "../../lib/cluster/topology.ts";
import { closeClient, clusterSuite, ScriptProcess } from "../harness.ts";
import { outageClient, SequencePublisher } from "../recover/outage_kit.ts";
import { handledProfiles, missWhilePaused, PROFILE_SEQUENCE } from "../events/recover_kit.ts";

clusterSuite("event_processor.ts --recover on a cluster, sharded", async (t, cluster) => {
  await t.step("cut off from the topic's master: the events missed come back in order", async () => {
    const owner = cluster.nodeOwning(slotOf(TOPICS.profileEvents));
    const admin = outageClient(owner.url);
    const link = await endpointFor({ cluster: true, urls: [cluster.seedUrl] }).link({
      reporter: new Reporter(nullWriter),
    });
    const pub = new SequencePublisher(link.redis, TOPICS.profileEvents, undefined, true, PROFILE_SEQUENCE);
    const args = ["--cluster", "--url", cluster.seedUrl, "--sharded", "--recover", "--concurrency", "1"];
    await using proc = new ScriptProcess("event_processor.ts", [...args, "--publish-stats", "0"]);
    try {
      await proc.err.waitFor(/Processing events on/);
      await missWhilePaused(proc, admin, pub, 5, 20);
      await proc.out.waitFor(/profile 25\b/, 20_000);
      await pub.next(); // a live one after
      await proc.out.waitFor(/profile 26\b/);
    } finally {
      await link.close();
      await closeClient(admin);
    }
    proc.kill("SIGINT");
    assert.equal(await proc.exit(), 0, proc.err.text);
    const { ids, recovered } = handledProfiles(proc.out.text);
    assert.deepEqual(ids, Array.from({ length: 26 }, (_, i) => i + 1));
    assert.equal(recovered, 20, "6-25 marked recovered");
    assert.match(proc.out.text, /Recovered 20 missed message\(s\) from the history, lost 0\./);
  });
});
