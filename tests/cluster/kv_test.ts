import assert from "node:assert/strict";
import { main as kvUpdater } from "../../scripts/kv_updater.ts";
import { main as apiServer } from "../../scripts/api_server.ts";
import { slotOf } from "../../lib/cluster/topology.ts";
import type { LocalCluster } from "../../lib/cluster/local_cluster.ts";
import { ExitCode } from "../../lib/core/exit_codes.ts";
import { parseUpdate } from "../../lib/kv/message.ts";
import { appendSender } from "../../lib/streams/append.ts";
import { type CapturedIo, captureIo, clusterSuite, eventually, readUntil, withClient } from "../harness.ts";

/** A script of ours running in-process until `stop()`. */
interface Running {
  io: CapturedIo;
  done: Promise<number>;
}

/** Starts kv_updater --cluster in-process and waits until it listens (or consumes). */
async function startUpdater(local: LocalCluster, args: string[]): Promise<Running> {
  const io = captureIo();
  const done = kvUpdater(["--cluster", "--url", local.seedUrl, ...args], io);
  await Promise.race([
    io.err.waitFor(/Listening on channel|Consuming stream/),
    done.then(() => assert.fail(io.err.text)),
  ]);
  return { io, done };
}

async function stop(r: Running): Promise<string> {
  r.io.stop();
  assert.equal(await r.done, ExitCode.Ok, r.io.err.text);
  return r.io.out.text;
}

const message = (type: string, values: unknown, updated = "2025-06-01T12:00:00Z") =>
  JSON.stringify({ type, updated, valid: "2099-01-01T00:00:00Z", values });

/** The stored text kv_updater writes for a message. */
function stored(text: string): string {
  const parsed = parseUpdate(new TextEncoder().encode(text));
  assert.ok(parsed.ok);
  return parsed.update.stored;
}

/** Each key's value, read on the master that serves its slot (a plain connection: no redirection followed). */
async function readOnOwners(local: LocalCluster, keys: string[]): Promise<Map<string, string | null>> {
  const byNode = new Map<string, string[]>();
  for (const key of keys) {
    const url = local.nodeOwning(slotOf(key)).url;
    byNode.set(url, [...(byNode.get(url) ?? []), key]);
  }
  const values = new Map<string, string | null>();
  for (const [url, owned] of byNode) {
    await withClient(url, async (redis) => {
      const pipeline = redis.pipeline();
      for (const key of owned) pipeline.get(key);
      const replies = (await pipeline.exec()) ?? [];
      owned.forEach((key, n) => values.set(key, replies[n]![0] ? null : replies[n]![1] as string | null));
    });
  }
  return values;
}

/** Messages of various shapes: numbers, text, nested objects, lists, unicode. */
function variedMessages(count: number): string[] {
  return Array.from({ length: count }, (_, n) => {
    const values = [
      { n, temp: n / 10 },
      { name: `Zürich ${n}`, ok: n % 2 === 0 },
      { nested: { list: [n, 2.5e-7, true, null], deep: { k: "v" } } },
      { blob: "x".repeat(n % 200) },
    ][n % 4];
    return message(`T${n}`, values);
  });
}

clusterSuite("the KV lab on a cluster of 3 masters", async (t, local) => {
  await t.step(
    "1,000 updates of types spread over every master are all stored, each on its node, and api_server lists and serves them all",
    async (prefix) => {
      const channel = `${prefix}update`;
      const kv = `${prefix}kv:`;
      const updater = await startUpdater(local, ["--channel", channel, "--prefix", kv]);
      const messages = variedMessages(1000);
      const keys = messages.map((_, n) => `${kv}T${n}`);
      // The keys cover every master.
      const owners = new Set(keys.map((k) => local.nodeOwning(slotOf(k)).id));
      assert.equal(owners.size, 3);
      await withClient(local.seedUrl, async (redis) => {
        const pipeline = redis.pipeline();
        for (const m of messages) pipeline.publish(channel, m);
        await pipeline.exec();
      });
      await eventually(
        async () => [...(await readOnOwners(local, keys)).values()].every((v) => v !== null),
        "all 1,000 keys on their nodes",
        20_000,
      );
      const values = await readOnOwners(local, keys);
      messages.forEach((m, n) => assert.equal(values.get(keys[n]!), stored(m), keys[n]));

      const io = captureIo();
      const done = apiServer(
        ["--cluster", "--url", local.seedUrl, "--port", "0", "--channel", channel, "--prefix", kv],
        io,
      );
      const [, base] = await Promise.race([
        io.err.waitFor(/listening on (http:\/\/127\.0\.0\.1:\d+)\//),
        done.then(() => assert.fail(io.err.text)),
      ]);
      try {
        const listed = await (await fetch(`${base}/kv`)).json() as { types: string[] };
        assert.deepEqual(listed.types, messages.map((_, n) => `T${n}`).sort());
        for (const n of [0, 1, 2, 3, 500, 999]) {
          const res = await fetch(`${base}/kv/T${n}`);
          assert.equal(res.status, 200);
          assert.equal(await res.text(), stored(messages[n]!));
        }
        const missing = await fetch(`${base}/kv/Nope`);
        assert.equal(missing.status, 404);
        await missing.body?.cancel();
        const health = await fetch(`${base}/health`);
        assert.equal((await health.json() as { status: string }).status, "ok");
        // SSE: every stored value first, then a live update (stored by kv_updater, read from its node).
        const events = await fetch(`${base}/events`);
        const live = message("Live", { at: "now" });
        const text = await readUntil(events, /"type":"T999"[^\n]*\n/, 15_000);
        assert.equal(text.match(/^event: update$/gm)?.length, 1000);
        const sent = withClient(local.seedUrl, (redis) => redis.publish(channel, live));
        const more = await fetch(`${base}/events`);
        await sent;
        assert.match(await readUntil(more, /"type":"Live"/, 10_000), /"values":\{"at":"now"\}/);
      } finally {
        io.stop();
        assert.equal(await done, ExitCode.Ok, io.err.text);
      }
      assert.match(await stop(updater), /Stopped\. received 1,001 · stored 1,001 · superseded \d+ · rejected 0/);
    },
  );

  await t.step("last write wins for keys on different nodes, with their updates interleaved", async (prefix) => {
    const channel = `${prefix}update`;
    const kv = `${prefix}kv:`;
    // Two types on two different masters.
    const first = "A0";
    let second = "B0";
    for (let n = 1; local.nodeOwning(slotOf(kv + second)).id === local.nodeOwning(slotOf(kv + first)).id; n++) {
      second = `B${n}`;
      assert.ok(n < 100);
    }
    const updater = await startUpdater(local, ["--channel", channel, "--prefix", kv]);
    const rounds = 300;
    await withClient(local.seedUrl, async (redis) => {
      const pipeline = redis.pipeline();
      for (let n = 0; n < rounds; n++) {
        pipeline.publish(channel, message(first, { n })).publish(channel, message(second, { n }));
      }
      await pipeline.exec();
    });
    const last = (type: string) => stored(message(type, { n: rounds - 1 }));
    await eventually(async () => {
      const v = await readOnOwners(local, [kv + first, kv + second]);
      return v.get(kv + first) === last(first) && v.get(kv + second) === last(second);
    }, "the last update of each key stored");
    assert.match(await stop(updater), /received 600 · stored \d+ · superseded \d+ · rejected 0 · pending 0/);
  });

  await t.step(
    "--stream on a cluster: older updates appended after newer ones never win, on keys of different nodes",
    async (prefix) => {
      const stream = `${prefix}updates`;
      const kv = `${prefix}kv:`;
      const types = ["A0", "A1", "A2", "A3", "A4", "A5"];
      assert.ok(new Set(types.map((t) => local.nodeOwning(slotOf(kv + t)).id)).size >= 2);
      const newer = (t: string) => message(t, { v: "new" }, "2025-06-01T12:00:05Z");
      const older = (t: string) => message(t, { v: "old" }, "2025-06-01T12:00:01Z");
      await withClient(local.nodeOwning(slotOf(stream)).url, async (redis) => {
        await appendSender()(
          redis,
          types.flatMap((t) => [newer(t), older(t)]).map((payload) => ({ channel: stream, payload })),
        );
      });
      const updater = await startUpdater(local, ["--stream", stream, "--prefix", kv, "--log-level", "debug"]);
      await updater.io.err.waitFor(/Consuming stream .* \(its master in cluster /);
      // The older ones come after the newer ones in the stream: each is found stale on its key's node.
      await eventually(() => (updater.io.err.text.match(/ stale: "/g)?.length ?? 0) === 6, "6 stale updates");
      const summary = await stop(updater);
      assert.match(summary, /received 12 · stored 6 · stale 6 · superseded 0 · rejected 0/);
      const values = await readOnOwners(local, types.map((t) => kv + t));
      for (const t of types) assert.equal(values.get(kv + t), stored(newer(t)), t);
    },
  );
});
