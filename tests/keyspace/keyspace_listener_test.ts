import assert from "node:assert/strict";
import { main as listener } from "../../scripts/keyspace_listener.ts";
import { main as writer } from "../../scripts/keyspace_writer.ts";
import { ExitCode } from "../../lib/core/exit_codes.ts";
import { LocalServer } from "../../lib/core/local_server.ts";
import { flagLetters } from "../../lib/keyspace/notify_flags.ts";
import {
  captureIo,
  ownServerTest,
  replicaPair,
  runMain,
  testClient,
  testServer,
  twoNodes,
  twoNodeTest,
} from "../harness.ts";

const LISTENING = /Listening on /;

Deno.test("keyspace_listener turns on the missing flags, keeps the others, and sees the first event", async () => {
  await using server = await testServer({ notifications: "Ex" });
  const [key, handshake] = [`${server.prefix}shared_key`, `${server.prefix}handshake_key`];
  await using redis = testClient(server.url);
  await using l = runMain(listener, ["--url", server.url, "--key", key, "--handshake-key", handshake, "--count", "1"]);
  const io = l.io;
  await io.err.waitFor(LISTENING);
  await redis.set(key, `t1 timestamp ${Date.now()}`);
  assert.equal(await l.exit, ExitCode.Ok);
  assert.match(io.err.text, /notify-keyspace-events "xE" → "\S+" \(added K\$\)/);
  const flags = flagLetters(((await redis.config("GET", "notify-keyspace-events")) as string[])[1]!);
  for (const letter of "ExK$") assert.ok(flags.has(letter), `flag ${letter} is on`);
  assert.match(io.out.text, new RegExp(`set ${key}: t1 timestamp \\d{13} · delay \\d+ ms · ✓ ${handshake}`));
  assert.match((await redis.get(handshake))!, /^listener handshake \d{13} for t1 timestamp \d{13}$/);
});

ownServerTest("keyspace_listener --no-config leaves the server alone and says what is missing", async () => {
  await using server = await testServer();
  await using redis = testClient(server.url);
  await using l = runMain(listener, ["--url", server.url, "--key", `${server.prefix}k`, "--no-config"]);
  const io = l.io;
  await io.err.waitFor(LISTENING);
  io.stop();
  assert.equal(await l.exit, ExitCode.Ok);
  assert.match(io.err.text, /notify-keyspace-events is "" on .*it lacks K\$.*--no-config: left unchanged/);
  assert.deepEqual(await redis.config("GET", "notify-keyspace-events"), ["notify-keyspace-events", ""]);
});

/** A server whose user `lab` may do everything but CONFIG. */
async function aclServer(notifications: string): Promise<{ server: LocalServer; url: string }> {
  const server = await LocalServer.start({ notifications });
  await using admin = testClient(server.url);
  await admin.call("ACL", "SETUSER", "lab", "on", ">s3cret-pw", "~*", "&*", "+@all", "-config");
  return { server, url: `redis://lab:s3cret-pw@127.0.0.1:${server.port}` };
}

ownServerTest(
  "keyspace_listener: CONFIG refused by ACL and notifications off → exit 5 naming the value to ask for",
  async () => {
    const { server, url } = await aclServer("");
    await using _server = server;
    const io = captureIo();
    assert.equal(await listener(["--url", url], io), ExitCode.ConfigRefused);
    assert.match(io.err.text, /NOPERM/);
    assert.match(io.err.text, /Ask the operator to set notify-keyspace-events to "K\$"/);
    assert.doesNotMatch(io.err.text + io.out.text, /s3cret-pw/);
  },
);

ownServerTest(
  "keyspace_listener: CONFIG refused by ACL but notifications on → a probe proves it and it works",
  async () => {
    const { server, url } = await aclServer("KEA");
    await using _server = server;
    await using redis = testClient(server.url);
    await using l = runMain(listener, ["--url", url, "--count", "1"]);
    const io = l.io;
    await io.err.waitFor(LISTENING);
    await redis.set("shared_key", `t4 timestamp ${Date.now()}`);
    assert.equal(await l.exit, ExitCode.Ok);
    assert.match(io.err.text, /CONFIG is refused .*NOPERM.*a probe key showed notifications K\$ are on/);
    assert.match(io.out.text, /set shared_key: t4 timestamp/);
  },
);

ownServerTest("keyspace_listener: CONFIG renamed away → exit 5 when off, works when on", async () => {
  const renamed = ["--rename-command", "CONFIG", ""];
  {
    await using off = await testServer({ own: true, args: renamed });
    const io = captureIo();
    assert.equal(await listener(["--url", off.url, "--event", "hset"], io), ExitCode.ConfigRefused);
    assert.match(io.err.text, /unknown command/i);
    assert.match(io.err.text, /notify-keyspace-events to "Kh"/);
  }
  await using on = await testServer({ own: true, args: renamed, notifications: "K$" });
  await using redis = testClient(on.url);
  await using l = runMain(listener, ["--url", on.url, "--count", "1", "--json"]);
  const io = l.io;
  await io.err.waitFor(LISTENING);
  await redis.set("shared_key", "no stamp here");
  assert.equal(await l.exit, ExitCode.Ok);
  const event = JSON.parse(io.out.text.split("\n")[0]!);
  assert.deepEqual(
    [event.event, event.key, event.key_event, event.value, event.delay_ms, event.handshake],
    ["notification", "shared_key", "set", "no stamp here", null, true],
  );
});

Deno.test("keyspace_listener gives a delay for seconds, milliseconds and ISO-8601 stamps", async () => {
  await using server = await testServer();
  const key = `${server.prefix}shared_key`;
  await using redis = testClient(server.url);
  const args = ["--url", server.url, "--key", key, "--handshake-key", `${server.prefix}handshake_key`];
  await using l = runMain(listener, [...args, "--count", "3", "--json", "--no-handshake"]);
  const io = l.io;
  await io.err.waitFor(LISTENING);
  await redis.set(key, `Python01 timestamp ${Math.floor(Date.now() / 1000)}`);
  await io.out.waitFor(/"event":"notification"/);
  await redis.set(key, `writer timestamp ${Date.now()}`);
  await io.out.waitFor(/("event":"notification"[\s\S]*){2}/);
  await redis.set(key, `at ${new Date().toISOString()}`);
  assert.equal(await l.exit, ExitCode.Ok);
  const events = io.out.text.trim().split("\n").map((l) => JSON.parse(l)).filter((e) => e.event === "notification");
  assert.deepEqual(events.map((e) => e.stamp_resolution_ms), [1000, 1, 1]);
  for (const e of events) {
    assert.equal(typeof e.delay_ms, "number");
    assert.ok(e.delay_ms >= 0 && e.delay_ms < 5000, `plausible delay ${e.delay_ms}`);
    assert.equal(e.handshake, false);
  }
  assert.equal(await redis.exists(`${server.prefix}handshake_key`), 0);
});

Deno.test("keyspace_listener reports hash, deleted and expired keys without crashing", async () => {
  await using server = await testServer();
  const p = server.prefix;
  await using redis = testClient(server.url);
  const args = ["--url", server.url, "--key", `${p}t6:*`, "--handshake-key", `${p}handshake_key`];
  await using l = runMain(listener, [
    ...args,
    "--event",
    "hset",
    "--event",
    "del",
    "--event",
    "expired",
    "--count",
    "3",
  ]);
  const io = l.io;
  await io.err.waitFor(/Listening on .*keyevent __keyevent@0__:hset, __keyevent@0__:del, __keyevent@0__:expired/);
  await redis.set(`${p}other:key`, "not watched");
  await redis.hset(`${p}t6:hash`, "name", "ann", "ts", String(Math.floor(Date.now() / 1000)));
  await io.out.waitFor(new RegExp(`hset ${p}t6:hash`));
  await redis.set(`${p}t6:gone`, "x");
  await redis.del(`${p}t6:gone`);
  await io.out.waitFor(new RegExp(`del ${p}t6:gone`));
  await redis.set(`${p}t6:short`, "x", "PX", 1);
  const expired = new RegExp(`expired ${p}t6:short`);
  await io.out.waitFor(expired, 3000).catch(() => redis.get(`${p}t6:short`)); // touching it expires it
  await io.out.waitFor(expired);
  assert.equal(await l.exit, ExitCode.Ok);
  const hashLine = `hset ${p}t6:hash: hash, 2 fields: \\{name=ann, ts=\\d{10}\\} · delay \\d+ ms \\(stamp has whole`;
  assert.match(io.out.text, new RegExp(hashLine));
  assert.match(io.out.text, new RegExp(`del ${p}t6:gone: \\(key no longer exists\\) · ✓ ${p}handshake_key`));
  assert.match(io.out.text, new RegExp(`expired ${p}t6:short: \\(key no longer exists\\)`));
  assert.doesNotMatch(io.out.text, /other:key/);
  assert.match((await redis.get(`${p}handshake_key`))!, /for \(none\)$/);
  assert.equal(io.err.count(/Could not read/), 0);
});

ownServerTest("keyspace_listener on a read-only replica without --write-url stops with a clear message", async () => {
  await using pair = await replicaPair();
  const { primary, replica } = pair;
  await using redis = testClient(primary.url);
  await using l = runMain(listener, ["--url", replica.url]);
  const io = l.io;
  await io.err.waitFor(LISTENING);
  await redis.set("shared_key", `t7 timestamp ${Date.now()}`);
  assert.equal(await l.exit, ExitCode.Failure);
  assert.match(io.err.text, /read-only replica.*\n.*--write-url/);
});

twoNodeTest("two nodes: writer on the primary, listener on the replica handshaking to the primary", async () => {
  await using pair = await twoNodes();
  const { primary, replica } = pair;
  const keys = ["--key", `${primary.prefix}shared_key`, "--handshake-key", `${primary.prefix}handshake_key`];
  await using l = runMain(listener, ["--url", replica.url, "--write-url", primary.url, ...keys, "--count", "5"]);
  const lio = l.io;
  await lio.err.waitFor(LISTENING);
  assert.match(lio.err.text, new RegExp(`handshake to ${primary.prefix}handshake_key on redis://[^:]+:\\d+`));
  const wio = captureIo();
  const writes = ["--url", primary.url, ...keys, "--count", "5", "--interval", "0", "--json"];
  assert.equal(await writer(writes, wio), ExitCode.Ok);
  assert.equal(await l.exit, ExitCode.Ok);
  const summary = JSON.parse(wio.out.text.trim().split("\n").at(-1)!);
  assert.deepEqual([summary.handshakes, summary.timeouts], [5, 0]);
  const event =
    `set ${primary.prefix}shared_key: writer timestamp \\d{16} · delay \\d+ ms · ✓ ${primary.prefix}handshake_key`;
  assert.equal(lio.out.count(new RegExp(event)), 5);
});

ownServerTest(
  "keyspace_listener survives a server restart, turns notifications back on and keeps handshaking",
  async () => {
    await using server = await testServer({ own: true });
    await using l = runMain(listener, ["--url", server.url]);
    const io = l.io;
    await io.err.waitFor(LISTENING);
    assert.equal(await writer(["--url", server.url, "--count", "1"], captureIo()), ExitCode.Ok);
    await server.local!.stop();
    await io.err.waitFor(/lost/);
    await server.local!.start(); // starts with notifications off again
    await io.err.waitFor(/Reconnected/, 15_000);
    await io.err.waitFor(/(Enabled keyspace notifications[\s\S]*){2}/);
    const wio = captureIo();
    assert.equal(await writer(["--url", server.url, "--count", "3", "--interval", "0"], wio), ExitCode.Ok);
    assert.match(wio.out.text, /3 handshake\(s\) in 3 round\(s\).* 0 timed out/);
    io.stop();
    assert.equal(await l.exit, ExitCode.Ok);
    assert.match(io.out.text, /Handled 4 event\(s\) and wrote 4 handshake\(s\)/);
    assert.match(io.out.text, /Connection lost 1 time\(s\)/);
  },
);

Deno.test("keyspace_listener rejects bad flags with a usage error", async () => {
  const io = captureIo();
  assert.equal(await listener(["--write-url", "http://x", "--url", "redis://127.0.0.1:1"], io), ExitCode.Usage);
  assert.match(io.err.text, /Invalid server URL in --write-url/);
  const io2 = captureIo();
  assert.equal(await listener(["--event", ""], io2), ExitCode.Usage);
});

Deno.test("keyspace_listener: overlapping --key patterns handle each event once, control characters escaped", async () => {
  await using server = await testServer();
  const u = `${server.prefix}user:`;
  await using redis = testClient(server.url);
  const args = ["--url", server.url, "--key", `${u}*`, "--key", `${u}1*`, "--key", `${u}1`, "--event", "all"];
  await using l = runMain(listener, [...args, "--handshake-key", `${server.prefix}handshake_key`, "--count", "2"]);
  await l.io.err.waitFor(LISTENING);
  await redis.set(`${u}1`, "first");
  await redis.set(`${u}1\x1b[31m`, "second");
  assert.equal(await l.exit, ExitCode.Ok);
  assert.equal(l.io.out.count(new RegExp(`set ${u}1: `)), 1, l.io.out.text);
  assert.match(l.io.out.text, new RegExp(`set ${u}1\\\\x1b\\[31m: "?second`));
  assert.ok(!l.io.out.text.includes("\x1b"), "no raw escape character");
  assert.match(l.io.out.text, /Handled 2 event\(s\) and wrote 2 handshake\(s\)/);
});

Deno.test("keyspace_listener does not count its own handshake writes when a pattern matches the handshake key", async () => {
  await using server = await testServer();
  const p = server.prefix;
  await using redis = testClient(server.url);
  const args = ["--url", server.url, "--key", `${p}*`, "--handshake-key", `${p}handshake_key`, "--count", "2"];
  await using l = runMain(listener, args);
  await l.io.err.waitFor(LISTENING);
  await redis.set(`${p}a`, "first");
  await l.io.out.waitFor(new RegExp(`set ${p}a: `));
  await redis.set(`${p}b`, "second");
  assert.equal(await l.exit, ExitCode.Ok);
  assert.match(l.io.out.text, new RegExp(`set ${p}b: `));
  assert.doesNotMatch(l.io.out.text, /set \S*handshake_key/);
});

ownServerTest(
  "keyspace_listener at exit: says notifications stay on and how to revert; --restore-config puts them back",
  async () => {
    await using server = await testServer({ own: true });
    await using redis = testClient(server.url);
    const flags = async () => ((await redis.config("GET", "notify-keyspace-events")) as string[])[1];
    for (const restore of [false, true]) {
      await redis.config("SET", "notify-keyspace-events", "");
      await using l = runMain(listener, [
        "--url",
        server.url,
        "--count",
        "1",
        ...(restore ? ["--restore-config"] : []),
      ]);
      await l.io.err.waitFor(LISTENING);
      await redis.set("shared_key", `t timestamp ${Date.now()}`);
      assert.equal(await l.exit, ExitCode.Ok);
      if (restore) {
        assert.equal(await flags(), "");
        assert.match(l.io.err.text, /Put notify-keyspace-events back to "" on /);
      } else {
        assert.notEqual(await flags(), "");
        assert.match(
          l.io.err.text,
          /notify-keyspace-events stays "\S+" on .* \(it was "" before this run\)\. To revert: redis-cli -u \S+ CONFIG SET notify-keyspace-events ''/,
        );
      }
    }
  },
);
