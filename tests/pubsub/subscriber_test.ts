import assert from "node:assert/strict";
import { main as publisher } from "../../scripts/publisher.ts";
import { main as subscriber } from "../../scripts/subscriber.ts";
import { ExitCode } from "../../lib/core/exit_codes.ts";
import { captureIo, testClient, testServer } from "../harness.ts";

Deno.test("subscriber prints confirmations, direct and pattern messages, and a summary", async () => {
  await using server = await testServer();
  const sub = captureIo();
  const running = subscriber(["--url", server.url, "t1:chan", "-p", "t1:alerts:*", "--count", "2"], sub);
  await sub.out.waitFor(/subscribed to pattern t1:alerts:\* \(2 active\)/);
  const pub = captureIo();
  assert.equal(await publisher(["--url", server.url, "t1:chan", "hello"], pub), ExitCode.Ok);
  assert.equal(await publisher(["--url", server.url, "t1:alerts:cpu", "hot"], pub), ExitCode.Ok);
  assert.equal(await running, ExitCode.Ok);
  assert.match(sub.out.text, /message +t1:chan: hello/);
  assert.match(sub.out.text, /pmessage t1:alerts:\* matched t1:alerts:cpu: hot/);
  assert.match(sub.out.text, /Received 2 message\(s\)/);
  assert.match(pub.out.text, /received by 1 subscriber/);
});

Deno.test("subscriber --timeout exits with the timeout code when nothing arrives", async () => {
  await using server = await testServer();
  const io = captureIo();
  const started = Date.now();
  assert.equal(await subscriber(["--url", server.url, "t2:quiet", "--timeout", "300ms"], io), ExitCode.Timeout);
  assert.ok(Date.now() - started < 3000);
  assert.match(io.err.text, /Nothing received within 0.3 s/);
});

Deno.test("subscriber stops cleanly when asked, as on Ctrl+C", async () => {
  await using server = await testServer();
  const io = captureIo();
  const running = subscriber(["--url", server.url, "t3:chan", "--json"], io);
  await io.out.waitFor(/"event":"subscribe"/);
  io.stop();
  assert.equal(await running, ExitCode.Ok);
  const last = JSON.parse(io.out.text.trim().split("\n").at(-1)!);
  assert.equal(last.event, "summary");
  assert.equal(last.messages, 0);
});

Deno.test("subscriber stopped just after a publisher was told it received: every such message is counted", async () => {
  await using server = await testServer();
  await using pub = testClient(server.url);
  const channel = `${server.prefix}drain`;
  // The stop comes the moment the replies say "received by 1": some of those messages are still unread then.
  for (let round = 0; round < 5; round++) {
    const io = captureIo();
    const running = subscriber(["--url", server.url, channel, "--quiet", "--json"], io);
    await io.out.waitFor(/"event":"subscribe"/);
    const pipe = pub.pipeline();
    for (let i = 0; i < 2000; i++) pipe.publish(channel, `m${i}`);
    const receivers = (await pipe.exec())!.map(([, n]) => n);
    io.stop();
    assert.equal(await running, ExitCode.Ok);
    assert.ok(receivers.every((n) => n === 1), "each reached the subscriber");
    const summary = JSON.parse(io.out.text.trim().split("\n").at(-1)!);
    assert.equal(summary.messages, 2000, `round ${round}`);
  }
});

Deno.test("subscriber escapes control characters in channel names, so a publisher cannot forge lines", async () => {
  await using server = await testServer();
  const io = captureIo();
  const running = subscriber(["--url", server.url, "-p", "t4:*", "--count", "1"], io);
  await io.out.waitFor(/subscribed to pattern/);
  const pub = captureIo();
  const evil = "t4:x\x1b[31mRED\nforged 00:00:00.000 message  chat:general: hi";
  assert.equal(await publisher(["--url", server.url, evil, "payload"], pub), ExitCode.Ok);
  assert.equal(await running, ExitCode.Ok);
  assert.ok(!io.out.text.includes("\x1b"), "no raw ESC reaches the output");
  assert.doesNotMatch(io.out.text, /^forged/m);
  assert.match(io.out.text, /t4:x\\x1b\[31mRED\\nforged/);
  assert.ok(!pub.out.text.includes("\x1b"), "no raw ESC in the publisher's output");
});
