/**
 * subscriber.ts --recover when the history no longer has what it missed: the
 * right number lost, with the right reason — a history too short, a history
 * deleted, a server restarted without persistence (a new epoch).
 */
import assert from "node:assert/strict";
import { closeClient, ownServerTest, ScriptProcess, testServer } from "../harness.ts";
import { historyKeys } from "../../lib/recover/history.ts";
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

ownServerTest("subscriber.ts --recover: a history too short loses the oldest (older than the history)", async () => {
  await using server = await testServer({ own: true });
  const channel = `${server.prefix}short`;
  const admin = outageClient(server.url);
  const pub = new SequencePublisher(admin, channel, { kind: "size", size: 10 });
  try {
    const r = await awayWhile(server.url, channel, async () => {
      for (let i = 0; i < 5; i++) await pub.next();
    }, async () => {
      await admin.call("CLIENT", "KILL", "TYPE", "pubsub");
      for (let i = 0; i < 50; i++) await pub.next();
    }, async () => {
      await pub.next();
      return pub.seq;
    });
    assert.deepEqual(r.seqs, [...range(1, 5), ...range(46, 56)]);
    assert.equal(r.recovered, 10);
    assert.equal(r.summary.lost, 40);
    assert.deepEqual(r.summary.lost_by_reason, { "older than the history": 40 });
    assert.match(r.err, /Lost 40 message\(s\) on ".*": older than the history/);
  } finally {
    await closeClient(admin);
  }
});

ownServerTest("subscriber.ts --recover: a deleted history loses what it held (history deleted)", async () => {
  await using server = await testServer({ own: true });
  const channel = `${server.prefix}deleted`;
  const admin = outageClient(server.url);
  const pub = new SequencePublisher(admin, channel, { kind: "size", size: 1000 });
  try {
    const r = await awayWhile(server.url, channel, async () => {
      for (let i = 0; i < 5; i++) await pub.next();
    }, async () => {
      await admin.call("CLIENT", "KILL", "TYPE", "pubsub");
      for (let i = 0; i < 20; i++) await pub.next();
      await admin.del(historyKeys(channel).stream);
    }, async () => {
      await pub.next();
      return pub.seq;
    });
    assert.deepEqual(r.seqs, [...range(1, 5), 26]);
    assert.equal(r.summary.lost, 20);
    assert.deepEqual(r.summary.lost_by_reason, { "history deleted": 20 });
  } finally {
    await closeClient(admin);
  }
});

ownServerTest("subscriber.ts --recover: a restart without persistence changes the epoch (epoch changed)", async () => {
  await using server = await testServer({ own: true }); // no persistence: a restart loses every key
  const channel = `${server.prefix}epoch`;
  const admin = outageClient(server.url);
  const pub = new SequencePublisher(admin, channel, { kind: "size", size: 1000 });
  try {
    const r = await awayWhile(server.url, channel, async () => {
      for (let i = 0; i < 5; i++) await pub.next();
    }, async () => {
      await admin.call("CLIENT", "KILL", "TYPE", "pubsub");
      for (let i = 0; i < 7; i++) await pub.next(); // 6-12: lost with the restart
      await server.local!.stop();
      await server.local!.start();
      for (let i = 0; i < 10; i++) await pub.next(); // 13-22: offsets 1-10 of the new epoch
    }, async () => {
      await pub.next();
      return pub.seq;
    });
    assert.deepEqual(r.seqs, [...range(1, 5), ...range(13, 23)]);
    assert.equal(r.recovered, 10);
    assert.equal(r.summary.lost, 7);
    assert.deepEqual(r.summary.lost_by_reason, { "epoch changed (history lost)": 7 });
  } finally {
    await closeClient(admin);
  }
});

ownServerTest(
  "subscriber.ts --recover: a history kept by age loses what expired (older than the history)",
  async () => {
    await using server = await testServer({ own: true });
    const channel = `${server.prefix}age`;
    const admin = outageClient(server.url);
    const pub = new SequencePublisher(admin, channel, { kind: "age", ageMs: 300 });
    try {
      const r = await awayWhile(server.url, channel, async () => {
        for (let i = 0; i < 5; i++) await pub.next();
      }, async () => {
        await admin.call("CLIENT", "KILL", "TYPE", "pubsub");
        for (let i = 0; i < 5; i++) await pub.next(); // 6-10: expired by the time it is back
        await delay(600);
        for (let i = 0; i < 3; i++) await pub.next(); // 11-13: kept
      }, async () => {
        await pub.next();
        return pub.seq;
      });
      assert.deepEqual(r.seqs, [...range(1, 5), ...range(11, 14)]);
      assert.equal(r.summary.lost, 5);
      assert.deepEqual(r.summary.lost_by_reason, { "older than the history": 5 });
    } finally {
      await closeClient(admin);
    }
  },
);
