import assert from "node:assert/strict";
import type { Redis } from "ioredis";
import { Connection } from "../../lib/core/client.ts";
import { EventValidationError } from "../../lib/events/envelope.ts";
import { Reporter } from "../../lib/core/output.ts";
import { delay, withTimeout } from "../../lib/core/timing.ts";
import { type DeadLetter, StreamConsumer, type StreamConsumerOptions } from "../../lib/events/stream_consumer.ts";
import { parseStartPosition, PAYLOAD_FIELD, toEntries } from "../../lib/streams/entry.ts";
import { ensureGroup, groupConsumers, pendingCount, streamGroups } from "../../lib/streams/groups.ts";
import { TopicSchemas } from "../../lib/streams/schema.ts";
import { StreamPublisher } from "../../lib/events/stream_publisher.ts";
import { faultProxy } from "../fake_servers.ts";
import { captureIo, eventually, ownServerTest, testClient, testServer } from "../harness.ts";

/** Waits until `check` holds (the harness's {@linkcode eventually}, named first as these tests read). */
const until = (what: string, check: () => boolean | Promise<boolean>, ms = 10_000) => eventually(check, what, ms);

/** A consumer on its own two connections, shut down and closed at the end of the test. */
async function consumer(url: string, options: Omit<StreamConsumerOptions, "reporter">) {
  const reader = testClient(url);
  const commands = testClient(url);
  const io = captureIo();
  const c = new StreamConsumer(reader, commands, { ...options, reporter: new Reporter(io.stderr) });
  const created = await c.start();
  return {
    c,
    created,
    err: io.err,
    async [Symbol.asyncDispose]() {
      await c.shutdown(2000);
      await reader[Symbol.asyncDispose]();
      await commands[Symbol.asyncDispose]();
    },
  };
}

async function dead(redis: Redis, stream: string) {
  return toEntries(await redis.xrange(`${stream}:dead`, "-", "+")).map((e) => e.fields!);
}

ownServerTest(
  "StreamPublisher appends the envelope and returns the entry id; retention trims by count and by age",
  async () => {
    await using server = await testServer({ own: true, args: ["--stream-node-max-entries", "4"] });
    await using redis = testClient(server.url);
    const publisher = new StreamPublisher(redis, { source: "test", retention: { maxLen: 20 } });
    const id = await publisher.append("orders", { event_type: "order_placed", total: 42 });
    const [entry] = toEntries(await redis.xrange("orders", id, id));
    const event = JSON.parse(entry!.fields![PAYLOAD_FIELD]!);
    assert.equal(event.event_type, "order_placed");
    assert.equal(event.source, "test");
    assert.equal(event.total, 42);
    assert.equal(typeof event.id, "string");
    const ids = await publisher.appendMany(
      Array.from({ length: 200 }, (_, n) => ({ topic: "orders", event: { event_type: "order_placed", n } })),
    );
    assert.equal(ids.length, 200);
    const len = await redis.xlen("orders");
    assert.ok(len >= 20 && len <= 24, `MAXLEN ~ 20 keeps about 20 entries, got ${len}`);

    // Entries from long ago (explicit ids at the epoch's first milliseconds), then one appended with a 1-hour age.
    for (let ms = 1; ms <= 10; ms++) await redis.xadd("audit", `${ms}-0`, PAYLOAD_FIELD, "{}");
    await new StreamPublisher(redis, { retention: { maxAgeMs: 3_600_000 } }).append("audit", { event_type: "login" });
    assert.ok(await redis.xlen("audit") <= 4, "MINID ~ trims entries older than the age");
  },
);

ownServerTest("StreamPublisher never appends an event refused by the envelope or its topic's schema", async () => {
  await using server = await testServer({ own: true });
  await using redis = testClient(server.url);
  const schemas = new TopicSchemas({
    profile_events: {
      type: "object",
      required: ["profile_id"],
      properties: { profile_data: { type: "object", properties: { active: { type: "boolean" } } } },
    },
  });
  const publisher = new StreamPublisher(redis, { schemas });
  await assert.rejects(
    publisher.append("profile_events", { event_type: "profile_created", profile_id: 1, profile_data: { active: 1 } }),
    (err: EventValidationError) => /schema of profile_events: \/profile_data\/active must be boolean/.test(err.message),
  );
  await assert.rejects(publisher.append("profile_events", { event_type: "" }), EventValidationError);
  assert.equal(await redis.exists("profile_events"), 0);
  await publisher.append("profile_events", { event_type: "profile_created", profile_id: 1, profile_data: {} });
  assert.equal(await redis.xlen("profile_events"), 1);
});

ownServerTest("StreamConsumer creates its group idempotently, handles each entry and acknowledges it", async () => {
  await using server = await testServer({ own: true });
  await using redis = testClient(server.url);
  await ensureGroup(redis, "orders", "billing", "$");
  const seen: string[] = [];
  await using running = await consumer(server.url, {
    group: "billing",
    consumer: "b1",
    streams: { orders: (e, ctx) => void seen.push(`${ctx.entryId} ${e.n} ${ctx.deliveries}`) },
  });
  assert.deepEqual(running.created, [], "the group existed: not created again");
  const ids = await new StreamPublisher(redis).appendMany(
    Array.from({ length: 250 }, (_, n) => ({ topic: "orders", event: { event_type: "order_placed", n } })),
  );
  await until("250 handled", () => seen.length === 250);
  assert.deepEqual(seen.map((s) => s.split(" ")[0]).sort(), [...ids].sort());
  assert.ok(seen.every((s) => s.endsWith(" 1")), "first deliveries");
  await until("all acknowledged", async () => await pendingCount(redis, "orders", "billing") === 0);
  const [snapshot] = await running.c.serverStats();
  assert.equal(snapshot!.processed, 250);
  assert.equal(snapshot!.pending, 0);
  const { drained, removed } = await running.c.shutdown(2000);
  assert.ok(drained && removed, "a consumer with nothing pending is removed");
  assert.deepEqual(await groupConsumers(redis, "orders", "billing"), []);
});

ownServerTest("StreamConsumer restarted under the same name first finishes its own pending entries", async () => {
  await using server = await testServer({ own: true });
  await using redis = testClient(server.url);
  await ensureGroup(redis, "jobs", "workers", "0");
  const publisher = new StreamPublisher(redis);
  const early = await publisher.appendMany([1, 2, 3].map((n) => ({ topic: "jobs", event: { event_type: "job", n } })));
  // A run of w1 that read them and died before acknowledging.
  await redis.xreadgroup("GROUP", "workers", "w1", "COUNT", 10, "STREAMS", "jobs", ">");
  const late = await publisher.append("jobs", { event_type: "job", n: 4 });
  const seen: string[] = [];
  await using running = await consumer(server.url, {
    group: "workers",
    consumer: "w1",
    claimAfterMs: 60_000, // no claiming here: the restart itself finds them
    concurrency: 1,
    streams: { jobs: (_e, { entryId, deliveries }) => void seen.push(`${entryId}/${deliveries}`) },
  });
  await until("4 handled", () => seen.length === 4);
  assert.deepEqual(seen, [...early.map((id) => `${id}/2`), `${late}/1`]);
  assert.equal(running.c.stats()[0]!.retried, 3);
  await until("all acknowledged", async () => await pendingCount(redis, "jobs", "workers") === 0);
});

ownServerTest("StreamConsumer claims what a dead consumer left pending after claimAfterMs", async () => {
  await using server = await testServer({ own: true });
  await using redis = testClient(server.url);
  await ensureGroup(redis, "jobs", "workers", "0");
  const ids = await new StreamPublisher(redis).appendMany(
    Array.from({ length: 30 }, (_, n) => ({ topic: "jobs", event: { event_type: "job", n } })),
  );
  await redis.xreadgroup("GROUP", "workers", "crashed", "COUNT", 100, "STREAMS", "jobs", ">");
  const seen = new Set<string>();
  await using running = await consumer(server.url, {
    group: "workers",
    consumer: "alive",
    claimAfterMs: 100,
    streams: { jobs: (_e, { entryId }) => void seen.add(entryId) },
  });
  await until("30 claimed and handled", () => seen.size === 30);
  assert.deepEqual([...seen].sort(), [...ids].sort());
  await until("all acknowledged", async () => await pendingCount(redis, "jobs", "workers") === 0);
  assert.equal(running.c.stats()[0]!.claimed, 30);
  // The dead consumer has nothing pending any more, but this library never deletes other consumers.
  assert.ok((await groupConsumers(redis, "jobs", "workers")).some((c) => c.name === "crashed" && c.pending === 0));
});

ownServerTest(
  "StreamConsumer retries a failing entry exactly maxDeliveries times, then dead-letters it; the others flow",
  async () => {
    await using server = await testServer({ own: true });
    await using redis = testClient(server.url);
    const attempts: number[] = [];
    const ok: number[] = [];
    const deadLetters: DeadLetter[] = [];
    await using running = await consumer(server.url, {
      group: "g",
      consumer: "c1",
      claimAfterMs: 50,
      maxDeliveries: 3,
      streams: {
        jobs: (e, { deliveries }) => {
          if (e.n === 5) {
            attempts.push(deliveries);
            throw new Error("cannot handle job 5");
          }
          ok.push(e.n as number);
        },
      },
      onDeadLetter: (d) => void deadLetters.push(d),
    });
    const ids = await new StreamPublisher(redis).appendMany(
      Array.from({ length: 10 }, (_, n) => ({ topic: "jobs", event: { event_type: "job", n } })),
    );
    await until("one dead letter", () => deadLetters.length === 1);
    assert.equal(ok.length, 9);
    assert.deepEqual(attempts, [1, 2, 3]);
    const [entry, ...more] = await dead(redis, "jobs");
    assert.equal(more.length, 0);
    assert.equal(entry!.original_id, ids[5]);
    assert.equal(entry!.attempts, "3");
    assert.equal(entry!.reason, "handler failed: cannot handle job 5");
    assert.equal(JSON.parse(entry!.payload!).n, 5);
    await until("nothing pending", async () => await pendingCount(redis, "jobs", "g") === 0);
    const stats = running.c.stats()[0]!;
    assert.equal(stats.failed, 3);
    assert.equal(stats.dead_lettered, 1);
    assert.equal(stats.retried, 2);
    assert.match(running.err.text, /failed on job .* \(attempt 1 of 3\): cannot handle job 5; it stays pending/);
    assert.match(running.err.text, /Moved entry \S+ of jobs to jobs:dead after 3 attempt\(s\)/);
  },
);

ownServerTest("StreamConsumer dead-letters at once what is not JSON, not an event, or fails its schema", async () => {
  await using server = await testServer({ own: true });
  await using redis = testClient(server.url);
  const schemas = new TopicSchemas({ jobs: { type: "object", properties: { n: { type: "integer" } } } });
  const seen: unknown[] = [];
  await using running = await consumer(server.url, {
    group: "g",
    consumer: "c1",
    from: { kind: "start" },
    schemas,
    streams: { jobs: (e) => void seen.push(e.n) },
  });
  await redis.xadd("jobs", "*", PAYLOAD_FIELD, "not json");
  await redis.xadd("jobs", "*", PAYLOAD_FIELD, JSON.stringify({ event_type: "job" }));
  await redis.xadd(
    "jobs",
    "*",
    PAYLOAD_FIELD,
    JSON.stringify({ event_type: "job", timestamp: "2024-01-01T00:00:00Z", n: 1.5 }),
  );
  await redis.xadd("jobs", "*", "other", "x");
  await new StreamPublisher(redis).append("jobs", { event_type: "job", n: 7 });
  await until("4 dead letters", async () => (await dead(redis, "jobs")).length === 4);
  await until("the good one handled", () => seen.length === 1);
  const reasons = (await dead(redis, "jobs")).map((f) => `${f.attempts} ${f.reason}`);
  assert.deepEqual(reasons, [
    "1 the payload is not JSON",
    "1 timestamp is missing",
    "1 schema of jobs: /n must be integer",
    `1 the entry has no "payload" field`,
  ]);
  assert.equal(running.c.stats()[0]!.malformed, 4);
  await until("nothing pending", async () => await pendingCount(redis, "jobs", "g") === 0);
});

/** A valid event's payload, and the same with its closing brace read as `=` (what KeyDB 6.3.4 sent under churn). */
const INTACT = JSON.stringify({ event_type: "job", timestamp: "2024-01-01T00:00:00Z", n: 7 });
const DAMAGED = INTACT.slice(0, -1) + "=";

// Each way an entry reaches a handler: a new read, a restart's own pending (id 0), a claim of another's pending.
for (const via of ["a new read", "its own pending entries", "a claim (XAUTOCLAIM)"] as const) {
  ownServerTest(
    `StreamConsumer handles an entry damaged in transit in ${via} from its stored copy, never dead-letters it`,
    async () => {
      await using server = await testServer({ own: true });
      await using redis = testClient(server.url);
      await using proxy = faultProxy(server.local!.port);
      await ensureGroup(redis, "jobs", "g", "0");
      let damaged = false;
      proxy.damageOnce(INTACT, DAMAGED).then(() => damaged = true);
      let id: string | null = null;
      if (via !== "a new read") {
        // Delivered before the consumer starts (not through the proxy): to c1 itself, or to one that died.
        id = await redis.xadd("jobs", "*", PAYLOAD_FIELD, INTACT);
        const owner = via === "a claim (XAUTOCLAIM)" ? "crashed" : "c1";
        await redis.xreadgroup("GROUP", "g", owner, "STREAMS", "jobs", ">");
      }
      const seen: string[] = [];
      await using running = await consumer(proxy.url, {
        group: "g",
        consumer: "c1",
        claimAfterMs: via === "a claim (XAUTOCLAIM)" ? 100 : 60_000,
        streams: { jobs: (e, { entryId }) => void seen.push(`${entryId} ${e.n}`) },
      });
      id ??= await redis.xadd("jobs", "*", PAYLOAD_FIELD, INTACT);
      await until("the reply carrying it damaged", () => damaged);
      await until("handled", () => seen.length === 1);
      assert.deepEqual(seen, [`${id} 7`]);
      await until("acknowledged", async () => await pendingCount(redis, "jobs", "g") === 0);
      assert.deepEqual(await dead(redis, "jobs"), []);
      const stats = running.c.stats()[0]!;
      assert.equal(stats.damaged_in_transit, 1);
      assert.equal(stats.malformed, 0);
      assert.equal(stats.dead_lettered, 0);
      assert.equal(stats.processed, 1);
      assert.match(
        running.err.text,
        new RegExp(`Entry ${id} of jobs arrived damaged in transit \\(the payload is not JSON\\) but is intact`),
      );
    },
  );
}

ownServerTest(
  "StreamConsumer dead-letters an unreadable entry only when two re-reads agree: a re-read damaged alike is not proof",
  async () => {
    await using server = await testServer({ own: true });
    await using redis = testClient(server.url);
    await using proxy = faultProxy(server.local!.port);
    await ensureGroup(redis, "jobs", "g", "0");
    // The delivery and the first XRANGE both damaged the same way, as KeyDB damages replies of the same shape.
    let damaged = 0;
    proxy.damageOnce(INTACT, DAMAGED).then(() => {
      damaged++;
      return proxy.damageOnce(INTACT, DAMAGED);
    }).then(() => damaged++);
    const seen: string[] = [];
    await using running = await consumer(proxy.url, {
      group: "g",
      consumer: "c1",
      claimAfterMs: 60_000,
      streams: { jobs: (e, { entryId }) => void seen.push(`${entryId} ${e.n}`) },
    });
    const id = await redis.xadd("jobs", "*", PAYLOAD_FIELD, INTACT);
    await until("handled", () => seen.length === 1);
    assert.equal(damaged, 2, "the delivery and the first re-read were damaged");
    assert.deepEqual(seen, [`${id} 7`]);
    assert.deepEqual(await dead(redis, "jobs"), []);
    assert.equal(running.c.stats()[0]!.damaged_in_transit, 1);
  },
);

ownServerTest(
  "StreamConsumer leaves pending an entry that arrived damaged when the server is gone before it is read again",
  async () => {
    await using server = await testServer({ own: true });
    await using redis = testClient(server.url);
    await using proxy = faultProxy(server.local!.port);
    await ensureGroup(redis, "jobs", "g", "0");
    let damaged = false;
    proxy.damageOnce(INTACT, DAMAGED, { thenClose: true }).then(() => damaged = true);
    const seen: unknown[] = [];
    await using running = await consumer(proxy.url, {
      group: "g",
      consumer: "c1",
      claimAfterMs: 60_000,
      streams: { jobs: (e) => void seen.push(e.n) },
    });
    const id = await redis.xadd("jobs", "*", PAYLOAD_FIELD, INTACT);
    await until("the reply carrying it damaged", () => damaged);
    await running.err.waitFor(
      new RegExp(`Entry ${id} of jobs looked unreadable \\(the payload is not JSON\\) but could not be read again`),
    );
    assert.deepEqual(seen, []);
    assert.deepEqual(await dead(redis, "jobs"), []);
    assert.equal(await pendingCount(redis, "jobs", "g"), 1, "it waits to be delivered again");
    const stats = running.c.stats()[0]!;
    assert.equal(stats.malformed + stats.dead_lettered + stats.damaged_in_transit, 0);
  },
);

ownServerTest(
  "StreamConsumer dead-letters without running an entry delivered more than maxDeliveries times",
  async () => {
    await using server = await testServer({ own: true });
    await using redis = testClient(server.url);
    await ensureGroup(redis, "jobs", "g", "0");
    const id = await new StreamPublisher(redis).append("jobs", { event_type: "job" });
    // A consumer that crashed on it twice (each restart re-read it).
    for (let i = 0; i < 2; i++) await redis.xreadgroup("GROUP", "g", "c1", "STREAMS", "jobs", i === 0 ? ">" : "0");
    let ran = 0;
    await using _running = await consumer(server.url, {
      group: "g",
      consumer: "c1",
      maxDeliveries: 2,
      streams: { jobs: () => void ran++ },
    });
    await until("one dead letter", async () => (await dead(redis, "jobs")).length === 1);
    const [entry] = await dead(redis, "jobs");
    assert.equal(ran, 0);
    assert.equal(entry!.original_id, id);
    assert.equal(entry!.attempts, "3");
    assert.match(entry!.reason!, /delivered 3 times without being acknowledged/);
  },
);

ownServerTest(
  "StreamConsumer replays from a time; a new group from the start; an existing group keeps its place",
  async () => {
    await using server = await testServer({ own: true });
    await using redis = testClient(server.url);
    const publisher = new StreamPublisher(redis);
    for (const ms of [1000, 2000, 3000]) {
      await redis.xadd("log", `${ms}-0`, PAYLOAD_FIELD, "{}");
      await redis.xadd(
        "log",
        `${ms}-1`,
        PAYLOAD_FIELD,
        JSON.stringify(publisher.prepare("log", { event_type: "e", ms })),
      );
    }
    const fromTime = new Set<string>();
    {
      await using _c = await consumer(server.url, {
        group: "from-time",
        consumer: "c",
        from: parseStartPosition("1970-01-01T00:00:02Z"),
        streams: { log: (_e, { entryId }) => void fromTime.add(entryId) },
      });
      await until("2 replayed", async () => (await dead(redis, "log")).length === 2 && fromTime.size === 2);
    }
    assert.deepEqual([...fromTime], ["2000-1", "3000-1"], "entries at and after 2 s (the others are not events)");
    const all: string[] = [];
    await using c2 = await consumer(server.url, {
      group: "from-start",
      consumer: "c",
      from: { kind: "start" },
      streams: { log: (_e, { entryId }) => void all.push(entryId) },
    });
    assert.deepEqual(c2.created, ["log"]);
    await until("3 replayed", () => all.length === 3);
    const [group] = (await streamGroups(redis, "log")).filter((g) => g.name === "from-time");
    assert.equal(group!.lastDeliveredId, "3000-1");
  },
);

ownServerTest("Two StreamConsumers in one group share the work, each entry handled once", async () => {
  await using server = await testServer({ own: true });
  await using redis = testClient(server.url);
  await ensureGroup(redis, "jobs", "g", "$");
  const by = new Map<string, string>();
  const twice: string[] = [];
  const handler = (name: string) => async (_e: unknown, { entryId }: { entryId: string }) => {
    if (by.has(entryId)) twice.push(entryId);
    by.set(entryId, name);
    await delay(1); // some work, so that both get a share
  };
  await using _a = await consumer(server.url, {
    group: "g",
    consumer: "a",
    batchSize: 10,
    streams: { jobs: handler("a") },
  });
  await using _b = await consumer(server.url, {
    group: "g",
    consumer: "b",
    batchSize: 10,
    streams: { jobs: handler("b") },
  });
  const publisher = new StreamPublisher(redis);
  for (let i = 0; i < 10; i++) {
    await publisher.appendMany(
      Array.from({ length: 50 }, (_, n) => ({ topic: "jobs", event: { event_type: "job", n } })),
    );
  }
  await until("500 handled", () => by.size === 500);
  assert.deepEqual(twice, []);
  const counts = [...by.values()].reduce((m, n) => m.set(n, (m.get(n) ?? 0) + 1), new Map<string, number>());
  assert.ok((counts.get("a") ?? 0) > 0 && (counts.get("b") ?? 0) > 0, `both worked: ${[...counts]}`);
});

ownServerTest("StreamConsumer never removes itself while it has pending entries", async () => {
  await using server = await testServer({ own: true });
  await using redis = testClient(server.url);
  const running = await consumer(server.url, {
    group: "g",
    consumer: "c1",
    claimAfterMs: 60_000,
    streams: {
      jobs: () => {
        throw new Error("not now");
      },
    },
  });
  try {
    await new StreamPublisher(redis).append("jobs", { event_type: "job" });
    await running.err.waitFor(/failed on job/);
    const { drained, removed } = await running.c.shutdown(2000);
    assert.ok(drained && !removed);
    assert.deepEqual((await groupConsumers(redis, "jobs", "g")).map((c) => [c.name, c.pending]), [["c1", 1]]);
  } finally {
    await running[Symbol.asyncDispose]();
  }
});

Deno.test("parseStartPosition reads start, new, ids, times and ages, and refuses the rest", () => {
  assert.deepEqual(parseStartPosition("0"), { kind: "start" });
  assert.deepEqual(parseStartPosition("$"), { kind: "new" });
  assert.deepEqual(parseStartPosition("1700000000000-3"), { kind: "id", id: "1700000000000-3" });
  assert.deepEqual(parseStartPosition("2m", 200_000), { kind: "time", ms: 80_000 });
  assert.throws(() => parseStartPosition("yesterday"), /--from expects start, new, an entry id/);
});

ownServerTest(
  "StreamConsumer.shutdown gives up at its deadline: what was abandoned stays pending for the next run",
  async () => {
    await using server = await testServer({ own: true });
    await using redis = testClient(server.url);
    const started = Promise.withResolvers<void>();
    const running = await consumer(server.url, {
      group: "g",
      consumer: "slow",
      streams: {
        jobs: (_e, { signal }) =>
          new Promise<void>((_, reject) => {
            started.resolve();
            signal.addEventListener("abort", () => reject(new Error("gave up")), { once: true });
          }),
      },
    });
    try {
      await new StreamPublisher(redis).append("jobs", { event_type: "job" });
      await started.promise;
      assert.deepEqual(await running.c.shutdown(100), { drained: false, abandoned: 1, removed: false });
      assert.equal(await pendingCount(redis, "jobs", "g"), 1);
    } finally {
      await running[Symbol.asyncDispose]();
    }
  },
);

ownServerTest(
  "StreamConsumer.shutdown with its server gone: claims waiting in the offline queue hold nothing up, and whether " +
    "it could leave its groups is unknown",
  async () => {
    await using server = await testServer({ own: true });
    const io = captureIo();
    const reporter = new Reporter(io.stderr);
    const reader = await Connection.open({ url: server.url, reporter });
    const commands = await Connection.open({ url: server.url, reporter, offlineQueue: true });
    try {
      // Claims every 20 ms, on the connection whose commands wait in the offline queue while the server is gone.
      const c = new StreamConsumer(reader.redis, commands.redis, {
        group: "g",
        consumer: "c1",
        claimAfterMs: 40,
        streams: { jobs: () => {} },
        reporter,
      });
      await c.start();
      await server.local!.kill();
      await io.err.waitFor(/Connection to \S+ lost/);
      await delay(200); // ten claim rounds into the outage: the state is a duration, not an event
      const stats = await withTimeout(c.serverStats(), 1000, () => new Error("serverStats() waits for the server"));
      assert.deepEqual(stats.map((s) => s.pending), [null], "not asked: the server is gone");
      const started = performance.now();
      assert.deepEqual(await c.shutdown(2000), { drained: true, abandoned: 0, removed: null });
      assert.ok(performance.now() - started < 1000, `shutdown took ${performance.now() - started} ms`);
    } finally {
      await commands.close();
      await reader.close();
    }
  },
);
