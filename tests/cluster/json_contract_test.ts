/**
 * The cluster modes' NDJSON contract: each script runs with `--cluster --json` on a local cluster and every line is
 * held to README's tables (a cluster row where there is one, else the script's row above it); every row of the
 * cluster table must be produced here. The last step fails a master over, for the rows only a failover writes.
 *
 * @module
 */
import assert from "node:assert/strict";
import { slotOf } from "../../lib/cluster/topology.ts";
import { ExitCode } from "../../lib/core/exit_codes.ts";
import { TOPICS } from "../../lib/events/kinds.ts";
import { main as bench } from "../../scripts/bench.ts";
import { main as keyspaceListener } from "../../scripts/keyspace_listener.ts";
import { main as keyspaceWriter } from "../../scripts/keyspace_writer.ts";
import { main as ping } from "../../scripts/ping.ts";
import { main as publisher } from "../../scripts/publisher.ts";
import { main as subscriber } from "../../scripts/subscriber.ts";
import { captureIo, clusterSuite, eventually, runMain, ScriptProcess, withClient } from "../harness.ts";
import { CONTRACT, hold, rowKey, SEEN } from "../json_contract.ts";

clusterSuite("every script's --cluster --json output follows README's tables", async (t, local) => {
  const seed = ["--cluster", "--url", local.seedUrl];

  await t.step("ping.ts --cluster", async () => {
    const io = captureIo();
    assert.equal(await ping([...seed, "--json"], io), ExitCode.Ok);
    hold("ping.ts --cluster", io);
  });

  await t.step("subscriber.ts and publisher.ts --cluster: sharded and plain channels", async (p) => {
    await using sub = runMain(subscriber, [...seed, "-s", `${p}s`, "-c", `${p}c`, "--count", "4", "--json"]);
    await sub.io.out.waitFor(/"event":"ssubscribe"/);
    await sub.io.out.waitFor(/"event":"subscribe"/);
    for (const args of [["--sharded", `${p}s`], [`${p}c`]]) {
      const io = captureIo();
      assert.equal(await publisher([...seed, ...args, "m {{n}}", "--repeat", "2", "--json"], io), ExitCode.Ok);
      hold("publisher.ts --cluster", io);
    }
    assert.equal(await sub.exit, ExitCode.Ok, sub.io.err.text);
    hold("subscriber.ts --cluster", sub.io);
  });

  await t.step("keyspace_listener.ts and keyspace_writer.ts --cluster", async () => {
    await using listener = runMain(keyspaceListener, [...seed, "--count", "2", "--json"]);
    await listener.io.err.waitFor(/Listening on cluster /);
    const io = captureIo();
    assert.equal(await keyspaceWriter([...seed, "--count", "2", "--interval", "0", "--json"], io), ExitCode.Ok);
    hold("keyspace_writer.ts --cluster", io);
    assert.equal(await listener.exit, ExitCode.Ok, listener.io.err.text);
    hold("keyspace_listener.ts --cluster", listener.io);
  });

  await t.step("event_processor.ts, demo_events.ts and stream_tail.ts --cluster, plain and durable", async () => {
    for (const mode of [[], ["--durable"]]) {
      const name = mode.length ? " --durable" : "";
      await using processor = new ScriptProcess("event_processor.ts", [...seed, ...mode, "--json"]);
      await processor.err.waitFor(/Press Ctrl\+C to stop/, 20_000);
      await using demo = new ScriptProcess("demo_events.ts", [...seed, ...mode, "--json", "--timeout", "10s"]);
      assert.equal(await demo.exit(30_000), ExitCode.Ok, demo.err.text);
      hold(`demo_events.ts${name} --cluster`, demo);
      processor.kill("SIGINT");
      assert.equal(await processor.exit(), ExitCode.Ok, processor.err.text);
      hold(`event_processor.ts${name} --cluster`, processor);
    }
    await using tail = new ScriptProcess("stream_tail.ts", [...seed, TOPICS.keySubmission, "--groups", "--json"]);
    assert.equal(await tail.exit(), ExitCode.Ok, tail.err.text);
    hold("stream_tail.ts --cluster", tail);
    for (const stream of [TOPICS.keySubmission, TOPICS.profileEvents, TOPICS.processingResults]) {
      await withClient(local.nodeOwning(slotOf(stream)).url, (r) => r.del(stream));
    }
  });

  await t.step("bench.ts --cluster", async () => {
    const io = captureIo();
    assert.equal(await bench([...seed, "--mode", "sharded", "--msgs", "300", "--json"], io), ExitCode.Ok);
    hold("bench.ts --cluster", io);
  });

  await t.step("a master fails over: subscriber.ts --cluster follows its shard", async (p) => {
    const channel = `${p}moving`;
    const dead = local.nodeOwning(slotOf(channel));
    const alive = local.masters.find((m) => m.id !== dead.id)!;
    await using sub = runMain(subscriber, ["--cluster", "--url", alive.url, "-s", channel, "--json"], 60_000);
    await sub.io.out.waitFor(/"event":"ssubscribe"/);
    await local.kill(dead);
    await local.waitFailover(dead);
    await sub.io.out.waitFor(/"event":"shard_moved"/, 30_000);
    sub.io.stop();
    assert.equal(await sub.exit, ExitCode.Ok, sub.io.err.text);
    hold("subscriber.ts --cluster", sub.io);
    await eventually(() => sub.io.out.text.includes('"event":"summary"'), "the subscriber's summary");
  });

  await t.step("every row of README's cluster table was produced", () => {
    const missing = CONTRACT.filter((r) => r.script.includes("--cluster")).map((r) =>
      rowKey(r.script, r.stream, r.event)
    )
      .filter((k) => !SEEN.has(k));
    assert.deepEqual(missing, [], "README's cluster table lists events no script wrote here");
  });
}, { replicas: 1, nodeTimeoutMs: 1000 });
