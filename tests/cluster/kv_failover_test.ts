import assert from "node:assert/strict";
import { main as kvUpdater } from "../../scripts/kv_updater.ts";
import { slotOf } from "../../lib/cluster/topology.ts";
import { ExitCode } from "../../lib/core/exit_codes.ts";
import { delay } from "../../lib/core/timing.ts";
import { parseUpdate } from "../../lib/kv/message.ts";
import { captureIo, clusterSuite, eventually, testClient } from "../harness.ts";

const TYPES = 300;

clusterSuite("kv_updater on a cluster whose master is killed while updates flow", async (t, local) => {
  await t.step(
    "it carries on through the failover, says so, and every update it acknowledged is stored afterwards",
    async (prefix) => {
      const channel = `${prefix}update`;
      const kv = `${prefix}kv:`;
      const io = captureIo();
      const done = kvUpdater(
        ["--cluster", "--url", local.seedUrl, "--channel", channel, "--prefix", kv, "--log-level", "debug"],
        io,
      );
      const [, subscribedOn] = await Promise.race([
        io.err.waitFor(/Listening on channel .* \(subscribed on node (127\.0\.0\.1:\d+)\)/),
        done.then(() => assert.fail(io.err.text)),
      ]);
      // The killed master is not the one subscribed on: what is published must all arrive.
      const victim = local.masters.find((m) => `127.0.0.1:${m.port}` !== subscribedOn)!;
      const publisher = local.masters.find((m) => m.id !== victim.id && `127.0.0.1:${m.port}` !== subscribedOn) ??
        local.masters.find((m) => m.id !== victim.id)!;
      const keys = Array.from({ length: TYPES }, (_, n) => `${kv}P${n}`);
      assert.ok(keys.some((k) => local.nodeOwning(slotOf(k)).id === victim.id));
      const last = new Map<string, string>();
      const base = Date.parse("2025-06-01T00:00:00Z");
      let published = 0;
      await using redis = testClient(publisher.url);
      let failedOver = false;
      let flowAfter = 0;
      const flow = (async () => {
        const deadline = Date.now() + 40_000;
        for (let i = 0; Date.now() < deadline && flowAfter < 20; i++) {
          const pipeline = redis.pipeline();
          for (let k = 0; k < 50; k++, published++) {
            const type = `P${published % TYPES}`;
            const text = JSON.stringify({
              type,
              updated: new Date(base + published).toISOString(),
              valid: "2099-01-01T00:00:00Z",
              values: { n: published },
            });
            last.set(kv + type, text);
            pipeline.publish(channel, text);
          }
          await pipeline.exec();
          if (failedOver) flowAfter++;
          await delay(50);
        }
      })();
      await delay(500);
      await local.kill(victim);
      const promoted = await local.waitFailover(victim, 20_000);
      failedOver = true;
      await flow;
      const victimKey = `127.0.0.1:${victim.port}`;
      await io.err.waitFor(new RegExp(`Lost cluster node ${victimKey}, master of slots`), 15_000);
      await io.err.waitFor(
        new RegExp(`Slots [0-9 -]+ moved from ${victimKey} to 127\\.0\\.0\\.1:${promoted.port}`),
        15_000,
      );
      await io.err.waitFor(new RegExp(`writes: (every update|\\d+ update\\(s\\)) ${victimKey} acknowledged`), 15_000);

      // Every type ends with its last update, read on the master that serves it now.
      const stored = (text: string) => {
        const p = parseUpdate(new TextEncoder().encode(text));
        assert.ok(p.ok);
        return p.update.stored;
      };
      const readAll = async () => {
        const values = new Map<string, string | null>();
        for (const key of keys) {
          await using node = testClient(local.nodeOwning(slotOf(key)).url);
          values.set(key, await node.get(key));
        }
        return values;
      };
      await eventually(
        async () => {
          const values = await readAll();
          return keys.every((k) => values.get(k) === stored(last.get(k)!));
        },
        "every type's last update stored",
        20_000,
      );
      io.stop();
      assert.equal(await done, ExitCode.Ok, io.err.text.slice(-2000));
      // Every update acknowledged as stored ("persisted", at debug level) is the stored one or older than it.
      const values = await readAll();
      const acked = new Map<string, string>();
      for (const m of io.err.text.matchAll(/persisted "([^"]+)" \(updated ([^)]+)\)/g)) acked.set(m[1]!, m[2]!);
      for (const [key, updated] of acked) {
        const now = JSON.parse(values.get(key)!).updated as string;
        assert.ok(Date.parse(now) >= Date.parse(updated), `${key}: acknowledged ${updated}, stored ${now}`);
      }
      assert.equal(acked.size, TYPES);
      assert.match(
        io.out.text,
        new RegExp(
          `Stopped\\. received ${
            published.toLocaleString("en-US")
          } · stored [\\d,]+ · superseded [\\d,]+ · rejected 0 · pending 0`,
        ),
      );
      assert.match(
        io.out.text,
        /Cluster: 1 node\(s\) lost, slot map changed \d+ time\(s\): \d+ update\(s\) acknowledged/,
      );
      assert.doesNotMatch(io.err.text, /Server error|not stored/);
    },
  );
}, { masters: 3, replicas: 1, nodeTimeoutMs: 1000 });
