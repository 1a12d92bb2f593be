import assert from "node:assert/strict";
import { Redis } from "ioredis";
import { deliversEvents, flagLetters, mergeFlags, missingFlags } from "../../lib/keyspace/notify_flags.ts";
import {
  ensureNotifications,
  isInvalidValue,
  NotifyChanges,
  probeFlags,
  readNotifyConfig,
  writeNotifyConfig,
} from "../../lib/keyspace/notifications.ts";
import { Reporter } from "../../lib/core/output.ts";
import { captureIo, ownServerTest, replicaPair, testClient, testServer } from "../harness.ts";

Deno.test("missingFlags() and mergeFlags() add exactly the missing letters", () => {
  assert.equal(missingFlags("", "K$"), "K$");
  assert.equal(missingFlags("AKE", "K$x"), "");
  assert.equal(missingFlags("Eg", "Kg"), "K");
  assert.equal(mergeFlags("Ex", "K$"), "ExK$");
  assert.equal(mergeFlags("AKE", "K$"), "AKE");
  assert.ok(flagLetters("A").has("t"));
  assert.ok(!flagLetters("A").has("m"));
  assert.ok(deliversEvents("K$") && !deliversEvents("KE") && !deliversEvents("$"));
});

Deno.test("mergeFlags() writes A itself when every class is needed, never the spelled-out d (KeyDB rejects it)", () => {
  assert.equal(mergeFlags("", "KA"), "KA");
  assert.equal(mergeFlags("K$", "KA"), "KA");
  assert.equal(mergeFlags("Ex", "KA"), "KEA");
  assert.equal(mergeFlags("", "Kg$lshzxetd"), "KA");
  assert.equal(mergeFlags("m", "EA"), "EAm");
  assert.equal(mergeFlags("AKE", "Kn"), "KEAn", "n only when an event named needs it");
  for (const value of [mergeFlags("", "KA"), mergeFlags("Eh", "KA"), mergeFlags("Kx", "EA")]) {
    assert.doesNotMatch(value, /[dn]/, value);
  }
});

Deno.test("isInvalidValue() tells a rejected letter from a refused CONFIG", () => {
  // KeyDB 6 / Redis 6:
  assert.ok(isInvalidValue("ERR Invalid argument 'Kg$lshzxetd' for CONFIG SET 'notify-keyspace-events'"));
  // Redis 7:
  assert.ok(
    isInvalidValue(
      "ERR CONFIG SET failed (possibly related to argument 'notify-keyspace-events') - Invalid event class character. " +
        "Use 'Ag$lshzxeKEtmdn'.",
    ),
  );
  assert.ok(!isInvalidValue("NOPERM this user has no permissions to run the 'config|set' command"));
  assert.ok(!isInvalidValue("ERR unknown command 'config', with args beginning with: 'SET'"));
});

ownServerTest("writeNotifyConfig(): a letter the server rejects is told apart from a refused CONFIG", async () => {
  await using server = await testServer({ own: true });
  await using renamed = await testServer({ own: true, args: ["--rename-command", "CONFIG", ""] });
  const redis = new Redis(server.url);
  const noConfig = new Redis(renamed.url);
  try {
    const rejected = await writeNotifyConfig(redis, "Kq");
    assert.deepEqual([rejected.allowed, (rejected as { invalid?: boolean }).invalid], [false, true]);
    const refused = await writeNotifyConfig(noConfig, "K$");
    assert.deepEqual([refused.allowed, (refused as { invalid?: boolean }).invalid], [false, undefined]);
  } finally {
    await redis.quit();
    await noConfig.quit();
  }
});

ownServerTest("readNotifyConfig() reads the value, and tells a refusal from a lost connection", async () => {
  await using server = await testServer({ own: true, notifications: "KEA", args: ["--rename-command", "CONFIG", ""] });
  await using plain = await testServer({ own: true, notifications: "Kh" });
  const renamed = new Redis(server.url);
  const ok = new Redis(plain.url);
  try {
    const refused = await readNotifyConfig(renamed);
    assert.equal(refused.allowed, false);
    assert.match((refused as { reason: string }).reason, /unknown command/i);
    assert.deepEqual(await readNotifyConfig(ok), { allowed: true, flags: "hK" });
    const gone = new Redis(plain.url, { lazyConnect: true, enableOfflineQueue: false, retryStrategy: () => null });
    await assert.rejects(readNotifyConfig(gone), /enableOfflineQueue/);
    gone.disconnect();
  } finally {
    await renamed.quit();
    await ok.quit();
  }
});

Deno.test("probeFlags() is ok when the events arrive and not when they do not, in any db", async () => {
  {
    await using on = await testServer({ notifications: "K$" });
    assert.equal((await probeFlags({ url: on.url, db: 0, flags: "K$" })).ok, true);
    assert.equal((await probeFlags({ url: on.url, db: 7, flags: "K$" })).ok, true);
  }
  await using off = await testServer({ notifications: "E$" });
  const missed = await probeFlags({ url: off.url, db: 0, flags: "K$", timeoutMs: 300 });
  assert.deepEqual([missed.ok, missed.error], [false, undefined]);
});

ownServerTest("probeFlags() leaves every probe key with an expiry", async () => {
  await using server = await testServer({ own: true, notifications: "KA", args: ["--rename-command", "DEL", ""] });
  const result = await probeFlags({ url: server.url, db: 0, flags: "K$hlszt", timeoutMs: 2000 });
  assert.equal(result.ok, true);
  const redis = new Redis(server.url);
  try {
    const keys = await redis.keys("pubsub-lab:probe:*");
    assert.equal(keys.length, 6, keys.join(" "));
    for (const key of keys) assert.ok(await redis.pttl(key) > 0, `${key} has no TTL`);
  } finally {
    await redis.quit();
  }
});

Deno.test("probeFlags() proves each class it can, and names what is missing", async () => {
  await using server = await testServer({ notifications: "KE$hx" });
  const some = await probeFlags({ url: server.url, db: 0, flags: "KE$hxe", timeoutMs: 2000 });
  assert.deepEqual([some.ok, some.unproven], [true, "e"]);
  const lacking = await probeFlags({ url: server.url, db: 0, flags: "Kl", timeoutMs: 300 });
  assert.deepEqual([lacking.ok, lacking.missing], [false, ["keyspace:lpush"]]);
});

ownServerTest("probeFlags() writes through writeUrl when it listens on a read-only replica", async () => {
  await using pair = await replicaPair({ notifications: "K$" });
  const { primary, replica } = pair;
  const direct = await probeFlags({ url: replica.url, db: 0, flags: "K$", timeoutMs: 300 });
  assert.equal(direct.ok, false);
  assert.match(direct.error ?? "", /READONLY/);
  assert.equal((await probeFlags({ url: replica.url, writeUrl: primary.url, db: 0, flags: "K$" })).ok, true);
});

ownServerTest("ensureNotifications() keeps the flags already set and reports what it added", async () => {
  await using server = await testServer({ notifications: "Elg" });
  await using redis = testClient(server.url);
  const io = captureIo();
  {
    const options = {
      redis,
      url: server.url,
      db: 0,
      needed: "K$",
      change: true,
      reporter: new Reporter(io.stderr),
      address: server.url,
    };
    const outcome = await ensureNotifications(options);
    assert.equal(outcome.kind, "changed");
    const after = flagLetters(((await redis.config("GET", "notify-keyspace-events")) as string[])[1]!);
    assert.deepEqual([..."ElgK$"].filter((c) => !after.has(c)), []);
    assert.match(io.err.text, /added K\$/);
    const again = await ensureNotifications(options);
    assert.equal(again.kind, "already");
  }
});

/** Turns on K$ on a fresh server whose notifications are `found`, recording the change. */
async function changedServer(found: string) {
  const server = await testServer({ own: true, notifications: found });
  const redis = testClient(server.url);
  const io = captureIo();
  const changes = new NotifyChanges();
  const reporter = new Reporter(io.stderr);
  await ensureNotifications({
    redis,
    url: server.url,
    db: 0,
    needed: "K$",
    change: true,
    reporter,
    address: server.url,
    changes,
  });
  const read = async () => ((await redis.config("GET", "notify-keyspace-events")) as string[])[1]!;
  return {
    url: server.url,
    redis,
    io,
    read,
    settle: (restore: boolean) => changes.settle({ redis, restore, reporter, address: server.url }),
    [Symbol.asyncDispose]: async () => {
      await redis[Symbol.asyncDispose]();
      await server[Symbol.asyncDispose]();
    },
  };
}

ownServerTest(
  "NotifyChanges.settle(): says what stays changed, with a revert command that works as printed",
  async () => {
    await using s = await changedServer("Eh");
    const set = await s.read();
    await s.settle(false);
    const [, command] =
      s.io.err.text.match(/stays "\S+" on .* \(it was "hE" before this run\)\. To revert: (.*) \(or run/) ??
        [];
    assert.equal(command, `redis-cli -u ${s.url} CONFIG SET notify-keyspace-events 'hE'`, s.io.err.text);
    assert.equal(await s.read(), set, "left as it is without restore");
    const run = await new Deno.Command("sh", { args: ["-c", command!], stdout: "piped", stderr: "piped" }).output();
    assert.equal(run.code, 0, new TextDecoder().decode(run.stderr));
    assert.equal(await s.read(), "hE");
  },
);

ownServerTest("NotifyChanges.settle() with restore puts back the value found, even when it was off", async () => {
  await using s = await changedServer("");
  assert.notEqual(await s.read(), "");
  await s.settle(true);
  assert.equal(await s.read(), "");
  assert.match(s.io.err.text, /Put notify-keyspace-events back to "" on /);
});

ownServerTest(
  "NotifyChanges.settle() with restore leaves a value someone changed since alone, and says so",
  async () => {
    await using s = await changedServer("");
    await s.redis.config("SET", "notify-keyspace-events", "Kx");
    await s.settle(true);
    assert.equal(await s.read(), "xK");
    assert.match(s.io.err.text, /is now "xK", not the "\S+" this run set: someone changed it since/);
  },
);

Deno.test("NotifyChanges.settle() says nothing when nothing was changed", async () => {
  const io = captureIo();
  await new NotifyChanges().settle({
    redis: undefined as never,
    restore: true,
    reporter: new Reporter(io.stderr),
    address: "redis://localhost:6379",
  });
  assert.equal(io.err.text, "");
});
