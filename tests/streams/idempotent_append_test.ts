import assert from "node:assert/strict";
import type { Redis } from "ioredis";
import { main as publisher } from "../../scripts/publisher.ts";
import { ExitCode } from "../../lib/core/exit_codes.ts";
import { EntryIdClock, IdempotentAppender } from "../../lib/streams/idempotent_append.ts";
import { PAYLOAD_FIELD, toEntries } from "../../lib/streams/entry.ts";
import type { Outgoing } from "../../lib/pubsub/publish.ts";
import { captureIo, testClient, testServer } from "../harness.ts";

Deno.test("EntryIdClock: strictly increasing ids of its own residue, past a stream's last id when asked", () => {
  const clock = new EntryIdClock(250_000);
  assert.deepEqual([clock.next(7), clock.next(7), clock.next(6), clock.next(8)], [
    "7-250000",
    "7-1250000",
    "7-2250000",
    "8-250000",
  ]);
  clock.passLast("8-99999999"); // another writer ahead within the same millisecond: on to the next one
  assert.deepEqual([clock.next(8), clock.next(8)], ["9-250000", "9-1250000"]);
  clock.passLast("3-5"); // behind: nothing to do
  assert.equal(clock.next(8), "9-2250000");
  clock.passLast("20-18446744073709551615");
  assert.equal(clock.next(8), "21-250000");
  assert.equal(clock.next(30), "30-250000"); // the clock caught up
});

/** The server's time far ahead, fixed: the appender's ids are known in advance (restored before anything awaits). */
const AHEAD = 5_000_000_000_000;
function sendAt<T>(ms: number, send: () => Promise<T>): Promise<T> {
  const now = Date.now;
  Date.now = () => ms;
  try {
    return send(); // the ids are chosen before the first await
  } finally {
    Date.now = now;
  }
}

/** A client whose connection was closed: a command on it fails at once without reaching the server. */
async function closedClient(url: string): Promise<Redis> {
  const redis = testClient(url);
  await redis.quit();
  return redis;
}

Deno.test("IdempotentAppender: a stream ahead of its clock, and a different event at the id of an unconfirmed try", async () => {
  await using server = await testServer();
  await using redis = testClient(server.url);
  const stream = `${server.prefix}s`;
  const appender = new IdempotentAppender(500_000);
  // Another writer's last id is ahead of the appender's clock: its first append is refused, then goes past it.
  await redis.xadd(stream, `${AHEAD + 10}-0`, PAYLOAD_FIELD, "other");
  const first = await sendAt(AHEAD, () => appender.sender(redis, [{ channel: stream, payload: "a" }]));
  assert.deepEqual(first, [{ receivers: 0, entryId: `${AHEAD + 11}-500000` }]);
  // A try that never reached the server, then another event stored at exactly the id it had.
  const batch: Outgoing[] = [{ channel: stream, payload: "b" }];
  const closed = await closedClient(server.url);
  await assert.rejects(sendAt(AHEAD + 20, () => appender.sender(closed, batch)), /Connection is closed/);
  await redis.xadd(stream, `${AHEAD + 20}-500000`, PAYLOAD_FIELD, "not b");
  // Sent again: refused, the entry at its id is not this event: appended once, under the next id.
  const again = await appender.sender(redis, batch);
  assert.deepEqual(again, [{ receivers: 0, entryId: `${AHEAD + 21}-500000` }]);
  const entries = toEntries(await redis.xrange(stream, "-", "+")).map((e) => [e.id, e.fields![PAYLOAD_FIELD]]);
  assert.deepEqual(entries, [
    [`${AHEAD + 10}-0`, "other"],
    [`${AHEAD + 11}-500000`, "a"],
    [`${AHEAD + 20}-500000`, "not b"],
    [`${AHEAD + 21}-500000`, "b"],
  ]);
  assert.deepEqual(appender.recovery, { sentAgain: 1, foundAppended: 0, restored: 0, restoreIncomplete: false });
});

Deno.test("IdempotentAppender: a refusal that is not about the id (wrong type) is thrown as it is", async () => {
  await using server = await testServer();
  await using redis = testClient(server.url);
  const key = `${server.prefix}string`;
  await redis.set(key, "not a stream");
  const appender = new IdempotentAppender();
  await assert.rejects(appender.sender(redis, [{ channel: key, payload: "x" }]), /WRONGTYPE/);
});

Deno.test("two publisher --stream --retry runs at full speed on one stream: every event of each appended once", async () => {
  await using server = await testServer();
  await using redis = testClient(server.url);
  const stream = `${server.prefix}both`;
  const count = 20_000;
  const run = (name: string) => {
    const io = captureIo();
    const args = ["--url", server.url, "--stream", stream, `${name}{{n}}`, "--repeat", String(count)];
    return publisher([...args, "--retry", "10s", "--quiet", "--json"], io).then((code) => ({ code, io }));
  };
  const [a, b] = await Promise.all([run("a"), run("b")]);
  assert.deepEqual([a.code, b.code], [ExitCode.Ok, ExitCode.Ok], a.io.err.text + b.io.err.text);
  const payloads = toEntries(await redis.xrange(stream, "-", "+")).map((e) => e.fields![PAYLOAD_FIELD]!);
  assert.equal(payloads.length, 2 * count);
  for (const name of ["a", "b"]) {
    const numbers = payloads.filter((p) => p.startsWith(name)).map((p) => Number(p.slice(1))).sort((x, y) => x - y);
    assert.deepEqual(numbers, Array.from({ length: count }, (_, i) => i + 1), name);
  }
  await redis.del(stream);
});
