import assert from "node:assert/strict";
import { classifyOutage, type SubscriberFacts, WAITING_BEHIND } from "../../lib/pubsub/drop_cause.ts";
import { DEFAULT_OUTPUT_LIMIT, parseOutputLimit } from "../../lib/pubsub/output_limit.ts";

const limit = parseOutputLimit("normal 0 0 0 slave 268435456 67108864 60 pubsub 65536 32768 1")!;
const uncounted: SubscriberFacts = { runId: "a", limit };

Deno.test("classifyOutage() trusts the server's count where it keeps one", () => {
  const before = { runId: "a", drops: 3, limit };
  assert.equal(classifyOutage(before, { ...before, drops: 4 }, { at: 0 }).evidence, "the server counted it");
  // Counted and not risen: something else closed it, whatever the script saw.
  const stall = { from: 0, ms: 5000 };
  assert.equal(classifyOutage(before, before, { at: 5000, stall }).kind, "other");
});

Deno.test("classifyOutage() tells a restart by the server's run_id", () => {
  assert.equal(
    classifyOutage({ runId: "a", drops: 9, limit }, { runId: "b", drops: 0, limit }, { at: 0 }).kind,
    "restart",
  );
});

Deno.test("classifyOutage() goes by the backlog, a read that found the connection gone, or a stall", () => {
  const at = 10_000;
  const big = classifyOutage(uncounted, uncounted, { at, sample: { bytes: 40_000, at: 9000 }, goneAt: 9500 });
  assert.equal(big.kind, "fell_behind");
  assert.match(big.evidence!, /held 39\.1 KB for it when last read, 0\.5 s before it closed the connection/);
  const small = { at, sample: { bytes: 100, at: 9000 } };
  assert.equal(classifyOutage(uncounted, uncounted, small).kind, "other");
  assert.match(classifyOutage(uncounted, uncounted, { at, goneAt: 9000 }).evidence!, /closed the connection while/);
  assert.match(
    classifyOutage(uncounted, uncounted, { at, stall: { from: 7000, ms: 2500 } }).evidence!,
    /stalled for 2\.5 s/,
  );
  assert.equal(classifyOutage(uncounted, uncounted, { at, stall: { from: 9000, ms: 600 } }).kind, "other");
  // A consumer with a long queue of messages still to handle when it was closed: most likely its backlog.
  const queued = classifyOutage(uncounted, uncounted, { at, waiting: WAITING_BEHIND });
  assert.equal(queued.kind, "fell_behind");
  assert.match(queued.evidence!, /most likely: 10,000 message\(s\) were still waiting to be handled here/);
  assert.equal(classifyOutage(uncounted, uncounted, { at, waiting: WAITING_BEHIND - 1 }).kind, "other");
  // Where the server counts, its count decides, however long the queue.
  const counted = { runId: "a", drops: 3, limit };
  assert.equal(classifyOutage(counted, counted, { at, waiting: 50_000 }).kind, "other");
});

Deno.test("classifyOutage() takes a message cut short by the close for a drop, unless the server counts or restarted", () => {
  const at = 10_000;
  const cut = classifyOutage(uncounted, uncounted, { at, cutShort: 412 });
  assert.equal(cut.kind, "fell_behind");
  assert.match(cut.evidence!, /^most likely: it closed the connection in the middle of a message, still holding more/);
  assert.equal(classifyOutage(uncounted, uncounted, { at, cutShort: 0 }).kind, "other");
  const counted = { runId: "a", drops: 3, limit };
  assert.equal(classifyOutage(counted, counted, { at, cutShort: 412 }).kind, "other");
  assert.equal(classifyOutage(uncounted, { ...uncounted, runId: "b" }, { at, cutShort: 412 }).kind, "restart");
});

Deno.test("parseOutputLimit() reads the pubsub class; the default stands in when it is missing", () => {
  assert.deepEqual(limit, { hardBytes: 65536, softBytes: 32768, softSeconds: 1, known: true });
  assert.equal(parseOutputLimit("normal 0 0 0"), undefined);
  assert.equal(DEFAULT_OUTPUT_LIMIT.known, false);
});
