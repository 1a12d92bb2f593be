import assert from "node:assert/strict";
import { Connection } from "../../lib/core/client.ts";
import {
  completeEvent,
  createEvent,
  decodeEvent,
  encodeEvent,
  type EventEnvelope,
  eventProblems,
  EventValidationError,
  isIsoTimestamp,
} from "../../lib/events/envelope.ts";
import { EventPublisher } from "../../lib/events/publisher.ts";
import {
  type EventContext,
  type EventHandler,
  EventSubscriber,
  MalformedEventError,
} from "../../lib/events/subscriber.ts";
import { Reporter } from "../../lib/core/output.ts";
import { delay } from "../../lib/core/timing.ts";
import { captureIo, eventually, testServer } from "../harness.ts";

const SEED_EVENT = '{"event_type": "key_submitted", "key_value": "abc123", "token_name": "Token1", ' +
  '"timestamp": "2024-01-01T10:00:00"}';

/** A server, a subscriber connection, a publisher connection and a captured reporter; all closed at the end. */
async function setup() {
  const server = await testServer();
  const io = captureIo();
  const reporter = new Reporter(io.stderr);
  const sub = await Connection.open({ url: server.url, reporter });
  const pub = await Connection.open({ url: server.url, reporter });
  const prefix = `ev:${crypto.randomUUID().slice(0, 8)}`;
  return {
    io,
    reporter,
    sub,
    pub,
    prefix,
    publisher: new EventPublisher(pub.redis, { source: "events_test" }),
    async [Symbol.asyncDispose]() {
      await sub.close();
      await pub.close();
      await server[Symbol.asyncDispose]();
    },
  };
}

Deno.test("createEvent() stamps type, UTC time, a unique id and the source", () => {
  const now = new Date("2026-01-02T03:04:05.678Z");
  const a = createEvent("key_submitted", { key_value: "k" }, { source: "tests", now });
  const b = createEvent("key_submitted", { key_value: "k" }, { now });
  assert.deepEqual({ ...a, id: "x" }, {
    event_type: "key_submitted",
    timestamp: "2026-01-02T03:04:05.678Z",
    id: "x",
    source: "tests",
    key_value: "k",
  });
  assert.notEqual(a.id, b.id);
  assert.match(a.id, /^[0-9a-f-]{36}$/);
  assert.equal("source" in b, false);
  assert.throws(() => createEvent("x", { id: "mine" }), /id is an envelope field/);
  assert.throws(() => createEvent(""), EventValidationError);
});

Deno.test("validation accepts the seed's shape and zone-less or offset timestamps", () => {
  const seed = decodeEvent(SEED_EVENT);
  assert.equal(seed.id, undefined);
  assert.equal(seed.key_value, "abc123");
  for (const ok of ["2024-01-01T10:00:00", "2024-01-01T10:00", "2024-01-01T10:00:00.123456", "2024-01-01T10:00:00Z"]) {
    assert.ok(isIsoTimestamp(ok), ok);
  }
  for (const ok of ["2024-01-01T10:00:00+02:00", "2024-01-01T10:00:00-0530", "2024-02-29T23:59:60.5Z"]) {
    assert.ok(isIsoTimestamp(ok), ok);
  }
  for (const bad of ["2024-02-30T10:00:00", "2024-01-01 10:00:00", "1704103200", "2024-01-01T24:00:00", "today"]) {
    assert.equal(isIsoTimestamp(bad), false, bad);
  }
});

Deno.test("validation lists every problem, both ways", () => {
  assert.deepEqual(eventProblems([1]), ["an event is a JSON object, got an array"]);
  assert.deepEqual(eventProblems({ event_type: "", timestamp: 1704103200, id: 7, source: {} }), [
    'event_type must be a non-empty string, got ""',
    "timestamp must be ISO-8601 such as 2024-01-01T10:00:00Z, got number 1704103200",
    "id must be a non-empty string, got number 7",
    "source must be a string, got an object",
  ]);
  assert.deepEqual(eventProblems({}), ["event_type is missing", "timestamp is missing"]);
  // Publishing side: invalid events are refused before anything is sent.
  assert.throws(() => encodeEvent({ event_type: "x", timestamp: "soon" }), /timestamp must be ISO-8601/);
  assert.throws(() => completeEvent({ event_type: " " }), /event_type must be a non-empty string/);
  // Receiving side: bytes that are not UTF-8, text that is not JSON.
  assert.throws(() => decodeEvent(new Uint8Array([0xff, 0xfe])), /not UTF-8/);
  assert.throws(() => decodeEvent("{nope"), /not JSON/);
  // A complete event round-trips unchanged.
  const event = createEvent("ping", { n: 1 });
  assert.deepEqual(decodeEvent(new TextEncoder().encode(encodeEvent(event))), event);
});

Deno.test("publish() fills in the envelope, keeps what is given and returns the receivers", async () => {
  await using t = await setup();
  const topic = `${t.prefix}:orders`;
  assert.equal(await t.publisher.publish(topic, { event_type: "custom" }), 0);
  const received: EventEnvelope[] = [];
  const subscriber = new EventSubscriber(t.sub.redis, { topics: { [topic]: (e) => void received.push(e) } });
  await subscriber.start();
  assert.equal(await t.publisher.publish(topic, { event_type: "custom", data: { anything: "you want" } }), 1);
  const fixed = createEvent("custom", { n: 2 }, { source: "elsewhere" });
  assert.equal(await t.publisher.publish(topic, fixed), 1);
  await assert.rejects(
    () => t.publisher.publish(topic, { event_type: "custom", timestamp: "later" }),
    EventValidationError,
  );
  await eventually(() => received.length === 2, "two events arrive");
  assert.equal(received[0]!.source, "events_test");
  assert.deepEqual(received[0]!.data, { anything: "you want" });
  assert.ok(isIsoTimestamp(received[0]!.timestamp) && typeof received[0]!.id === "string");
  assert.deepEqual(received[1], fixed);
  assert.equal((await subscriber.shutdown()).drained, true);
});

Deno.test("the helpers publish the seed's events on their topics", async () => {
  await using t = await setup();
  const got: [string, EventEnvelope][] = [];
  const record: EventHandler = (e, ctx) => void got.push([ctx.topic, e]);
  const subscriber = new EventSubscriber(t.sub.redis, { topics: { key_submission: record, profile_events: record } });
  await subscriber.start();
  // Shared servers may have other listeners: at least ours receives each.
  assert.ok(await t.publisher.keySubmitted("abc123", "Token1") >= 1);
  assert.ok(await t.publisher.profileCreated(1, { active: true }) >= 1);
  assert.ok(await t.publisher.profileUpdated("p-2", { active: false }) >= 1);
  assert.ok(await t.publisher.profileDeleted(3) >= 1);
  await eventually(() => got.length >= 4, "four events arrive");
  const ours = got.filter(([, e]) => e.source === "events_test");
  assert.deepEqual(ours.map(([topic, e]) => [topic, e.event_type]), [
    ["key_submission", "key_submitted"],
    ["profile_events", "profile_created"],
    ["profile_events", "profile_updated"],
    ["profile_events", "profile_deleted"],
  ]);
  assert.equal(ours[0]![1].key_value, "abc123");
  assert.equal(ours[0]![1].token_name, "Token1");
  assert.deepEqual([ours[1]![1].profile_id, ours[1]![1].profile_data], [1, { active: true }]);
  assert.deepEqual(ours[3]![1].profile_data, {});
  await subscriber.shutdown();
});

Deno.test("the subscriber routes topics and patterns, and counts malformed messages without calling the handler", async () => {
  await using t = await setup();
  const topic = `${t.prefix}:keys`;
  const contexts: Omit<EventContext, "signal">[] = [];
  const seen: EventEnvelope[] = [];
  const subscriber = new EventSubscriber(t.sub.redis, {
    topics: { [topic]: (e, { topic, channel }) => void (seen.push(e), contexts.push({ topic, channel })) },
    patterns: {
      [`${t.prefix}:audit:*`]: (e, { topic, channel, pattern }) => {
        seen.push(e);
        contexts.push({ topic, channel, pattern });
      },
    },
    reporter: t.reporter,
  });
  await subscriber.start();
  await t.pub.redis.publish(topic, SEED_EVENT);
  await t.pub.redis.publish(topic, "not json at all");
  await t.pub.redis.publish(topic, '{"event_type": 5, "timestamp": "2024-01-01T10:00:00"}');
  await t.publisher.publish(`${t.prefix}:audit:login`, { event_type: "login" });
  await eventually(
    () => subscriber.stats().every((s) => s.received === s.processed + s.malformed) && seen.length === 2,
    "all handled",
  );
  assert.deepEqual(contexts, [
    { topic, channel: topic },
    { topic: `${t.prefix}:audit:*`, channel: `${t.prefix}:audit:login`, pattern: `${t.prefix}:audit:*` },
  ]);
  assert.equal(seen[0]!.key_value, "abc123");
  const [keys, audit] = subscriber.stats();
  assert.deepEqual([keys!.received, keys!.processed, keys!.malformed, keys!.failed], [3, 1, 2, 0]);
  assert.deepEqual([audit!.received, audit!.processed], [1, 1]);
  assert.match(t.io.err.text, /Malformed event on ev:\w+:keys: the payload is not JSON\. Payload: not json at all/);
  assert.match(t.io.err.text, /event_type must be a non-empty string, got number 5/);
  await subscriber.shutdown();
});

Deno.test("a throwing handler is logged and counted and never stops the others", async () => {
  await using t = await setup();
  const [flaky, steady] = [`${t.prefix}:flaky`, `${t.prefix}:steady`];
  let steadyDone = 0;
  const subscriber = new EventSubscriber(t.sub.redis, {
    topics: {
      [flaky]: async (e) => {
        if (e.mode === "throw") throw new Error("boom (sync)");
        await Promise.resolve();
        if (e.mode === "reject") throw new Error("boom (async)");
        if (e.mode === "malformed") throw new MalformedEventError("mode is not what this topic carries");
      },
      [steady]: () => void steadyDone++,
    },
    concurrency: 2,
    reporter: t.reporter,
  });
  await subscriber.start();
  for (let i = 0; i < 10; i++) {
    const mode = ["throw", "reject", "ok", "malformed"][i % 4];
    await t.publisher.publish(flaky, { event_type: "job", mode });
    await t.publisher.publish(steady, { event_type: "job" });
  }
  await eventually(
    () => steadyDone === 10 && subscriber.stats()[0]!.received === 10 && subscriber.inFlight === 0,
    "done",
  );
  const [f, s] = subscriber.stats();
  assert.deepEqual([f!.received, f!.processed, f!.failed, f!.malformed], [10, 2, 6, 2]);
  assert.deepEqual([s!.received, s!.processed, s!.failed], [10, 10, 0]);
  assert.equal(t.io.err.count(/Handler for ev:\w+:flaky failed on job [0-9a-f-]{36}: boom \(sync\)/), 3);
  assert.equal(t.io.err.count(/failed on job [0-9a-f-]{36}: boom \(async\)/), 3);
  assert.equal(t.io.err.count(/Malformed event on ev:\w+:flaky: mode is not what this topic carries/), 2);
  assert.ok(f!.p50_ms !== null && f!.p99_ms! >= f!.p50_ms!);
  await subscriber.shutdown();
});

Deno.test("concurrency is bounded: extra events wait, then all are handled", async () => {
  await using t = await setup();
  const topic = `${t.prefix}:slow`;
  const gate = Promise.withResolvers<void>();
  let running = 0;
  let maxRunning = 0;
  const order: number[] = [];
  const subscriber = new EventSubscriber(t.sub.redis, {
    topics: {
      [topic]: async (e) => {
        running++;
        maxRunning = Math.max(maxRunning, running);
        await gate.promise;
        order.push(e.n as number);
        running--;
      },
    },
    concurrency: 3,
  });
  await subscriber.start();
  for (let n = 1; n <= 10; n++) await t.publisher.publish(topic, { event_type: "job", n });
  await eventually(() => subscriber.stats()[0]!.received === 10, "ten events received");
  assert.equal(subscriber.inFlight, 3);
  assert.equal(subscriber.queued, 7);
  assert.equal(running, 3);
  gate.resolve();
  await eventually(() => subscriber.stats()[0]!.processed === 10, "all processed");
  assert.equal(maxRunning, 3);
  assert.deepEqual([...order].sort((a, b) => a - b), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  assert.equal(subscriber.queued, 0);
  await subscriber.shutdown();
});

Deno.test("concurrency 1 handles events one at a time, in arrival order", async () => {
  await using t = await setup();
  const topic = `${t.prefix}:ordered`;
  const order: number[] = [];
  const subscriber = new EventSubscriber(t.sub.redis, {
    topics: { [topic]: async (e) => void (await delay(Math.random() * 3), order.push(e.n as number)) },
    concurrency: 1,
  });
  await subscriber.start();
  for (let n = 1; n <= 20; n++) await t.publisher.publish(topic, { event_type: "job", n });
  await eventually(() => order.length === 20, "twenty handled");
  assert.deepEqual(order, Array.from({ length: 20 }, (_, i) => i + 1));
  await subscriber.shutdown();
});

Deno.test("shutdown stops receiving and drains the events already received", async () => {
  await using t = await setup();
  const topic = `${t.prefix}:drain`;
  const gate = Promise.withResolvers<void>();
  let done = 0;
  const subscriber = new EventSubscriber(t.sub.redis, {
    topics: { [topic]: async () => void (await gate.promise, done++) },
    concurrency: 2,
  });
  await subscriber.start();
  for (let n = 1; n <= 6; n++) await t.publisher.publish(topic, { event_type: "job", n });
  await eventually(() => subscriber.stats()[0]!.received === 6, "six received");
  const stopping = subscriber.shutdown(10_000);
  // Once unsubscribed, nothing more is received: the server has no subscriber left for the topic.
  await eventually(() => subscriber.inFlight === 2, "two in flight");
  let receivers = 1;
  for (let i = 0; i < 50 && receivers > 0; i++) {
    receivers = await t.pub.redis.publish(topic, "late");
    if (receivers > 0) await delay(10);
  }
  assert.equal(receivers, 0);
  assert.equal(done, 0, "nothing finished before the gate opened");
  gate.resolve();
  assert.deepEqual(await stopping, { drained: true, abandoned: 0 });
  assert.equal(done, 6);
  assert.equal(subscriber.stats()[0]!.processed, 6);
});

Deno.test("shutdown gives up at the deadline, aborts the handlers' signal and says what was abandoned", async () => {
  await using t = await setup();
  const topic = `${t.prefix}:stuck`;
  const aborted: boolean[] = [];
  const subscriber = new EventSubscriber(t.sub.redis, {
    topics: {
      [topic]: (_e, { signal }) =>
        new Promise<void>((resolve) =>
          signal.addEventListener("abort", () => {
            aborted.push(true);
            resolve();
          }, { once: true })
        ),
    },
    concurrency: 2,
  });
  await subscriber.start();
  for (let n = 1; n <= 5; n++) await t.publisher.publish(topic, { event_type: "job", n });
  await eventually(() => subscriber.stats()[0]!.received === 5, "five received");
  const started = Date.now();
  const result = await subscriber.shutdown(300);
  assert.ok(Date.now() - started < 3000);
  assert.deepEqual(result, { drained: false, abandoned: 5 });
  await eventually(() => aborted.length === 2, "both running handlers see the abort");
});

Deno.test("a full queue drops new events, counts them and says what to do", async () => {
  await using t = await setup();
  const topic = `${t.prefix}:full`;
  const gate = Promise.withResolvers<void>();
  const subscriber = new EventSubscriber(t.sub.redis, {
    topics: { [topic]: () => gate.promise },
    concurrency: 1,
    maxQueued: 2,
    reporter: t.reporter,
  });
  await subscriber.start();
  for (let n = 1; n <= 5; n++) await t.publisher.publish(topic, { event_type: "job", n });
  await eventually(() => subscriber.stats()[0]!.received === 5, "five received");
  assert.deepEqual([subscriber.inFlight, subscriber.queued, subscriber.stats()[0]!.dropped], [1, 2, 2]);
  assert.match(t.io.err.text, /Dropped an event on ev:\w+:full: 2 events are already waiting .* Raise the concurrency/);
  gate.resolve();
  assert.deepEqual(await subscriber.shutdown(), { drained: true, abandoned: 0 });
  assert.equal(subscriber.stats()[0]!.processed, 3);
});

Deno.test("decodeEvent() refuses a valid event nested 100,000 levels deep, saying so", () => {
  const deep = `{"event_type":"x","timestamp":"2024-01-01T10:00:00Z","extra":${"[".repeat(100_000)}${
    "]".repeat(100_000)
  }}`;
  assert.throws(() => decodeEvent(deep), /Invalid event: the payload is nested deeper than 100 levels at position 160/);
  const ok = `{"event_type":"x","timestamp":"2024-01-01T10:00:00Z","extra":${"[".repeat(99)}"]]]"${"]".repeat(99)}}`;
  assert.equal(decodeEvent(ok).event_type, "x");
});

Deno.test("the subscriber reports a deeply nested event as malformed and never hands it to the handler", async () => {
  await using t = await setup();
  const topic = `${t.prefix}:deep`;
  const handled: string[] = [];
  const subscriber = new EventSubscriber(t.sub.redis, {
    // As event_processor's handlers do: the result carries the original event, stringified.
    topics: { [topic]: (e) => void handled.push(JSON.stringify({ original_event: e })) },
    reporter: t.reporter,
  });
  await subscriber.start();
  const deep = `{"event_type":"key_submitted","timestamp":"2024-01-01T10:00:00Z","key_value":"k","extra":${
    "[".repeat(100_000)
  }${"]".repeat(100_000)}}`;
  await t.pub.redis.publish(topic, deep);
  await t.pub.redis.publish(topic, SEED_EVENT);
  await eventually(() => handled.length === 1 && subscriber.stats()[0]!.malformed === 1, "both events handled");
  assert.equal(subscriber.stats()[0]!.failed, 0);
  assert.match(
    t.io.err.text,
    /Malformed event on ev:\w+:deep: the payload is nested deeper than 100 levels at position/,
  );
  assert.doesNotMatch(t.io.err.text, /call stack/);
  await subscriber.shutdown();
});
