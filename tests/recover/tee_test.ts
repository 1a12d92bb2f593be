/**
 * history_tee.ts: a channel published with plain PUBLISH (as redis-cli or the
 * seed's Python publisher do) recorded into a history on CHANNEL:rec, where
 * subscriber.ts --recover gets back what it missed in an outage.
 */
import assert from "node:assert/strict";
import { ownServerTest, ScriptProcess, testClient, testServer } from "../harness.ts";

ownServerTest("history_tee.ts: a plain channel made recoverable on CHANNEL:rec", async () => {
  await using server = await testServer({ own: true });
  const channel = `${server.prefix}news`;
  await using redis = testClient(server.url);
  await using tee = new ScriptProcess("history_tee.ts", [channel, "--history", "100", "--url", server.url]);
  await tee.err.waitFor(/Recording/);
  await using sub = new ScriptProcess("subscriber.ts", [`${channel}:rec`, "--recover", "--json", "--url", server.url]);
  await sub.err.waitFor(/Listening on/);
  await redis.publish(channel, "s1 ");
  await sub.out.waitFor(/"payload":"s1 "/);
  Deno.kill(sub.pid, "SIGSTOP");
  try {
    await redis.call("CLIENT", "KILL", "TYPE", "pubsub", "SKIPME", "yes");
    // The tee was cut off too: wait for it to be back before publishing, it cannot recover its own outages.
    await tee.err.waitFor(/Reconnected/);
    for (let i = 2; i <= 6; i++) await redis.publish(channel, `s${i} `);
    await tee.out.waitFor(/#6/);
  } finally {
    Deno.kill(sub.pid, "SIGCONT");
  }
  await sub.out.waitFor(/"payload":"s6 "/);
  sub.kill("SIGINT");
  assert.equal(await sub.exit(), 0, sub.err.text);
  tee.kill("SIGINT");
  assert.equal(await tee.exit(), 0, tee.err.text);
  const messages = sub.out.text.trim().split("\n").map((l) => JSON.parse(l)).filter((e) => e.event === "message");
  assert.deepEqual(messages.map((m) => m.payload), ["s1 ", "s2 ", "s3 ", "s4 ", "s5 ", "s6 "]);
  assert.deepEqual(messages.map((m) => m.recovered ?? false), [false, true, true, true, true, true]);
  assert.match(tee.out.text, /Recorded 6 message\(s\)/);
});
