/**
 * Resubscribing after a reconnect: a channel the server now refuses (an ACL
 * change) is reported in one line and the others go on; when none is left
 * the script stops with exit code 8; a connection lost again in the middle
 * of resubscribing is tried again. Never an unhandled rejection.
 */
import assert from "node:assert/strict";
import { main as apiServer } from "../../scripts/api_server.ts";
import { main as eventProcessor } from "../../scripts/event_processor.ts";
import { main as keyspaceListener } from "../../scripts/keyspace_listener.ts";
import { main as kvUpdater } from "../../scripts/kv_updater.ts";
import { main as subscriber } from "../../scripts/subscriber.ts";
import { ExitCode } from "../../lib/core/exit_codes.ts";
import { delay, withTimeout } from "../../lib/core/timing.ts";
import { type CapturedIo, ownServerTest, publishUntilSeen, runMain, testClient, testServer } from "../harness.ts";

const NO_CRASH = /Uncaught|\n\s+at /;

/** A private server with user `bob` (password `pw`) allowed every key, command and the given channels. */
async function aclServer(channels: string[]) {
  const server = await testServer({ own: true, notifications: "K$" });
  const admin = testClient(server.url);
  await admin.call(
    "ACL",
    "SETUSER",
    "bob",
    "on",
    ">pw",
    "~*",
    "+@all",
    "resetchannels",
    ...channels.map((c) => `&${c}`),
  );
  const port = new URL(server.url).port;
  return {
    admin,
    url: `redis://bob:pw@127.0.0.1:${port}`,
    /** Takes channels away from bob, then cuts his connections so they reconnect. */
    async allowOnly(left: string[]) {
      await admin.call("ACL", "SETUSER", "bob", "resetchannels", ...left.map((c) => `&${c}`));
      await admin.call("CLIENT", "KILL", "USER", "bob");
    },
    async [Symbol.asyncDispose]() {
      await admin[Symbol.asyncDispose]();
      await server[Symbol.asyncDispose]();
    },
  };
}

ownServerTest(
  "subscriber reports a channel refused after an ACL change in one line and goes on with the others",
  async () => {
    await using acl = await aclServer(["news", "sport"]);
    await using s = runMain(subscriber, ["--url", acl.url, "news", "sport"]);
    await s.io.err.waitFor(/Listening on /);
    await acl.allowOnly(["sport"]);
    await s.io.err.waitFor(/Reconnected to /);
    await publishUntilSeen(() => acl.admin.publish("sport", "still here"), s.io.out.waitFor(/sport: still here/));
    s.io.stop();
    assert.equal(await s.exit, ExitCode.Ok);
    const refusals = s.io.err.text.split("\n").filter((l) => /refuses/.test(l));
    assert.equal(refusals.length, 1, s.io.err.text);
    assert.match(refusals[0]!, /refuses channel "news" for user "bob" \(NOPERM.*\): .*ACL SETUSER bob &news\b/);
    assert.match(refusals[0]!, /Going on with 1 other subscription/);
    assert.doesNotMatch(s.io.err.text, NO_CRASH);
  },
);

ownServerTest("subscriber says which channel is refused at the start and listens on the others", async () => {
  await using acl = await aclServer(["open"]);
  await using s = runMain(subscriber, ["--url", acl.url, "open", "-p", "secret:*"]);
  await s.io.err.waitFor(/Listening on /);
  assert.match(s.io.err.text, /refuses pattern "secret:\*" for user "bob" .*ACL SETUSER bob &secret:\*/);
  assert.match(s.io.out.text, /subscribed to channel open \(1 active\)/);
  s.io.stop();
  assert.equal(await s.exit, ExitCode.Ok);
});

ownServerTest("subscriber survives connections cut again and again while it resubscribes", async () => {
  await using acl = await aclServer(["news"]);
  await using s = runMain(subscriber, ["--url", acl.url, "news"]);
  await s.io.err.waitFor(/Listening on /);
  // Cut bob's connections every few ms for about 2 s: some cuts land between connect and SUBSCRIBE's reply.
  const until = Date.now() + 2000;
  for (let i = 0; i < 1000 && Date.now() < until; i++) {
    await acl.admin.call("CLIENT", "KILL", "USER", "bob").catch(() => 0);
    await delay(1 + (i % 4));
  }
  await publishUntilSeen(() => acl.admin.publish("news", "back"), s.io.out.waitFor(/news: back/));
  s.io.stop();
  assert.equal(await s.exit, ExitCode.Ok);
  assert.doesNotMatch(s.io.err.text, NO_CRASH);
  assert.doesNotMatch(s.io.err.text, /refuses/);
});

interface Case {
  name: string;
  main: (args: string[], io: CapturedIo) => Promise<number>;
  args: string[];
  channels: string[];
  ready: RegExp;
}

const CASES: Case[] = [
  { name: "subscriber", main: subscriber, args: ["news"], channels: ["news"], ready: /Listening on / },
  { name: "kv_updater", main: kvUpdater, args: [], channels: ["update"], ready: /Listening on channel/ },
  {
    name: "event_processor",
    main: eventProcessor,
    args: [],
    channels: ["key_submission", "profile_events", "processing_results"],
    ready: /Processing events on /,
  },
  {
    name: "api_server",
    main: apiServer,
    args: ["--port", "0"],
    channels: ["update"],
    ready: /API server listening on /,
  },
  {
    name: "keyspace_listener",
    main: keyspaceListener,
    args: ["--no-handshake"],
    channels: ["__keyspace@0__:shared_key"],
    ready: /Listening on /,
  },
];

for (const c of CASES) {
  ownServerTest(
    `${c.name} stops with exit code 8 and one line when the server refuses every channel after a reconnect`,
    async () => {
      await using acl = await aclServer(c.channels);
      await using s = runMain(c.main, ["--url", acl.url, ...c.args]);
      await s.io.err.waitFor(c.ready);
      await acl.allowOnly(["something_else"]);
      const code = await withTimeout(s.exit, 15_000, () => new Error(`Still running:\n${s.io.err.text}`));
      assert.equal(code, ExitCode.NoSubscription, s.io.err.text);
      const err = s.io.err.text;
      assert.match(err, /refuses every channel and pattern asked for, for user "bob": .*ACL SETUSER bob &/);
      assert.doesNotMatch(err, NO_CRASH);
    },
  );
}

ownServerTest("subscriber counts a server restart apart from drops for falling behind", async () => {
  await using server = await testServer({ own: true });
  await using s = runMain(subscriber, ["--url", server.url, "news"]);
  await s.io.err.waitFor(/Listening on /);
  await server.local!.stop();
  await s.io.err.waitFor(/ lost\b/);
  await server.local!.start();
  await s.io.err.waitFor(/Reconnected to /, 20_000);
  s.io.stop();
  assert.equal(await s.exit, ExitCode.Ok);
  assert.match(s.io.out.text, /Connection lost 1 time\(s\).*\n {2}1 time\(s\): the server restarted\./);
  assert.doesNotMatch(s.io.out.text + s.io.err.text, /fell behind/);
});

ownServerTest(
  "subscriber closed by the server while it keeps up with a steady flow is not counted as fallen behind",
  async () => {
    await using server = await testServer({ own: true });
    await using redis = testClient(server.url);
    await using s = runMain(subscriber, ["--url", server.url, "news"]);
    await s.io.err.waitFor(/Listening on /);
    // 200 messages every 10 ms, none cut short by the close: a subscriber that keeps up gets each one whole.
    const flowing = new AbortController();
    const flow = (async () => {
      for (let i = 0; i < 1000 && !flowing.signal.aborted; i++) {
        const p = redis.pipeline();
        for (let k = 0; k < 200; k++) p.publish("news", `steady ${i} ${k} ${"x".repeat(100)}`);
        await p.exec();
        await delay(10);
      }
    })();
    try {
      await s.io.out.waitFor(/steady 3 /);
      await redis.call("CLIENT", "KILL", "TYPE", "pubsub");
      await s.io.err.waitFor(/Reconnected to /, 15_000);
    } finally {
      flowing.abort();
      await flow;
    }
    s.io.stop();
    assert.equal(await s.exit, ExitCode.Ok);
    assert.match(s.io.out.text, /Connection lost 1 time\(s\)/);
    assert.doesNotMatch(s.io.out.text + s.io.err.text, /fell behind/);
  },
);
