import assert from "node:assert/strict";
import { main as demo } from "../../scripts/demo_events.ts";
import { main as processor } from "../../scripts/event_processor.ts";
import { Connection } from "../../lib/core/client.ts";
import { ExitCode } from "../../lib/core/exit_codes.ts";
import { Reporter } from "../../lib/core/output.ts";
import { captureIo, ownServerTest, runMain, ScriptProcess, testClient, testServer } from "../harness.ts";

Deno.test("demo_events shows the whole round trip through a running event_processor", async () => {
  await using server = await testServer();
  const proc = captureIo();
  const running = processor(["--url", server.url, "--stats-interval", "0"], proc);
  await proc.out.waitFor(/subscribed to profile_events/);
  try {
    const io = captureIo();
    assert.equal(await demo(["--url", server.url], io), ExitCode.Ok);
    assert.match(io.out.text, /→ published key_submitted on key_submission \(1 receiver\) id [0-9a-f-]{36}\n/);
    assert.match(io.out.text, /→ published profile_created on profile_events \(1 receiver\)/);
    assert.match(io.out.text, /→ published custom on my_topic \(0 receivers\) id [0-9a-f-]{36} — nobody listens there/);
    assert.match(io.out.text, /← key_processed for key_submitted [0-9a-f]{8} on processing_results after [\d.]+ ms:/);
    assert.match(io.out.text, /← profile_processed for profile_created [0-9a-f]{8}/);
    assert.match(io.out.text, /"valid": true,\n\s+"length": 6,\n\s+"token_name": "Token1"/);
    assert.match(io.out.text, /✓ Round trip complete: 2 of 2 results back\./);
    assert.match(io.err.text, /Waiting up to 5 s for 2 result\(s\) on processing_results/);
  } finally {
    proc.stop();
    assert.equal(await running, ExitCode.Ok);
  }
  assert.match(proc.out.text, /Processed 2 event\(s\)/);
});

Deno.test("demo_events --json gives one object per step, as a real process", async () => {
  await using server = await testServer();
  const proc = captureIo();
  const running = processor(["--url", server.url, "--quiet", "--stats-interval", "0"], proc);
  await proc.out.waitFor(/subscribed to profile_events/);
  try {
    await using p = new ScriptProcess("demo_events.ts", ["--url", server.url, "--json"]);
    assert.equal(await p.exit(), ExitCode.Ok);
    const lines = p.out.text.trim().split("\n").map((l) => JSON.parse(l));
    // A result may arrive while the demo is still publishing: only the counts and the ends are fixed.
    const kinds = lines.map((l) => l.event);
    assert.deepEqual([kinds[0], kinds.at(-1)], ["published", "summary"]);
    assert.deepEqual([kinds.filter((k) => k === "published").length, kinds.filter((k) => k === "result").length], [
      3,
      2,
    ]);
    assert.deepEqual(lines.at(-1), { ...lines.at(-1), expected: 2, received: 2 });
    const keyResult = lines.find((l) => l.result?.event_type === "key_processed");
    assert.equal(keyResult.result.original_event.id, lines[0].id);
    assert.equal(typeof keyResult.round_trip_ms, "number");
  } finally {
    proc.stop();
    await running;
  }
});

Deno.test("demo_events says to start the processor when nobody listens, without waiting", async () => {
  await using server = await testServer();
  const io = captureIo();
  const started = Date.now();
  assert.equal(await demo(["--url", server.url, "--timeout", "30s"], io), ExitCode.Timeout);
  assert.ok(Date.now() - started < 5000);
  assert.match(io.out.text, /key_submitted on key_submission \(0 receivers\).*no event processor is listening/);
  assert.match(
    io.err.text,
    /Nobody is listening on key_submission\. Start the processor in another terminal: deno run -A scripts\/event_processor\.ts/,
  );
});

Deno.test("demo_events times out with the timeout code when results do not come back", async () => {
  await using server = await testServer();
  // A listener that receives the events but never answers.
  const conn = await Connection.open({ url: server.url, reporter: new Reporter(captureIo().stderr) });
  try {
    await conn.redis.subscribe("key_submission", "profile_events");
    const io = captureIo();
    assert.equal(await demo(["--url", server.url, "--timeout", "300ms"], io), ExitCode.Timeout);
    assert.match(
      io.err.text,
      /Got 0 of 2 result\(s\) within 0\.3 s; none came back for: key_submitted, profile_created\./,
    );
    assert.match(io.err.text, /Is event_processor\.ts running against the same server\?/);
  } finally {
    await conn.close();
  }
});

Deno.test("demo_events: Ctrl+C while waiting for results is a normal stop, with how many came back", async () => {
  await using server = await testServer();
  // A listener that receives the events but never answers.
  const conn = await Connection.open({ url: server.url, reporter: new Reporter(captureIo().stderr) });
  try {
    await conn.redis.subscribe("key_submission", "profile_events");
    const { io, exit } = runMain(demo, ["--url", server.url, "--timeout", "30s"], 10_000);
    await io.err.waitFor(/Waiting up to 30 s for 2 result\(s\)/);
    io.stop();
    assert.equal(await exit, ExitCode.Ok, io.err.text);
    assert.match(io.err.text, /Stopped: 0 of 2 results back\./);
    assert.doesNotMatch(io.err.text, /Got 0 of/);
  } finally {
    await conn.close();
  }
});

ownServerTest("demo_events: a server that holds PUBLISH → the timeout code within --timeout, saying so", async () => {
  await using server = await testServer({ own: true });
  await using pauser = testClient(server.url);
  try {
    await pauser.call("CLIENT", "PAUSE", "30000", "WRITE");
    const started = Date.now();
    const { io, exit } = runMain(demo, ["--url", server.url, "--timeout", "500ms"], 10_000);
    assert.equal(await exit, ExitCode.Timeout, io.err.text);
    assert.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms`);
    assert.match(io.err.text, /stopped answering: PUBLISH got no answer within 0\.5 s/);
  } finally {
    await pauser.call("CLIENT", "UNPAUSE");
  }
});
