import assert from "node:assert/strict";
import { findStamp, precisionNote } from "../../lib/keyspace/stamp.ts";

Deno.test("findStamp() reads the seed's seconds, and says so", () => {
  const s = findStamp("Python01 timestamp 1725543675")!;
  assert.deepEqual([s.epochMs, s.resolutionMs, s.form], [1725543675000, 1000, "epoch-seconds"]);
  assert.equal(precisionNote(s), "stamp has whole seconds only");
});

Deno.test("findStamp() reads milliseconds, fractional seconds, µs and ns", () => {
  assert.deepEqual(pick(findStamp("writer timestamp 1725543675123")), [1725543675123, 1, "epoch-ms"]);
  assert.deepEqual(pick(findStamp("t=1725543675.5")), [1725543675500, 100, "epoch-seconds"]);
  assert.deepEqual(pick(findStamp("t=1725543675.123456")), [1725543675123, 1, "epoch-seconds"]);
  assert.deepEqual(pick(findStamp("1725543675123456 µs")), [1725543675123, 1, "epoch-us"]);
  assert.deepEqual(pick(findStamp("ns 1725543675123456789")), [1725543675123, 1, "epoch-ns"]);
});

Deno.test("findStamp() reads ISO-8601 with and without zone", () => {
  assert.deepEqual(pick(findStamp("at 2024-09-05T13:41:15.123Z")), [1725543675123, 1, "iso-8601"]);
  assert.deepEqual(pick(findStamp("at 2024-09-05T15:41:15+02:00")), [1725543675000, 1000, "iso-8601"]);
  assert.deepEqual(pick(findStamp("at 2024-09-05T15:41:15+0200")), [1725543675000, 1000, "iso-8601"]);
  const local = findStamp("2024-09-05 13:41:15")!;
  assert.equal(local.epochMs, 1725543675000);
  assert.equal(precisionNote(local), "stamp has whole seconds only; no time zone: read as UTC");
  assert.equal(findStamp("2024-09-05T13:41Z")!.resolutionMs, 60_000);
});

Deno.test("findStamp() takes the last epoch number and ignores other numbers", () => {
  assert.equal(findStamp("order 42 at 1725543675 then 1725543676")!.epochMs, 1725543676000);
  assert.equal(findStamp("no stamp 12345 here"), undefined);
  assert.equal(findStamp("12345678901"), undefined);
  assert.equal(findStamp(""), undefined);
});

function pick(s: ReturnType<typeof findStamp>): unknown[] {
  return [s?.epochMs, s?.resolutionMs, s?.form];
}

Deno.test("findStamp() with near: only epoch numbers within a day of it are stamps", () => {
  const now = 1725543675123;
  assert.equal(findStamp("order 4000000000", now), undefined);
  assert.equal(findStamp("phone 1234567890123", now), undefined);
  assert.equal(findStamp("at 1725543675 then order 9999999999", now)!.epochMs, 1725543675000);
  assert.equal(findStamp("almost a day ago 1725457276", now)!.form, "epoch-seconds");
  assert.equal(findStamp("two days ago 1725370875", now), undefined);
  assert.equal(findStamp("at 2020-01-01T00:00:00Z", now)!.form, "iso-8601", "an ISO time is a stamp however far");
});
