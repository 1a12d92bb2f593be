import assert from "node:assert/strict";
import { main as processor } from "../../scripts/event_processor.ts";
import { main as deadLetters } from "../../scripts/dead_letters.ts";
import { ExitCode } from "../../lib/core/exit_codes.ts";
import { slotOf } from "../../lib/cluster/topology.ts";
import { keySubmittedEvent } from "../../lib/events/kinds.ts";
import { nextId, readDeadLetters, redrive, redriveLedger } from "../../lib/streams/dead_letters.ts";
import { endpointFor } from "../../lib/endpoint/mod.ts";
import { nullWriter, Reporter } from "../../lib/core/output.ts";
import { PAYLOAD_FIELD, toEntries } from "../../lib/streams/entry.ts";
import { StreamPublisher } from "../../lib/events/stream_publisher.ts";
import { captureIo, eventually, ownServerTest, runMain, testClient, testServer } from "../harness.ts";

/** Runs dead_letters.ts to its end: its exit code and output. */
async function run(...args: string[]) {
  const io = captureIo();
  const code = await deadLetters(args, io);
  return { code, out: io.out.text, err: io.err.text };
}

const lines = (text: string) => text.trim().split("\n").map((l) => JSON.parse(l));

Deno.test("redriveLedger() is in the stream's own hash slot; a name whose slot no ledger can share is refused", () => {
  for (const stream of ["key_submission", "{shop}orders", "a{b", "orders:eu", "x{}y"]) {
    const ledger = (() => {
      try {
        return redriveLedger(stream);
      } catch {
        return undefined;
      }
    })();
    if (ledger !== undefined) assert.equal(slotOf(ledger), slotOf(stream), stream);
  }
  assert.throws(() => redriveLedger("a}b"), /has a "}" but no hash tag/);
  assert.equal(nextId("7-0"), "7-1");
});

Deno.test("two redrives of one dead entry at once append it once: the ledger's check and the append are one script", async () => {
  await using server = await testServer();
  await using redis = testClient(server.url);
  const stream = `${server.prefix}orders`;
  await redis.xadd(
    `${stream}:dead`,
    "*",
    "payload",
    '{"n":1}',
    "reason",
    "boom",
    "attempts",
    "5",
    "original_id",
    "1-1",
  );
  const link = await endpointFor({ cluster: false, url: server.url }).link({ reporter: new Reporter(nullWriter) });
  try {
    const [dead] = await Array.fromAsync(readDeadLetters(link.redis, stream, { start: "-", end: "+" }));
    const outcomes = await Promise.all([redrive(link.redis, stream, dead!), redrive(link.redis, stream, dead!)]);
    assert.deepEqual(outcomes.map((o) => o.kind).sort(), ["already", "redriven"]);
    assert.equal(await redis.xlen(stream), 1);
    assert.equal(await redis.xlen(`${stream}:dead`), 0);
  } finally {
    await link.close();
    await redis.del(stream, redriveLedger(stream));
  }
});

ownServerTest(
  "a dead-lettered event redriven twice is appended once and processed once by event_processor --durable",
  async () => {
    await using server = await testServer({ own: true });
    await using redis = testClient(server.url);
    const url = server.url;
    const publisher = new StreamPublisher(redis);
    // 1. The poison event dies: one delivery at most, the handler always fails on it.
    {
      await using failing = runMain(processor, [
        ...["--url", url, "--durable", "--consumer", "p1", "--json", "--stats-interval", "0", "--publish-stats", "0"],
        ...["--max-deliveries", "1", "--fail-key", "poison"],
      ]);
      await failing.io.err.waitFor(/Press Ctrl\+C to stop/);
      await publisher.append("key_submission", keySubmittedEvent("poison"));
      await failing.io.out.waitFor(/"event":"dead_letter"/);
      failing.io.stop();
      assert.equal(await failing.exit, ExitCode.Ok);
    }
    const [dead] = toEntries(await redis.xrange("key_submission:dead", "-", "+"));
    assert.ok(dead, "one dead letter");
    const originalId = dead.fields!.original_id!;

    // 2. Listed and shown; a dry run appends nothing.
    const listed = await run("list", "key_submission", "--url", url, "--json");
    assert.equal(listed.code, ExitCode.Ok, listed.err);
    const [entry, summary] = lines(listed.out);
    assert.equal(entry.event, "dead_letter");
    assert.equal(entry.entry_id, dead.id);
    assert.equal(entry.original_id, originalId);
    assert.equal(entry.attempts, 1);
    assert.equal(entry.earlier_rounds, 0);
    assert.deepEqual([summary.event, summary.dead_letters, summary.listed], ["summary", 1, 1]);
    const dry = await run("redrive", "key_submission", "--all", "--dry-run", "--url", url);
    assert.equal(dry.code, ExitCode.Ok, dry.err);
    assert.match(dry.out, new RegExp(`would redrive ${dead.id} \\(original ${originalId}, 1 attempt\\(s\\)`));
    assert.match(dry.out, /Dry run: 1 would be redriven; nothing appended\./);
    assert.equal(await redis.xlen("key_submission:dead"), 1);
    const lengthBefore = await redis.xlen("key_submission");

    // 3. Redriven twice, by id: appended once; the second says when and as what.
    const first = await run("redrive", "key_submission", dead.id, "--url", url);
    assert.equal(first.code, ExitCode.Ok, first.err);
    const redrivenId = first.out.match(/redriven as (\d+-\d+)/)?.[1];
    assert.ok(redrivenId, first.out);
    assert.match(first.out, /1 redriven to key_submission\./);
    const second = await run("redrive", "key_submission", dead.id, "--url", url, "--json");
    assert.equal(second.code, ExitCode.Ok, second.err);
    const [again, total] = lines(second.out);
    assert.deepEqual([again.event, again.entry_id, again.redriven_id], ["already_redriven", dead.id, redrivenId]);
    assert.deepEqual([total.redriven, total.already], [0, 1]);
    assert.equal(
      (await run("redrive", "key_submission", "--all", "--url", url)).out.trim(),
      "0 redriven to key_submission.",
    );
    assert.equal(await redis.xlen("key_submission"), lengthBefore + 1, "appended once");
    assert.equal(await redis.xlen("key_submission:dead"), 0, "no longer waiting in the dead-letter stream");
    const [appended] = toEntries(await redis.xrange("key_submission", redrivenId, redrivenId));
    assert.equal(appended!.fields![PAYLOAD_FIELD], dead.fields![PAYLOAD_FIELD]);
    assert.equal(appended!.fields!.redriven_from, dead.id);

    // 4. A processor without the poison rule processes it, once.
    {
      await using healthy = runMain(processor, [
        ...["--url", url, "--durable", "--consumer", "p2", "--json", "--stats-interval", "0", "--publish-stats", "0"],
      ]);
      await healthy.io.out.waitFor(new RegExp(`"event":"processed".*"entry_id":"${redrivenId}"`));
      healthy.io.stop();
      assert.equal(await healthy.exit, ExitCode.Ok);
    }
    const results = toEntries(await redis.xrange("processing_results", "-", "+"))
      .map((e) => JSON.parse(e.fields![PAYLOAD_FIELD]!))
      .filter((r) => r.source_stream === "key_submission");
    assert.deepEqual(results.map((r) => r.source_entry_id), [redrivenId], "one result: the redriven entry's");

    // 5. The history: shown for the redriven dead entry from the ledger.
    const shown = await run("show", "key_submission", dead.id, "--url", url);
    assert.equal(shown.code, ExitCode.Ok, shown.err);
    assert.match(shown.out, new RegExp(`redriven\\s+as ${redrivenId} at \\d{4}-`));
    assert.equal((await run("show", "key_submission", "1-1", "--url", url)).code, ExitCode.Failure);
  },
);

ownServerTest("an entry that dies again after a redrive keeps its attempt history", async () => {
  await using server = await testServer({ own: true });
  await using redis = testClient(server.url);
  const url = server.url;
  const processorArgs = [
    ...["--url", url, "--durable", "--consumer", "p1", "--json", "--stats-interval", "0", "--publish-stats", "0"],
    ...["--max-deliveries", "1", "--fail-key", "poison"],
  ];
  await using failing = runMain(processor, processorArgs);
  await failing.io.err.waitFor(/Press Ctrl\+C to stop/);
  const originalId = await new StreamPublisher(redis).append("key_submission", keySubmittedEvent("poison"));
  await eventually(async () => await redis.xlen("key_submission:dead") === 1, "the first death");
  const redriven = await run("redrive", "key_submission", "--all", "--url", url, "--json");
  const redrivenId = lines(redriven.out)[0].redriven_id;
  await eventually(async () => await redis.xlen("key_submission:dead") === 1, "the second death");
  failing.io.stop();
  assert.equal(await failing.exit, ExitCode.Ok);
  const [secondDeath] = toEntries(await redis.xrange("key_submission:dead", "-", "+"));
  const detail = lines((await run("show", "key_submission", secondDeath!.id, "--url", url, "--json")).out)[0];
  assert.equal(detail.original_id, redrivenId);
  assert.equal(detail.history.length, 1);
  assert.equal(detail.history[0].original_id, originalId);
  assert.equal(detail.history[0].redriven_id, redrivenId);
  const listed = lines((await run("list", "key_submission", "--url", url, "--json")).out)[0];
  assert.equal(listed.earlier_rounds, 1);
  const since = lines((await run("list", "key_submission", "--since", "1h", "--url", url, "--json")).out);
  assert.equal(since.at(-1).listed, 1);
});

Deno.test("dead_letters.ts refuses what it cannot do, in one line with exit code 2", async () => {
  for (
    const args of [
      [],
      ["purge", "s"],
      ["list"],
      ["redrive", "s"],
      ["redrive", "s", "1-0", "--all"],
      ["show", "s", "1-0..2-0"],
      ["list", "s", "--dry-run"],
      ["redrive", "s", "nonsense"],
      ["redrive", "s", "--since", "yesterday"],
    ]
  ) {
    const r = await run(...args, "--url", "redis://127.0.0.1:1");
    assert.equal(r.code, ExitCode.Usage, `${args.join(" ")}: ${r.err}`);
    assert.equal(r.err.trim().split("\n").length, 2, r.err);
  }
});
