import assert from "node:assert/strict";
import { chooseDb, urlForDb } from "../../lib/core/config.ts";
import { eventClass, globToRegExp, parseNotification, planWatch } from "../../lib/keyspace/channels.ts";

Deno.test("planWatch() uses keyspace channels for plain keys and filters only events here", () => {
  const plan = planWatch(0, ["shared_key"], ["set"]);
  assert.equal(plan.channel, "keyspace");
  assert.deepEqual(plan.subscriptions, [{ kind: "channel", name: "__keyspace@0__:shared_key" }]);
  assert.equal(plan.needed, "K$");
  assert.ok(plan.wants({ db: 0, key: "shared_key", event: "set" }));
  assert.ok(!plan.wants({ db: 0, key: "shared_key", event: "del" }));
});

Deno.test("planWatch() uses keyevent channels when key patterns meet specific events", () => {
  const plan = planWatch(3, ["user:*", "session:?"], ["hset", "expired", "del"]);
  assert.equal(plan.channel, "keyevent");
  assert.deepEqual(plan.subscriptions.map((s) => [s.kind, s.name]), [
    ["channel", "__keyevent@3__:hset"],
    ["channel", "__keyevent@3__:expired"],
    ["channel", "__keyevent@3__:del"],
  ]);
  assert.equal(plan.needed, "Eghx");
  assert.ok(plan.wants({ db: 3, key: "user:1", event: "hset" }));
  assert.ok(plan.wants({ db: 3, key: "session:a", event: "expired" }));
  assert.ok(!plan.wants({ db: 3, key: "session:ab", event: "expired" }));
});

Deno.test("planWatch() with all events: keyspace pattern channels and class A", () => {
  const plan = planWatch(0, ["user:*"], ["all"]);
  assert.deepEqual(plan.subscriptions, [{ kind: "pattern", name: "__keyspace@0__:user:*" }]);
  assert.equal(plan.needed, "KA");
  assert.ok(plan.wants({ db: 0, key: "user:1", event: "anything" }));
  const every = planWatch(0, ["*"], ["del"]);
  assert.deepEqual([every.channel, every.subscriptions[0]?.name], ["keyevent", "__keyevent@0__:del"]);
  assert.ok(every.wants({ db: 0, key: "whatever", event: "del" }));
});

Deno.test("planWatch() reports unknown events and turns on every class for them", () => {
  const plan = planWatch(0, ["k"], ["set", "frobnicate"]);
  assert.deepEqual(plan.unknownEvents, ["frobnicate"]);
  assert.equal(plan.needed, "KA");
});

Deno.test("eventClass() knows the classes of common events", () => {
  assert.deepEqual(["set", "del", "expired", "hset", "lpush", "zadd", "xadd", "new"].map(eventClass), [
    "$",
    "g",
    "x",
    "h",
    "l",
    "z",
    "t",
    "n",
  ]);
  assert.equal(eventClass("nope"), undefined);
});

Deno.test("globToRegExp() matches like Redis patterns", () => {
  assert.ok(globToRegExp("h?llo").test("hello"));
  assert.ok(!globToRegExp("h?llo").test("heello"));
  assert.ok(globToRegExp("h[ae]llo").test("hallo"));
  assert.ok(!globToRegExp("h[^e]llo").test("hello"));
  assert.ok(globToRegExp("h[a-b]llo").test("hbllo"));
  assert.ok(globToRegExp("a\\*b").test("a*b"));
  assert.ok(!globToRegExp("a\\*b").test("axb"));
  assert.ok(globToRegExp("a.b+(c)").test("a.b+(c)"));
  assert.ok(globToRegExp("multi*").test("multi\nline"));
});

Deno.test("parseNotification() reads both kinds of channel", () => {
  assert.deepEqual(parseNotification("__keyspace@2__:a:b", "set"), { db: 2, key: "a:b", event: "set" });
  assert.deepEqual(parseNotification("__keyevent@0__:expired", "k:1"), { db: 0, key: "k:1", event: "expired" });
  assert.equal(parseNotification("news", "x"), undefined);
});

Deno.test("chooseDb() and urlForDb() agree on the database", () => {
  assert.equal(chooseDb(undefined, "redis://h:6379"), 0);
  assert.equal(chooseDb(undefined, "redis://h:6379/5"), 5);
  assert.equal(chooseDb(2, "redis://h:6379/5"), 2);
  assert.equal(urlForDb("redis://u:p%40ss@h:6379/5", 1), "redis://u:p%40ss@h:6379/1");
});

Deno.test("planWatch().firstDelivery(): one delivery per notification when subscriptions overlap", () => {
  const plan = planWatch(0, ["user:*", "user:1*", "user:1"], ["all"]);
  const channel = "__keyspace@0__:user:1";
  assert.ok(plan.firstDelivery(channel), "the exact channel's message");
  assert.ok(!plan.firstDelivery(channel, "__keyspace@0__:user:*"), "a pattern's copy of an exact channel's");
  assert.ok(!plan.firstDelivery(channel, "__keyspace@0__:user:1*"));
  assert.ok(plan.firstDelivery("__keyspace@0__:user:12", "__keyspace@0__:user:*"), "the first pattern that matches");
  assert.ok(!plan.firstDelivery("__keyspace@0__:user:12", "__keyspace@0__:user:1*"));
  assert.ok(plan.firstDelivery("__keyspace@0__:user:2", "__keyspace@0__:user:*"));
  const single = planWatch(0, ["user:*"], ["all"]);
  assert.ok(single.firstDelivery("__keyspace@0__:user:2", "__keyspace@0__:user:*"));
});
