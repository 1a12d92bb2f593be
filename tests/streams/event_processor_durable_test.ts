import assert from "node:assert/strict";
import type { Redis } from "ioredis";
import { main as processor } from "../../scripts/event_processor.ts";
import { ExitCode } from "../../lib/core/exit_codes.ts";
import { keySubmittedEvent, profileEvent } from "../../lib/events/kinds.ts";
import { PAYLOAD_FIELD, toEntries } from "../../lib/streams/entry.ts";
import { pendingCount } from "../../lib/streams/groups.ts";
import { StreamPublisher } from "../../lib/events/stream_publisher.ts";
import { faultProxy } from "../fake_servers.ts";
import { captureIo, eventually, ownServerTest, runMain, ScriptProcess, testClient, testServer } from "../harness.ts";

/** Waits until `check` holds (the harness's {@linkcode eventually}, named first as these tests read). */
const until = (what: string, check: () => boolean | Promise<boolean>, ms = 20_000) => eventually(check, what, ms);

/** The sources (`stream id`) of the results in processing_results, read in pages; with how many results there are. */
async function resultSources(redis: Redis): Promise<{ total: number; sources: Map<string, number> }> {
  const sources = new Map<string, number>();
  let total = 0;
  let from = "-";
  for (let page = 0; page < 1000; page++) {
    const entries = toEntries(await redis.xrange("processing_results", from, "+", "COUNT", 2000));
    if (entries.length === 0) break;
    for (const e of entries) {
      const result = JSON.parse(e.fields![PAYLOAD_FIELD]!);
      const id = `${result.source_stream} ${result.source_entry_id}`; // ids of different streams may be equal
      sources.set(id, (sources.get(id) ?? 0) + 1);
      total++;
    }
    from = `(${entries.at(-1)!.id}`;
  }
  return { total, sources };
}

function events(n: number, offset = 0) {
  return Array.from(
    { length: n },
    (_, i) =>
      (i + offset) % 4 === 3
        ? { topic: "profile_events", event: profileEvent("updated", i + offset, { n: i + offset }) }
        : { topic: "key_submission", event: keySubmittedEvent(`key-${i + offset}`, "T") },
  );
}

// What one consumer may hold unacknowledged when it dies: one read (up to 100 entries from each of the two
// streams) plus the 100 handlers (the default --concurrency with --durable) still running from the read before.
const IN_FLIGHT_BOUND = 2 * 100 + 100;

ownServerTest(
  "event_processor --durable killed with SIGKILL 10 times while 10,000 events are appended: none lost",
  async () => {
    await using server = await testServer({ own: true });
    await using redis = testClient(server.url);
    const publisher = new StreamPublisher(redis, { source: "test" });
    const appended: string[] = [];
    // Killed ten times, an entry in flight at several kills in a row would look like a crash loop and, after
    // --max-deliveries (default 5), be dead-lettered — correctly, but this test is about losing nothing.
    const args = ["--url", server.url, "--durable", "--consumer", "p1", "--from", "start", "--quiet"];
    args.push("--max-deliveries", "100");
    const kills = 10;
    const perRound = 10_000 / (kills + 1);
    const started = Date.now();
    for (let round = 0; round <= kills; round++) {
      await using p = new ScriptProcess("event_processor.ts", [
        ...args,
        "--stats-interval",
        "0",
        "--claim-after",
        "2s",
      ]);
      await p.err.waitFor(/Press Ctrl\+C to stop/, 20_000);
      const before = await redis.xlen("processing_results");
      // Appended in pieces while it works, so that the kill lands in the middle of processing.
      const count = round === kills ? 10_000 - appended.length : Math.round(perRound);
      for (let i = 0; i < count; i += 250) {
        const batch = events(Math.min(250, count - i), appended.length);
        const ids = await publisher.appendMany(batch);
        appended.push(...ids.map((id, n) => `${batch[n]!.topic} ${id}`));
      }
      if (round === kills) {
        await until("every event processed", async () => (await resultSources(redis)).sources.size === 10_000, 30_000)
          .catch(async (err) => {
            const dead = (await redis.xlen("key_submission:dead")) + (await redis.xlen("profile_events:dead"));
            const pending = (await pendingCount(redis, "key_submission", "processors")) +
              (await pendingCount(redis, "profile_events", "processors"));
            const { sources } = await resultSources(redis);
            throw new Error(`${err.message}: ${sources.size} with a result, ${dead} dead-lettered, ${pending} pending`);
          });
        p.kill("SIGINT");
        assert.equal(await p.exit(), ExitCode.Ok);
      } else {
        await until("some results", async () => await redis.xlen("processing_results") > before + 50);
        p.kill("SIGKILL");
        await p.exit();
      }
    }
    const { total, sources } = await resultSources(redis);
    const lost = appended.filter((id) => !sources.has(id));
    const duplicates = total - sources.size;
    console.log(
      `  kill -9 × ${kills}: ${appended.length} events, ${total} results, ${lost.length} lost, ` +
        `${duplicates} duplicate(s) (bound ${kills * IN_FLIGHT_BOUND}), ${(Date.now() - started) / 1000} s`,
    );
    assert.equal(lost.length, 0);
    assert.equal(sources.size, 10_000);
    assert.ok(duplicates <= kills * IN_FLIGHT_BOUND, `${duplicates} duplicates`);
    assert.equal(await pendingCount(redis, "key_submission", "processors"), 0);
    assert.equal(await pendingCount(redis, "profile_events", "processors"), 0);
    assert.equal(await redis.exists("key_submission:dead", "profile_events:dead"), 0);
  },
);

ownServerTest("Two event_processor --durable in one group share the work, each event once", async () => {
  await using server = await testServer({ own: true });
  await using redis = testClient(server.url);
  const common = ["--url", server.url, "--durable", "--quiet", "--json", "--stats-interval", "0"];
  await using a = new ScriptProcess("event_processor.ts", [...common, "--consumer", "a"]);
  await using b = new ScriptProcess("event_processor.ts", [...common, "--consumer", "b"]);
  await a.err.waitFor(/Press Ctrl\+C to stop/, 20_000);
  await b.err.waitFor(/Press Ctrl\+C to stop/, 20_000);
  const publisher = new StreamPublisher(redis);
  for (let i = 0; i < 10; i++) await publisher.appendMany(events(200, i * 200));
  await until("2000 results", async () => (await resultSources(redis)).total >= 2000);
  a.kill("SIGINT");
  b.kill("SIGINT");
  assert.equal(await a.exit(), ExitCode.Ok);
  assert.equal(await b.exit(), ExitCode.Ok);
  const { total, sources } = await resultSources(redis);
  assert.equal(total, 2000, "each event handled once");
  assert.equal(sources.size, 2000);
  const processed = [a, b].map((p) => JSON.parse(p.out.text.trim().split("\n").at(-1)!).processed as number);
  assert.equal(processed[0]! + processed[1]!, 2000);
  assert.ok(processed.every((n) => n > 0), `the work is split: ${processed}`);
  const summary = JSON.parse(a.out.text.trim().split("\n").at(-1)!);
  assert.equal(summary.consumer_removed, true);
  assert.ok(summary.topics.every((t: { lag: unknown }) => t.lag === null || typeof t.lag === "number"));
});

ownServerTest(
  "event_processor --durable: a poison event is tried exactly --max-deliveries times, then dead-lettered",
  async () => {
    await using server = await testServer({ own: true });
    await using redis = testClient(server.url);
    await using running = runMain(processor, [
      ...["--url", server.url, "--durable", "--consumer", "c1", "--json", "--stats-interval", "100ms"],
      ...["--claim-after", "100ms", "--max-deliveries", "3", "--fail-key", "poison"],
    ]);
    await running.io.err.waitFor(/Press Ctrl\+C to stop/);
    const publisher = new StreamPublisher(redis);
    const [poison] = await publisher.appendMany([
      { topic: "key_submission", event: keySubmittedEvent("poison") },
      ...events(20),
    ]);
    await running.io.out.waitFor(/"event":"dead_letter"/);
    await until("20 results", async () => (await resultSources(redis)).total === 20);
    const dead = toEntries(await redis.xrange("key_submission:dead", "-", "+"));
    assert.equal(dead.length, 1);
    assert.equal(dead[0]!.fields!.original_id, poison);
    assert.equal(dead[0]!.fields!.attempts, "3");
    assert.match(dead[0]!.fields!.reason!, /the key "poison" is the --fail-key/);
    assert.equal(running.io.err.count(/failed on key_submitted/), 2, "attempts 1 and 2 are logged as failures");
    await running.io.out.waitFor(/"event":"stats".*"dead_lettered":1/);
    running.io.stop();
    assert.equal(await running.exit, ExitCode.Ok);
    const summary = JSON.parse(running.io.out.text.trim().split("\n").at(-1)!);
    const keys = summary.topics[0];
    assert.equal(keys.failed, 3);
    assert.equal(keys.retried, 2);
    assert.equal(keys.dead_lettered, 1);
    assert.equal(keys.processed, 15);
    assert.equal(keys.pending, 0);
  },
);

ownServerTest(
  "event_processor --durable prints each result with its entry ids and a stream statistics table",
  async () => {
    await using server = await testServer({ own: true });
    await using redis = testClient(server.url);
    const id = await new StreamPublisher(redis).append("key_submission", keySubmittedEvent("abc123", "Token1"));
    await using running = runMain(processor, ["--url", server.url, "--durable", "--from", "start", "--consumer", "t1"]);
    const m = await running.io.out.waitFor(
      /key_submission (\S+) key_submitted \S+ → key_processed: valid, 6 chars, token "Token1" \(result (\S+)\)/,
    );
    assert.equal(m[1], id);
    assert.match(
      running.io.out.text,
      /✓ group processors on stream key_submission \(created, reading from the start\)/,
    );
    running.io.stop();
    assert.equal(await running.exit, ExitCode.Ok);
    assert.match(running.io.out.text, /Processed 1 event\(s\) in [\d.]+ s as consumer t1 of group processors\./);
    assert.match(
      running.io.out.text,
      /topic +received +processed +failed +malformed +dropped +retried +claimed +dead +pending +lag/,
    );
    assert.match(running.io.out.text, /key_submission +1 +1 +0 +0 +0 +0 +0 +0 +0 +(0|unknown) /);
    assert.match(running.io.out.text, /Consumer t1 had nothing pending and left the group\./);
    const [result] = toEntries(await redis.xrange("processing_results", m[2]!, m[2]!));
    assert.equal(JSON.parse(result!.fields![PAYLOAD_FIELD]!).source_entry_id, id);
  },
);

ownServerTest(
  "event_processor --durable: an event damaged in transit is processed from its stored copy, said on stderr and in the summary",
  async () => {
    await using server = await testServer({ own: true });
    await using redis = testClient(server.url);
    await using proxy = faultProxy(server.local!.port);
    const publisher = new StreamPublisher(redis);
    for (const json of [false, true]) {
      const event = publisher.prepare("key_submission", keySubmittedEvent(`abc-${json}`, "Token1"));
      const payload = JSON.stringify(event);
      let damaged = false;
      proxy.damageOnce(payload, payload.slice(0, -1) + "=").then(() => damaged = true);
      const consumer = `t-${json}`;
      await using running = runMain(processor, [
        ...["--url", proxy.url, "--durable", "--consumer", consumer, "--stats-interval", "0", "--publish-stats", "0"],
        ...(json ? ["--json"] : []),
      ]);
      await running.io.err.waitFor(/Press Ctrl\+C to stop/);
      const id = await publisher.appendPrepared("key_submission", event);
      await running.io.err.waitFor(
        /arrived damaged in transit \(the payload is not JSON\) but is intact in the stream/,
      );
      await until("the reply carrying it damaged", () => damaged);
      await until("its result", async () => (await resultSources(redis)).sources.has(`key_submission ${id}`));
      running.io.stop();
      assert.equal(await running.exit, ExitCode.Ok);
      assert.equal(await redis.exists("key_submission:dead"), 0);
      if (json) {
        const summary = JSON.parse(running.io.out.text.trim().split("\n").at(-1)!);
        assert.equal(summary.topics[0].damaged_in_transit, 1);
        assert.equal(summary.topics[0].dead_lettered, 0);
      } else {
        assert.match(running.io.out.text, /Re-read 1 entr\(ies\) damaged in transit \(key_submission 1\): /);
      }
    }
  },
);

Deno.test("event_processor refuses durable flags without --durable and a bad --from", async () => {
  const io = captureIo();
  assert.equal(await processor(["--claim-after", "1s"], io), ExitCode.Usage);
  assert.match(io.err.text, /--claim-after goes with --durable/);
  const io2 = captureIo();
  assert.equal(await processor(["--durable", "--from", "yesterday"], io2), ExitCode.Usage);
  assert.match(io2.err.text, /--from expects start, new, an entry id/);
  const io3 = captureIo();
  assert.equal(await processor(["--durable", "--schema", "key_submission=/nonexistent.json"], io3), ExitCode.Usage);
  assert.match(io3.err.text, /Cannot read the schema file "\/nonexistent.json"/);
});

ownServerTest(
  "event_processor --durable through an outage: one lost and one back line, no words of ioredis's own",
  async () => {
    await using server = await testServer({ own: true });
    await using running = runMain(processor, ["--url", server.url, "--durable", "--consumer", "o1"]);
    await running.io.err.waitFor(/Press Ctrl\+C to stop/);
    await server.local!.stop();
    await running.io.err.waitFor(/Connection to \S+ lost/);
    await server.local!.start();
    await running.io.err.waitFor(/Reconnected to /, 20_000);
    running.io.stop();
    assert.equal(await running.exit, ExitCode.Ok, running.io.err.text);
    const err = running.io.err.text;
    assert.equal(running.io.err.count(/Connection to \S+ lost/), 1, err);
    assert.equal(running.io.err.count(/Reconnected to /), 1, err);
    assert.doesNotMatch(err, /max retries|maxRetriesPerRequest|Please report this|Connection is closed/i);
    assert.match(running.io.out.text, /Connection lost 1 time\(s\), [\d.]+ s in all/);
  },
);

ownServerTest(
  "event_processor --durable stopped with its server gone says it could not check its pending entries, within " +
    "--shutdown-timeout",
  async () => {
    await using server = await testServer({ own: true });
    const flags = ["--url", server.url, "--durable", "--stats-interval", "0", "--shutdown-timeout", "2s"];
    // Not `await using`: its disposal waits for the run without a bound, and the bound is what this test is about.
    const text = runMain(processor, [...flags, "--consumer", "gone-t"], 20_000);
    const json = runMain(processor, [...flags, "--consumer", "gone-j", "--json"], 20_000);
    try {
      await text.io.err.waitFor(/Press Ctrl\+C to stop/);
      await json.io.err.waitFor(/Press Ctrl\+C to stop/);
      await server.local!.kill();
      await text.io.err.waitFor(/Connection to \S+ lost/);
      await json.io.err.waitFor(/Connection to \S+ lost/);
      const stopped = performance.now();
      text.io.stop();
      json.io.stop();
      assert.deepEqual(await Promise.all([text.exit, json.exit]), [ExitCode.Ok, ExitCode.Ok]);
      assert.ok(performance.now() - stopped < 2000, `stopped in ${performance.now() - stopped} ms`);
    } finally {
      text.io.stop();
      json.io.stop();
      await Promise.allSettled([text.exit, json.exit]);
    }
    assert.match(
      text.io.out.text,
      /Consumer gone-t could not check its pending entries on redis:\/\/127\.0\.0\.1:\d+: it stays in the group/,
    );
    assert.doesNotMatch(text.io.out.text, /still has pending entries/);
    assert.match(text.io.out.text, /key_submission +0 +0 +0 +0 +0 +0 +0 +0 +\? +unknown /);
    const summary = JSON.parse(json.io.out.text.trim().split("\n").at(-1)!);
    assert.equal(summary.event, "summary");
    assert.equal(summary.consumer_removed, null);
    assert.equal(summary.drained, true);
  },
);
