/**
 * event_processor.ts --recover: events published with history (EventPublisher's `history`, lib/recover) and missed
 * during an outage are handled once, in order, marked recovered, before the live ones — through server restarts
 * that keep the data, CLIENT KILL and a processor dropped for falling behind; a history too short loses the oldest,
 * counted with why. On a server (Redis, Valkey or KeyDB: the binary first on PATH).
 */
import assert from "node:assert/strict";
import { main as processor } from "../../scripts/event_processor.ts";
import { main as demoEvents } from "../../scripts/demo_events.ts";
import { TOPICS } from "../../lib/events/kinds.ts";
import { ExitCode } from "../../lib/core/exit_codes.ts";
import { captureIo, closeClient, ownServerTest, ScriptProcess, testServer, withClient } from "../harness.ts";
import {
  assertExactlyOnceInOrder,
  outageClient,
  pacedThroughOutages,
  SequencePublisher,
} from "../recover/outage_kit.ts";
import { handledProfiles, missWhilePaused, PROFILE_SEQUENCE } from "./recover_kit.ts";

const OUTAGES = Number(Deno.env.get("RECOVER_OUTAGES") ?? 6);

/** The processor with recovery on the lab's topics, in a process of its own (to be paused). */
function recoveringProcessor(url: string, ...more: string[]): ScriptProcess {
  const args = ["--url", url, "--recover", "--concurrency", "1", "--publish-stats", "0", "--stats-interval", "0"];
  return new ScriptProcess("event_processor.ts", [...args, ...more]);
}

/** The profile ids of the `processed` events of --json, in order, how many recovered, and the summary. */
function processedJson(stdout: string): { seqs: number[]; recovered: number; summary: Record<string, unknown> } {
  const seqs: number[] = [];
  let recovered = 0;
  let summary: Record<string, unknown> = {};
  for (const line of stdout.split("\n").filter((l) => l.startsWith("{"))) {
    const e = JSON.parse(line);
    if (e.event === "summary") summary = e;
    if (e.event !== "processed") continue;
    seqs.push(Number(e.result.profile_id));
    if (e.recovered) recovered++;
  }
  return { seqs, recovered, summary };
}

ownServerTest(
  "event_processor.ts --recover: outages (restarts, CLIENT KILL, dropped for falling behind), every event once and in order",
  async () => {
    await using server = await testServer({ own: true, args: ["--appendonly", "yes"] });
    const admin = outageClient(server.url);
    const redis = outageClient(server.url);
    const pub = new SequencePublisher(redis, TOPICS.profileEvents, undefined, false, PROFILE_SEQUENCE);
    await using proc = recoveringProcessor(server.url, "--json");
    const ready = () => proc.err.waitFor(/Processing events on/);
    const rounds = { server, admin, publisherClient: redis, proc, pub, scale: 0.5, ready };
    const kinds = await pacedThroughOutages(
      OUTAGES,
      rounds,
      (last) => proc.out.waitFor(new RegExp(`"profile_id":${last},`), 30_000),
    );
    proc.kill("SIGINT");
    assert.equal(await proc.exit(), ExitCode.Ok, proc.err.text);
    const { seqs, recovered, summary } = processedJson(proc.out.text);
    assertExactlyOnceInOrder(seqs, pub.seq);
    assert.ok(recovered > 0, "some events came back from the history");
    assert.equal(summary.recovered, recovered);
    assert.equal(summary.lost, 0, proc.err.text);
    console.log(`  ${pub.seq} events, ${recovered} recovered; outages: ${kinds.join(", ")}`);
  },
);

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

ownServerTest("event_processor.ts --recover: a history too short loses the oldest, said with why", async () => {
  await using server = await testServer({ own: true });
  const admin = outageClient(server.url);
  const pub = new SequencePublisher(admin, TOPICS.profileEvents, { kind: "size", size: 10 }, false, PROFILE_SEQUENCE);
  await using proc = recoveringProcessor(server.url);
  try {
    await proc.err.waitFor(/Processing events on/);
    await missWhilePaused(proc, admin, pub, 5, 50);
    await proc.err.waitFor(/Lost /, 15_000);
    await pub.next();
    await proc.out.waitFor(/profile 56\b/);
  } finally {
    await closeClient(admin);
  }
  proc.kill("SIGINT");
  assert.equal(await proc.exit(), ExitCode.Ok, proc.err.text);
  const { ids, recovered } = handledProfiles(proc.out.text);
  assert.deepEqual(ids, [...range(1, 5), ...range(46, 56)]);
  assert.equal(recovered, 10, "46-55 marked recovered");
  assert.match(proc.err.text, /Lost 40 message\(s\) on "profile_events": older than the history/);
  assert.match(
    proc.out.text,
    /Recovered 10 missed message\(s\) from the history, lost 40 \(40 older than the history\)\./,
  );
});

ownServerTest(
  "event_processor.ts --recover --sharded: missed events on sharded topics come back in order",
  async () => {
    await using server = await testServer({ own: true });
    const [info] = await withClient(server.url, (r) => r.command("INFO", "SSUBSCRIBE")) as unknown[];
    if (!Array.isArray(info)) return; // KeyDB: no sharded pub/sub
    const admin = outageClient(server.url);
    const pub = new SequencePublisher(admin, TOPICS.profileEvents, undefined, true, PROFILE_SEQUENCE);
    await using proc = recoveringProcessor(server.url, "--sharded");
    try {
      await proc.err.waitFor(/Processing events on/);
      await missWhilePaused(proc, admin, pub, 5, 20);
      await proc.out.waitFor(/profile 25\b/, 15_000);
    } finally {
      await closeClient(admin);
    }
    proc.kill("SIGINT");
    assert.equal(await proc.exit(), ExitCode.Ok, proc.err.text);
    const { ids, recovered } = handledProfiles(proc.out.text);
    assert.deepEqual(ids, range(1, 25));
    assert.equal(recovered, 20, "6-25 marked recovered");
    assert.match(proc.out.text, /Recovered 20 missed message\(s\) from the history, lost 0\./);
  },
);

Deno.test("event_processor.ts --recover and demo_events.ts --history are for pub/sub: refused with --durable, bad values said", async () => {
  const io = captureIo();
  assert.equal(await processor(["--durable", "--recover"], io), ExitCode.Usage);
  assert.match(io.err.text, /--recover is for pub\/sub topics; --durable's streams already keep every event/);
  const alone = captureIo();
  assert.equal(await processor(["--recover-state", "x.json"], alone), ExitCode.Usage);
  assert.match(alone.err.text, /--recover-state goes with --recover/);
  const demo = captureIo();
  assert.equal(await demoEvents(["--durable", "--history", "10"], demo), ExitCode.Usage);
  assert.match(demo.err.text, /--history is for pub\/sub topics/);
  const bad = captureIo();
  assert.equal(await demoEvents(["--history", "lots"], bad), ExitCode.Usage);
  assert.match(bad.err.text, /--history is "lots": give how many messages to keep/);
});
