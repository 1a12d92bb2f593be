/**
 * subscriber.ts --recover when the history no longer has what it missed: the
 * right number lost, with the right reason — a history too short, a history
 * deleted, a server restarted without persistence (a new epoch).
 */
import assert from "node:assert/strict";
import { closeClient, ownServerTest, ScriptProcess, type TestServer, testServer } from "../harness.ts";
import { historyKeys, type HistoryLimit } from "../../lib/recover/history.ts";
import { outageClient, received, SequencePublisher, waitForSeq } from "./outage_kit.ts";
import { delay } from "../../lib/core/timing.ts";

/** A subscriber.ts --recover of its own, stopped (SIGSTOP) and cut off (CLIENT KILL) around `away`. */
async function awayWhile(
  url: string,
  channel: string,
  before: () => Promise<void>,
  away: () => Promise<void>,
  after: () => Promise<number>,
): Promise<{ seqs: number[]; recovered: number; summary: Record<string, unknown>; err: string }> {
  await using sub = new ScriptProcess("subscriber.ts", [channel, "--recover", "--json", "--url", url]);
  await sub.err.waitFor(/Listening on/);
  await before();
  Deno.kill(sub.pid, "SIGSTOP");
  try {
    await away();
  } finally {
    Deno.kill(sub.pid, "SIGCONT");
  }
  await sub.err.waitFor(/Lost /, 15_000);
  const last = await after();
  await waitForSeq(sub, last);
  sub.kill("SIGINT");
  assert.equal(await sub.exit(), 0, sub.err.text);
  return { ...received(sub.out.text), err: sub.err.text };
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

/** What a case does while the subscriber is away, with the publisher of numbered messages and the server. */
type Away = (
  ctx: { pub: SequencePublisher; admin: ReturnType<typeof outageClient>; server: TestServer },
) => Promise<void>;

/**
 * One case on a server of its own: messages 1-5 received, the subscriber stopped and cut off while `away` runs,
 * then one more message published once it is back.
 */
async function lossCase(name: string, limit: HistoryLimit, away: Away) {
  await using server = await testServer({ own: true }); // no persistence: a restart loses every key
  const channel = `${server.prefix}${name}`;
  const admin = outageClient(server.url);
  const pub = new SequencePublisher(admin, channel, limit);
  try {
    return await awayWhile(server.url, channel, async () => {
      for (let i = 0; i < 5; i++) await pub.next();
    }, async () => {
      await admin.call("CLIENT", "KILL", "TYPE", "pubsub");
      await away({ pub, admin, server });
    }, async () => {
      await pub.next();
      return pub.seq;
    });
  } finally {
    await closeClient(admin);
  }
}

/** Publishes `n` more numbered messages. */
async function publish(pub: SequencePublisher, n: number): Promise<void> {
  for (let i = 0; i < n; i++) await pub.next();
}

ownServerTest("subscriber.ts --recover: a history too short loses the oldest (older than the history)", async () => {
  const r = await lossCase("short", { kind: "size", size: 10 }, ({ pub }) => publish(pub, 50));
  assert.deepEqual(r.seqs, [...range(1, 5), ...range(46, 56)]);
  assert.equal(r.recovered, 10);
  assert.equal(r.summary.lost, 40);
  assert.deepEqual(r.summary.lost_by_reason, { "older than the history": 40 });
  assert.match(r.err, /Lost 40 message\(s\) on ".*": older than the history/);
});

ownServerTest("subscriber.ts --recover: a deleted history loses what it held (history deleted)", async () => {
  const r = await lossCase("deleted", { kind: "size", size: 1000 }, async ({ pub, admin }) => {
    await publish(pub, 20);
    await admin.del(historyKeys(pub.channel).stream);
  });
  assert.deepEqual(r.seqs, [...range(1, 5), 26]);
  assert.equal(r.summary.lost, 20);
  assert.deepEqual(r.summary.lost_by_reason, { "history deleted": 20 });
});

ownServerTest("subscriber.ts --recover: a restart without persistence changes the epoch (epoch changed)", async () => {
  const r = await lossCase("epoch", { kind: "size", size: 1000 }, async ({ pub, server }) => {
    await publish(pub, 7); // 6-12: lost with the restart
    await server.local!.stop();
    await server.local!.start();
    await publish(pub, 10); // 13-22: offsets 1-10 of the new epoch
  });
  assert.deepEqual(r.seqs, [...range(1, 5), ...range(13, 23)]);
  assert.equal(r.recovered, 10);
  assert.equal(r.summary.lost, 7);
  assert.deepEqual(r.summary.lost_by_reason, { "epoch changed (history lost)": 7 });
});

ownServerTest(
  "subscriber.ts --recover: a history kept by age loses what expired (older than the history)",
  async () => {
    const r = await lossCase("age", { kind: "age", ageMs: 300 }, async ({ pub }) => {
      await publish(pub, 5); // 6-10: expired by the time it is back
      await delay(600); // the history's age limit passing is what is tested: time is the input here
      await publish(pub, 3); // 11-13: kept
    });
    assert.deepEqual(r.seqs, [...range(1, 5), ...range(11, 14)]);
    assert.equal(r.summary.lost, 5);
    assert.deepEqual(r.summary.lost_by_reason, { "older than the history": 5 });
  },
);
