import assert from "node:assert/strict";
import { main as publisher } from "../../scripts/publisher.ts";
import { main as subscriber } from "../../scripts/subscriber.ts";
import { demoMessages } from "../../lib/pubsub/demo_messages.ts";
import { ExitCode } from "../../lib/core/exit_codes.ts";
import { captureIo, ScriptProcess, testServer } from "../harness.ts";

Deno.test("lab 1 in two terminals: the subscriber prints all six demo messages", async () => {
  await using server = await testServer();
  await using sub = new ScriptProcess("subscriber.ts", ["--url", server.url]);
  await sub.out.waitFor(/subscribed to pattern alerts:\* \(3 active\)/, 20_000);
  assert.match(sub.out.text, /subscribed to channel system_notifications \(1 active\)/);
  assert.match(sub.out.text, /subscribed to channel chat:general \(2 active\)/);

  await using pub = new ScriptProcess("publisher.ts", ["--url", server.url]);
  assert.equal(await pub.exit(), ExitCode.Ok);
  assert.equal(pub.out.count(/received by 1 subscriber\)/), 6);

  await sub.out.waitFor(/alerts:disk_space: CRITICAL/);
  for (const { channel, payload } of demoMessages()) {
    const text = String(payload);
    if (channel.startsWith("alerts:")) {
      const prefix = text.startsWith("{") ? text.slice(0, 20) : text;
      assert.ok(sub.out.text.includes(`pmessage alerts:* matched ${channel}: ${prefix}`), `${channel} via pattern`);
    } else {
      assert.ok(sub.out.text.includes(`message  ${channel}: ${text}`), `${channel}: ${text}`);
    }
  }
  sub.kill("SIGINT");
  assert.equal(await sub.exit(), ExitCode.Ok);
  assert.match(sub.out.text, /Received 6 message\(s\)/);
  assert.match(
    sub.out.text,
    /system_notifications +2\n +chat:general +2\n +alerts:cpu_load +1\n +alerts:disk_space +1/,
  );
});

Deno.test("lab 2: what is published while the subscriber is away is gone", async () => {
  await using server = await testServer();
  const missed = captureIo();
  assert.equal(await publisher(["--url", server.url, "lab2:chat", "while you were away"], missed), ExitCode.Ok);
  assert.match(missed.out.text, /received by 0 subscribers/);

  const sub = captureIo();
  const running = subscriber(["--url", server.url, "lab2:chat", "--count", "1"], sub);
  await sub.out.waitFor(/subscribed/);
  const later = captureIo();
  assert.equal(await publisher(["--url", server.url, "lab2:chat", "back again"], later), ExitCode.Ok);
  assert.equal(await running, ExitCode.Ok);
  assert.match(sub.out.text, /lab2:chat: back again/);
  assert.doesNotMatch(sub.out.text, /while you were away/);
});
