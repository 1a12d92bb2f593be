import assert from "node:assert/strict";
import { main as demo } from "../../scripts/demo_events.ts";
import { main as processor } from "../../scripts/event_processor.ts";
import { main as publisher } from "../../scripts/publisher.ts";
import { main as tail } from "../../scripts/stream_tail.ts";
import { ExitCode } from "../../lib/core/exit_codes.ts";
import { PAYLOAD_FIELD, toEntries } from "../../lib/streams/entry.ts";
import { captureIo, ownServerTest, runMain, testClient, testServer } from "../harness.ts";

ownServerTest("publisher.ts --stream appends each message with XADD and prints its entry id", async () => {
  await using server = await testServer({ own: true });
  await using redis = testClient(server.url);
  const io = captureIo();
  const args = ["--url", server.url, "--stream", "jobs", "job {{n}}", "--repeat", "5", "--json"];
  assert.equal(await publisher(args, io), ExitCode.Ok);
  const lines = io.out.text.trim().split("\n").map((l) => JSON.parse(l));
  const entries = toEntries(await redis.xrange("jobs", "-", "+"));
  assert.deepEqual(entries.map((e) => e.fields![PAYLOAD_FIELD]), ["job 1", "job 2", "job 3", "job 4", "job 5"]);
  assert.deepEqual(lines.slice(0, 5).map((l) => l.entry_id), entries.map((e) => e.id));
  assert.equal(lines.at(-1).appended, 5);
  assert.doesNotMatch(io.err.text, /Nobody is subscribed/);
  const one = captureIo();
  assert.equal(await publisher(["--url", server.url, "--stream", "jobs", "last one"], one), ExitCode.Ok);
  assert.match(one.out.text, /→ jobs: last one {2}\(appended as \d+-\d+\)/);
});

ownServerTest("stream_tail.ts prints entries from the start, an id or a time, with --count and --json", async () => {
  await using server = await testServer({ own: true });
  await using redis = testClient(server.url);
  for (const ms of [1000, 2000, 3000]) await redis.xadd("log", `${ms}-0`, PAYLOAD_FIELD, `line ${ms}`);
  await redis.xadd("log", "4000-0", "reason", "odd\x1b", "attempts", "2");
  const all = captureIo();
  assert.equal(await tail(["--url", server.url, "log"], all), ExitCode.Ok);
  assert.equal(
    all.out.text,
    [
      "1000-0  1970-01-01T00:00:01.000Z  line 1000",
      "2000-0  1970-01-01T00:00:02.000Z  line 2000",
      "3000-0  1970-01-01T00:00:03.000Z  line 3000",
      "4000-0  1970-01-01T00:00:04.000Z  reason=odd\\x1b attempts=2",
      "",
    ].join("\n"),
  );
  const fromTime = captureIo();
  assert.equal(await tail(["--url", server.url, "log", "--from", "1970-01-01T00:00:02Z", "-n", "2"], fromTime), 0);
  assert.deepEqual(fromTime.out.text.trim().split("\n").map((l) => l.split(" ")[0]), ["2000-0", "3000-0"]);
  const fromId = captureIo();
  assert.equal(await tail(["--url", server.url, "log", "--from", "3000-0", "--json"], fromId), 0);
  const json = fromId.out.text.trim().split("\n").map((l) => JSON.parse(l));
  assert.deepEqual({ ...json[0], time: "" }, {
    event: "entry",
    time: "",
    channel: "log",
    entry_id: "3000-0",
    entry_time: "1970-01-01T00:00:03.000Z",
    fields: { payload: "line 3000" },
  });
  assert.equal(json.length, 2);
  const none = captureIo();
  assert.equal(await tail(["--url", server.url, "missing"], none), 0);
  assert.match(none.err.text, /No entries in missing from the start\./);
});

ownServerTest("stream_tail.ts --follow prints new entries until stopped", async () => {
  await using server = await testServer({ own: true });
  await using redis = testClient(server.url);
  await redis.xadd("log", "*", PAYLOAD_FIELD, "old");
  await using running = runMain(tail, ["--url", server.url, "log", "--from", "new", "--follow"]);
  // Appended until the reader, which may still be connecting, shows one.
  for (let i = 0; i < 100 && !/ new \d+/.test(running.io.out.text); i++) {
    await redis.xadd("log", "*", PAYLOAD_FIELD, `new ${i}`);
    await running.io.out.waitFor(/ new \d+/, 100).catch(() => {});
  }
  await running.io.out.waitFor(/ new \d+/);
  assert.doesNotMatch(running.io.out.text, / old/);
  running.io.stop();
  assert.equal(await running.exit, ExitCode.Ok);
});

ownServerTest("stream_tail.ts --groups shows consumers, pending, idle, lag and dead letters", async () => {
  await using server = await testServer({ own: true });
  await using redis = testClient(server.url);
  await redis.xgroup("CREATE", "jobs", "workers", "0", "MKSTREAM");
  for (let i = 0; i < 3; i++) await redis.xadd("jobs", "*", PAYLOAD_FIELD, `job ${i}`);
  await redis.xreadgroup("GROUP", "workers", "w1", "COUNT", 2, "STREAMS", "jobs", ">");
  await redis.xadd("jobs:dead", "*", PAYLOAD_FIELD, "x", "reason", "bad");
  const io = captureIo();
  assert.equal(await tail(["--url", server.url, "jobs", "--groups"], io), ExitCode.Ok);
  assert.match(io.out.text, /^jobs: 3 entries; 1 in jobs:dead$/m);
  assert.match(
    io.out.text,
    /^ {2}group workers: 1 consumer\(s\), 2 pending, lag (1|unknown), last delivered \d+-\d+$/m,
  );
  assert.match(io.out.text, /^ {4}w1 +2 pending {2}idle \d+ ms$/m);
  const json = captureIo();
  assert.equal(await tail(["--url", server.url, "jobs", "--groups", "--json"], json), ExitCode.Ok);
  const groups = JSON.parse(json.out.text);
  assert.equal(groups.dead_letters, 1);
  assert.equal(groups.groups[0].consumers[0].pending, 2);
  assert.ok(groups.groups[0].lag === null || groups.groups[0].lag === 1, "lag where the server reports it");
  const bad = captureIo();
  assert.equal(await tail(["--url", server.url, "jobs", "--groups", "--follow"], bad), ExitCode.Usage);
  assert.equal(await tail(["--url", server.url], captureIo()), ExitCode.Usage);
});

ownServerTest("demo_events.ts --durable: the round trip through event_processor --durable, by entry id", async () => {
  await using server = await testServer({ own: true });
  await using proc = runMain(processor, ["--url", server.url, "--durable", "--consumer", "p", "--stats-interval", "0"]);
  await proc.io.err.waitFor(/Press Ctrl\+C to stop/);
  const io = captureIo();
  assert.equal(await demo(["--url", server.url, "--durable"], io), ExitCode.Ok);
  assert.match(io.out.text, /→ appended key_submitted to key_submission as (\d+-\d+), id [0-9a-f-]{36}\n/);
  assert.match(
    io.out.text,
    /→ appended custom to my_topic as \d+-\d+, id [0-9a-f-]{36} — no processor reads that stream/,
  );
  assert.match(
    io.out.text,
    /← key_processed for key_submitted [0-9a-f]{8} \(key_submission \d+-\d+\) on processing_results as \d+-\d+ after/,
  );
  assert.match(io.out.text, /"source_entry_id": "\d+-\d+"/);
  assert.match(io.out.text, /✓ Round trip complete: 2 of 2 results back\./);
  const many = captureIo();
  assert.equal(await demo(["--url", server.url, "--durable", "--count", "300", "--json"], many), ExitCode.Ok);
  const summary = JSON.parse(many.out.text.trim().split("\n").at(-1)!);
  assert.deepEqual({ ...summary, time: "", seconds: 0 }, {
    event: "summary",
    time: "",
    expected: 300,
    received: 300,
    duplicates: 0,
    seconds: 0,
    stopped: false,
  });
});

ownServerTest(
  "demo_events.ts --durable without a processor: the events wait in their streams, exit code 4",
  async () => {
    await using server = await testServer({ own: true });
    await using redis = testClient(server.url);
    const io = captureIo();
    assert.equal(await demo(["--url", server.url, "--durable", "--timeout", "200ms"], io), ExitCode.Timeout);
    assert.match(
      io.err.text,
      /2 of 2 result\(s\) did not come back within 0\.2 s\. The events are kept in their streams/,
    );
    assert.equal(await redis.xlen("key_submission"), 1);
    assert.equal(await redis.xlen("profile_events"), 1);
    const bad = captureIo();
    assert.equal(await demo(["--count", "5"], bad), ExitCode.Usage);
    assert.match(bad.err.text, /--count goes with --durable/);
  },
);
