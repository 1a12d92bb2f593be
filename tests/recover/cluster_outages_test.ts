/**
 * subscriber.ts --recover on a 3-master cluster, on a sharded channel (its
 * history on the channel's slot): 20 outages of random length (0.1–5 s) of the
 * master serving it — restarts that keep the data, CLIENT KILL, the paused
 * subscriber dropped for falling behind — while a paced publisher SPUBLISHes
 * sequence-numbered messages: every message once and in order.
 */
import { endpointFor } from "../../lib/endpoint/endpoint.ts";
import { nullWriter, Reporter } from "../../lib/core/output.ts";
import { closeClient, clusterSuite, ScriptProcess } from "../harness.ts";
import { slotOf } from "../../lib/cluster/topology.ts";
import { delay } from "../../lib/core/timing.ts";
import {
  assertAllRecovered,
  dropPaused,
  killFor,
  outageClient,
  outageMs,
  SequencePublisher,
  waitForSeq,
  whenReady,
} from "./outage_kit.ts";

const OUTAGES = Number(Deno.env.get("RECOVER_OUTAGES") ?? 20);

clusterSuite("subscriber.ts --recover on a cluster, sharded", async (t, cluster) => {
  await t.step("20 outages of the channel's master, every message once and in order", async (prefix) => {
    const channel = `${prefix}seq`;
    const owner = cluster.nodeOwning(slotOf(channel));
    const admin = outageClient(owner.url);
    const link = await endpointFor({ cluster: true, urls: [cluster.seedUrl] }).link({
      reporter: new Reporter(nullWriter),
    });
    const pub = new SequencePublisher(link.redis, channel, { kind: "size", size: 100_000 }, true);
    await using sub = new ScriptProcess("subscriber.ts", [
      "--cluster",
      "--url",
      cluster.seedUrl,
      "-s",
      channel,
      "--recover",
      "--json",
    ]);
    const stop = new AbortController();
    let pacing: Promise<void> = Promise.resolve();
    const kinds: string[] = [];
    try {
      await sub.err.waitFor(/Listening on/);
      pacing = pub.paced(5, stop.signal);
      for (let i = 0; i < OUTAGES; i++) {
        const ms = outageMs();
        const kind = ["restart", "kill", "drop"][i % 3]!;
        kinds.push(`${kind} ${ms} ms`);
        if (Deno.env.get("RECOVER_TEST_VERBOSE")) console.error(`outage ${i + 1}: ${kind} ${ms} ms at s${pub.seq}`);
        await whenReady(admin);
        if (kind === "restart") {
          await cluster.kill(owner);
          await delay(ms);
          await cluster.restart(owner);
        } else if (kind === "kill") {
          await killFor(admin, ms);
        } else {
          await dropPaused(admin, sub, pub, ms);
        }
        await delay(300);
      }
      stop.abort();
      await pacing;
      await waitForSeq(sub, pub.seq, 30_000);
    } finally {
      stop.abort();
      await pacing.catch(() => {});
      await link.close();
      await closeClient(admin);
    }
    await assertAllRecovered(sub, pub, kinds);
  });
}, { args: ["--appendonly", "yes", "--appendfsync", "always"] });
