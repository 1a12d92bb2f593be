import assert from "node:assert/strict";
import { main as processor } from "../../scripts/event_processor.ts";
import { Connection } from "../../lib/core/client.ts";
import { type EventEnvelope, isIsoTimestamp } from "../../lib/events/envelope.ts";
import { hostName, parseProcessorStats, type ProcessorStatsEvent } from "../../lib/events/processor_stats.ts";
import { EventPublisher } from "../../lib/events/publisher.ts";
import { EventSubscriber } from "../../lib/events/subscriber.ts";
import { ExitCode } from "../../lib/core/exit_codes.ts";
import { freePort } from "../../lib/core/local_server.ts";
import { Reporter } from "../../lib/core/output.ts";
import { PublishLane } from "../../lib/pubsub/publish_lane.ts";
import { rssBytes } from "../bench/bench_kit.ts";
import {
  captureIo,
  channelMessages,
  eventually,
  ownServerTest,
  runMain,
  ScriptProcess,
  testClient,
  testServer,
} from "../harness.ts";

/** A plain client for publishing, closed at the end of the test. */
async function openClient(url: string) {
  const conn = await Connection.open({ url, reporter: new Reporter(captureIo().stderr) });
  return { redis: conn.redis, [Symbol.asyncDispose]: () => conn.close() };
}

/** Collects everything published on processing_results. */
async function resultsListener(url: string) {
  const conn = await Connection.open({ url, reporter: new Reporter(captureIo().stderr) });
  const results: EventEnvelope[] = [];
  let wake = () => {};
  const subscriber = new EventSubscriber(conn.redis, {
    topics: { processing_results: (e) => void (results.push(e), wake()) },
    concurrency: 1,
  });
  await subscriber.start();
  return {
    results,
    /** Resolves once `n` results are in; fails after `ms`. */
    waitFor(n: number, ms = 10_000): Promise<void> {
      if (results.length >= n) return Promise.resolve();
      const { promise, resolve, reject } = Promise.withResolvers<void>();
      const timer = setTimeout(() => reject(new Error(`only ${results.length} of ${n} results`)), ms);
      wake = () => {
        if (results.length >= n) (clearTimeout(timer), resolve());
      };
      return promise;
    },
    async [Symbol.asyncDispose]() {
      await subscriber.shutdown(1000);
      await conn.close();
    },
  };
}

Deno.test("event_processor publishes a result for each event kind and reports malformed ones", async () => {
  await using server = await testServer();
  await using listener = await resultsListener(server.url);
  const io = captureIo();
  const running = processor(["--url", server.url, "--stats-interval", "0"], io);
  await io.out.waitFor(/subscribed to profile_events \(2 active\)/);

  await using pub = await openClient(server.url);
  const publisher = new EventPublisher(pub.redis, { source: "test" });
  assert.equal(await publisher.keySubmitted("abc123", "Token1"), 1);
  // The seed's own shape: no id, a timestamp without a zone.
  const seed = { event_type: "key_submitted", key_value: "k2", token_name: "T2", timestamp: "2024-01-01T10:00:00" };
  assert.equal(await pub.redis.publish("key_submission", JSON.stringify(seed)), 1);
  await publisher.keySubmitted(" padded");
  await publisher.profileCreated(1, { dll_path: "/path/to/file.dll", token_name: "Profile Name", active: true });
  await publisher.profileUpdated("p-2", { active: false });
  await publisher.profileDeleted(3);
  // Malformed: not JSON, not an envelope, wrong type for the topic, missing fields.
  await pub.redis.publish("key_submission", "hello");
  await pub.redis.publish("key_submission", JSON.stringify({ event_type: "key_submitted" }));
  await publisher.publish("key_submission", { event_type: "profile_created", profile_id: 1 });
  await publisher.publish("key_submission", { event_type: "key_submitted", key_value: 42 });
  await publisher.publish("profile_events", { event_type: "profile_moved", profile_id: 1 });
  await publisher.publish("profile_events", { event_type: "profile_created", profile_data: {} });
  await listener.waitFor(6);
  await io.err.waitFor(/profile_created needs profile_id/);

  const [key, seedResult, padded, created, updated, deleted] = listener.results;
  assert.equal(key!.event_type, "key_processed");
  assert.equal(key!.source, "event_processor");
  assert.equal((key!.original_event as EventEnvelope).key_value, "abc123");
  const keyResult = key!.result as Record<string, unknown>;
  assert.deepEqual({ ...keyResult, processed_at: "t" }, {
    valid: true,
    length: 6,
    token_name: "Token1",
    processed_at: "t",
  });
  assert.ok(isIsoTimestamp(keyResult.processed_at as string));
  assert.deepEqual(seedResult!.original_event, seed);
  assert.deepEqual((seedResult!.result as Record<string, unknown>).token_name, "T2");
  assert.deepEqual(
    { ...padded!.result as Record<string, unknown>, processed_at: "t" },
    {
      valid: false,
      length: 7,
      token_name: null,
      processed_at: "t",
      reason: "the key has leading or trailing whitespace",
    },
  );
  assert.deepEqual(
    [created, updated, deleted].map((r) => ({ ...r!.result as Record<string, unknown>, processed_at: "t" })),
    [
      { action: "created", profile_id: 1, fields: ["dll_path", "token_name", "active"], processed_at: "t" },
      { action: "updated", profile_id: "p-2", fields: ["active"], processed_at: "t" },
      { action: "deleted", profile_id: 3, fields: [], processed_at: "t" },
    ],
  );
  assert.ok([created, updated, deleted].every((r) => r!.event_type === "profile_processed"));

  assert.match(io.out.text, /key_submission key_submitted [0-9a-f]{8} → key_processed: valid, 6 chars, token "Token1"/);
  assert.match(io.out.text, /key_submission key_submitted \(no id\) → key_processed: valid, 2 chars, token "T2"/);
  assert.match(io.out.text, /profile_events profile_created [0-9a-f]{8} → profile_processed: created profile 1/);
  assert.match(io.err.text, /Malformed event on key_submission: the payload is not JSON\. Payload: hello/);
  assert.match(io.err.text, /Malformed event on key_submission: timestamp is missing/);
  assert.match(io.err.text, /key_submission carries key_submitted, got "profile_created"/);
  assert.match(io.err.text, /key_submitted needs key_value as a string/);
  assert.match(io.err.text, /profile_events carries profile_created, profile_updated and profile_deleted/);

  io.stop();
  assert.equal(await running, ExitCode.Ok);
  assert.match(io.out.text, /Processed 6 event\(s\)/);
  assert.match(io.out.text, /key_submission +7 +3 +0 +4 +0 /);
  assert.match(io.out.text, /profile_events +5 +3 +0 +2 +0 /);
});

Deno.test("event_processor --json prints each result, periodic statistics and a summary", async () => {
  await using server = await testServer();
  const io = captureIo();
  const running = processor(["--url", server.url, "--json", "--stats-interval", "200ms", "-c", "4"], io);
  await io.out.waitFor(/"channel":"profile_events","active":2/);
  await using pub = await openClient(server.url);
  await new EventPublisher(pub.redis).keySubmitted("abc123");
  await io.out.waitFor(/"event":"processed"/);
  await io.out.waitFor(/"event":"stats".*"processed":1/);
  io.stop();
  assert.equal(await running, ExitCode.Ok);
  const lines = io.out.text.trim().split("\n").map((l) => JSON.parse(l));
  const processed = lines.find((l) => l.event === "processed");
  assert.equal(processed.result.valid, true);
  assert.equal(processed.receivers, 0);
  const summary = lines.at(-1);
  assert.equal(summary.event, "summary");
  assert.equal(summary.processed, 1);
  assert.equal(summary.drained, true);
  assert.deepEqual(summary.topics.map((t: { topic: string }) => t.topic), ["key_submission", "profile_events"]);
  assert.equal(summary.topics[0].received, 1);
  assert.equal(typeof summary.topics[0].p50_ms, "number");
});

Deno.test("event_processor stops cleanly on SIGINT as a real process", async () => {
  await using server = await testServer();
  await using p = new ScriptProcess("event_processor.ts", ["--url", server.url, "--quiet"]);
  await p.err.waitFor(/Press Ctrl\+C to stop/, 20_000);
  p.kill("SIGINT");
  assert.equal(await p.exit(), ExitCode.Ok);
  assert.match(p.out.text, /Processed 0 event\(s\)/);
  assert.match(p.err.text, /Stopping: waiting up to 5 s/);
});

Deno.test("event_processor refuses bad flags and a missing server with their exit codes", async () => {
  const io = captureIo();
  assert.equal(await processor(["--concurrency", "0"], io), ExitCode.Usage);
  assert.match(io.err.text, /--concurrency must be between 1 and 100000, got 0/);
  const port = await freePort();
  const io2 = captureIo();
  assert.equal(await processor(["--url", `redis://127.0.0.1:${port}`], io2), ExitCode.Connect);
  assert.match(io2.err.text, /Cannot connect to redis:\/\/127\.0\.0\.1:\d+: connection refused/);
});

ownServerTest("event_processor keeps processing after the server restarts", async () => {
  await using server = await testServer({ own: true });
  const io = captureIo();
  const running = processor(["--url", server.url, "--stats-interval", "0"], io);
  try {
    await io.out.waitFor(/subscribed to profile_events/);
    await server.local!.stop();
    await io.err.waitFor(/Connection to redis:\/\/127\.0\.0\.1:\d+ lost.*Events published until it is back are lost/);
    await server.local!.start();
    // Both connections (events in, results out) report their return.
    await io.err.waitFor(/Reconnected to redis:[^\n]+\n[\s\S]*Reconnected to redis:/, 20_000);
    await using listener = await resultsListener(server.url);
    await using pub = await openClient(server.url);
    // The publisher connection may still be reconnecting too: the result waits in its queue, not lost.
    assert.equal(await new EventPublisher(pub.redis).keySubmitted("after-restart"), 1);
    await listener.waitFor(1);
    assert.equal((listener.results[0]!.original_event as EventEnvelope).key_value, "after-restart");
  } finally {
    io.stop();
    assert.equal(await running, ExitCode.Ok);
  }
  assert.match(io.out.text, /Connection lost \d time\(s\)/);
});

Deno.test("event_processor escapes control characters in profile field names", async () => {
  await using server = await testServer();
  const io = captureIo();
  const running = processor(["--url", server.url, "--stats-interval", "0"], io);
  try {
    await io.out.waitFor(/subscribed to profile_events \(2 active\)/);
    await using pub = await openClient(server.url);
    await new EventPublisher(pub.redis, { source: "test" }).profileCreated(9, { "name\x1b[2J": "x" });
    await io.out.waitFor(/created profile 9/);
  } finally {
    io.stop();
  }
  assert.equal(await running, ExitCode.Ok);
  assert.match(io.out.text, /created profile 9 \(fields: name\\x1b\[2J\)/);
  assert.ok(!io.out.text.includes("\x1b"), "no raw escape character");
});

/** Waits for the first payload that is a processor_stats event (schema-checked) meeting `check`. */
async function statsWhere(
  payloads: string[],
  check: (s: ProcessorStatsEvent) => boolean,
  what: string,
): Promise<ProcessorStatsEvent> {
  let found: ProcessorStatsEvent | undefined;
  await eventually(() => (found = payloads.map((p) => parseProcessorStats(p)).find(check)) !== undefined, what);
  return found!;
}

Deno.test("event_processor publishes processor_stats with its counts on a timer, and a last one as it stops", async () => {
  await using server = await testServer();
  await using stats = await channelMessages(server.url, "processor_stats");
  const args = ["--url", server.url, "--stats-interval", "0", "--publish-stats", "200ms", "--quiet"];
  await using p = runMain(processor, args);
  await p.io.err.waitFor(/statistics go to processor_stats every 0\.2 s as \S+\/\d+\. Press Ctrl\+C to stop/);
  const first = await statsWhere(stats.payloads, () => true, "the first statistics");
  assert.equal(first.processed, 0);

  await using pub = await openClient(server.url);
  const publisher = new EventPublisher(pub.redis, { source: "test" });
  await publisher.keySubmitted("abc123");
  await publisher.profileCreated(1, { active: true });
  await pub.redis.publish("key_submission", "not an event");
  const counted = await statsWhere(stats.payloads, (s) => s.processed === 2 && s.malformed === 1, "the counts");
  assert.deepEqual(
    { ...counted, timestamp: "t", id: "i", uptime_seconds: 0, handled_per_second: 0 },
    {
      event_type: "processor_stats",
      timestamp: "t",
      id: "i",
      source: "event_processor",
      processor: `${hostName()}/${Deno.pid}`,
      host: hostName(),
      pid: Deno.pid,
      mode: "pubsub",
      state: "running",
      received: 3,
      processed: 2,
      failed: 0,
      malformed: 1,
      dropped: 0,
      handled_per_second: 0,
      in_flight: 0,
      queued: 0,
      uptime_seconds: 0,
      interval_seconds: 0.2,
    },
  );
  assert.ok(counted.uptime_seconds > first.uptime_seconds, "uptime grows");
  // Three events handled between two statistics 0.2 s apart: a rate above zero, in one of them.
  assert.ok(stats.payloads.map((p) => parseProcessorStats(p)).some((s) => s.handled_per_second > 0));
  p.io.stop();
  assert.equal(await p.exit, ExitCode.Ok);
  const last = await statsWhere(stats.payloads, (s) => s.state === "stopped", "the last statistics");
  assert.equal(last.processed, 2);
  assert.equal(parseProcessorStats(stats.payloads.at(-1)!).state, "stopped", "nothing after the last one");
});

Deno.test("event_processor --publish-stats 0 publishes no statistics", async () => {
  await using server = await testServer();
  await using stats = await channelMessages(server.url, "processor_stats");
  await using listener = await resultsListener(server.url);
  const args = ["--url", server.url, "--stats-interval", "0", "--publish-stats", "0", "--quiet"];
  await using p = runMain(processor, args);
  await p.io.err.waitFor(/results go to processing_results\. Press Ctrl\+C to stop/);
  await using pub = await openClient(server.url);
  await new EventPublisher(pub.redis).keySubmitted("abc123");
  await listener.waitFor(1);
  p.io.stop();
  assert.equal(await p.exit, ExitCode.Ok);
  // Whatever the processor published reached the listener before this marker, sent after it stopped.
  await pub.redis.publish("processor_stats", "marker");
  await eventually(() => stats.payloads.length > 0, "the marker");
  assert.deepEqual(stats.payloads, ["marker"]);
});

ownServerTest("event_processor --durable publishes its statistics too, on the --stats-channel given", async () => {
  await using server = await testServer({ own: true });
  const channel = "lab:stats";
  await using moved = await channelMessages(server.url, channel);
  const durable = ["--url", server.url, "--durable", "--consumer", "c1", "--stats-interval", "0", "--quiet"];
  await using second = runMain(processor, [...durable, "--publish-stats", "150ms", "--stats-channel", channel]);
  const seen = await statsWhere(moved.payloads, () => true, "statistics on the other channel");
  assert.deepEqual([seen.mode, seen.group, seen.consumer, seen.interval_seconds], [
    "durable",
    "processors",
    "c1",
    0.15,
  ]);
  second.io.stop();
  assert.equal(await second.exit, ExitCode.Ok);
  assert.match(second.io.err.text, /statistics go to lab:stats every 0\.15 s as /);
});

Deno.test("event_processor refuses --publish-stats and --stats-channel values it cannot use", async () => {
  for (
    const [args, error] of [
      [["--publish-stats", "10ms"], /--publish-stats must be 0 or at least 100ms/],
      [["--stats-channel", " "], /--stats-channel must not be empty/],
      [["--publish-stats", "0", "--stats-channel", "s"], /--stats-channel goes with statistics on/],
    ] as const
  ) {
    const io = captureIo();
    assert.equal(await processor([...args], io), ExitCode.Usage, args.join(" "));
    assert.match(io.err.text, error);
  }
});

/** What each file descriptor of a process points to: `socket:[…]`, `pipe:[…]`, `anon_inode:[eventfd]`, a path. */
function openFds(pid: number): string[] {
  return [...Deno.readDirSync(`/proc/${pid}/fd`)].flatMap((e) => {
    try {
      return [Deno.readLinkSync(`/proc/${pid}/fd/${e.name}`)];
    } catch {
      return []; // closed meanwhile
    }
  });
}

ownServerTest(
  "event_processor returns to its footprint after a flood: the backlog reader, its connection, its fds and memory go",
  async () => {
    await using server = await testServer({ own: true });
    await using redis = testClient(server.url);
    /** Connections to the server besides the test's own. */
    const theirs = async () => String(await redis.call("CLIENT", "LIST")).trim().split("\n").length - 1;
    await using p = new ScriptProcess("event_processor.ts", ["--url", server.url, "--stats-interval", "0", "--quiet"]);
    await p.err.waitFor(/Processing events on /, 20_000);
    const connections = await theirs();
    const fds = openFds(p.pid);
    const rss = rssBytes(p.pid)!;
    // 20,000 events at once, far faster than it handles them: its queue passes 1,000 and it reads its backlog.
    const lane = new PublishLane(redis);
    try {
      const batch = Array.from({ length: 1000 }, (_, i) => ({ channel: "profile_events", payload: profileEvent(i) }));
      for (let i = 0; i < 20; i++) await lane.publish(batch);
    } finally {
      await lane.close();
    }
    await eventually(async () => (await theirs()) === connections + 1, "the backlog reader's connection", 5000);
    // Kept up again (every event handled, 5 s without a pile-up): the reader goes, with its connection.
    await eventually(async () => (await theirs()) === connections, "the backlog reader to go", 20_000);
    await eventually(() => {
      const added = openFds(p.pid).filter((fd) => !fds.includes(fd));
      // What Deno keeps once a process has run a worker (one eventfd, one epoll; the same for any worker) may stay.
      return added.length <= 2 && added.every((fd) => fd.startsWith("anon_inode:"));
    }, `its ${fds.length} fds (and Deno's 2) back`);
    // Its memory comes back within 10 % once V8 and the allocator give back what the flood and the worker took.
    await eventually(() => rssBytes(p.pid)! <= rss * 1.1, `RSS back within 10 % of ${rss}`, 60_000);
    p.kill("SIGINT");
    assert.equal(await p.exit(), 0, p.err.text);
    assert.doesNotMatch(p.err.text, /Uncaught|\n\s+at /);
  },
);

/** A profile event for the flood, each with its own id. */
function profileEvent(n: number): string {
  return JSON.stringify({
    event_type: "profile_updated",
    timestamp: new Date().toISOString(),
    profile_id: `flood-${n}`,
    changes: { bio: "x".repeat(200) },
  });
}
