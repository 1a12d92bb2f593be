import assert from "node:assert/strict";
import { Redis } from "ioredis";
import { deliversEvents, flagLetters, mergeFlags, missingFlags } from "../lib/notify_flags.ts";
import { ensureNotifications, probeFlags, probeNotifications, readNotifyConfig } from "../lib/notifications.ts";
import { Reporter } from "../lib/output.ts";
import { captureIo, replicaPair, testServer } from "./harness.ts";

Deno.test("missingFlags() and mergeFlags() add exactly the missing letters", () => {
  assert.equal(missingFlags("", "K$"), "K$");
  assert.equal(missingFlags("AKE", "K$x"), "");
  assert.equal(missingFlags("Eg", "Kg"), "K");
  assert.equal(mergeFlags("Ex", "K$"), "ExK$");
  assert.ok(flagLetters("A").has("t"));
  assert.ok(!flagLetters("A").has("m"));
  assert.ok(deliversEvents("K$") && !deliversEvents("KE") && !deliversEvents("$"));
});

Deno.test("readNotifyConfig() reads the value, and tells a refusal from a lost connection", async () => {
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

Deno.test("probeNotifications() is true when the events arrive and false when they do not", async () => {
  await using on = await testServer({ own: true, notifications: "K$" });
  await using off = await testServer({ own: true, notifications: "E$" });
  assert.equal(await probeNotifications(on.url, 0), true);
  assert.equal(await probeNotifications(on.url, 7), true);
  assert.equal(await probeNotifications(off.url, 0, 300), false);
});

Deno.test("probeFlags() proves each class it can, and names what is missing", async () => {
  await using server = await testServer({ own: true, notifications: "KE$hx" });
  const some = await probeFlags({ url: server.url, db: 0, flags: "KE$hxe", timeoutMs: 2000 });
  assert.deepEqual([some.ok, some.unproven], [true, "e"]);
  const lacking = await probeFlags({ url: server.url, db: 0, flags: "Kl", timeoutMs: 300 });
  assert.deepEqual([lacking.ok, lacking.missing], [false, ["keyspace:lpush"]]);
});

Deno.test("probeFlags() writes through writeUrl when it listens on a read-only replica", async () => {
  await using pair = await replicaPair({ notifications: "K$" });
  const { primary, replica } = pair;
  const direct = await probeFlags({ url: replica.url, db: 0, flags: "K$", timeoutMs: 300 });
  assert.equal(direct.ok, false);
  assert.match(direct.error ?? "", /READONLY/);
  assert.equal((await probeFlags({ url: replica.url, writeUrl: primary.url, db: 0, flags: "K$" })).ok, true);
});

Deno.test("ensureNotifications() keeps the flags already set and reports what it added", async () => {
  await using server = await testServer({ own: true, notifications: "Elg" });
  const redis = new Redis(server.url);
  const io = captureIo();
  try {
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
  } finally {
    await redis.quit();
  }
});
