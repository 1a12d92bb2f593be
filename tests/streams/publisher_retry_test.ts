import assert from "node:assert/strict";
import { main as publisher } from "../../scripts/publisher.ts";
import { ExitCode } from "../../lib/core/exit_codes.ts";
import { PAYLOAD_FIELD, toEntries } from "../../lib/streams/entry.ts";
import { faultProxy } from "../fake_servers.ts";
import { ownServerTest, replicaPair, runMain, testServer, withClient } from "../harness.ts";

/** `publisher.ts --stream STREAM {{n}} --repeat N --rate 50 --retry 20s --json` against `url`. */
function pacedAppends(url: string, stream: string, count: number) {
  const args = ["--url", url, "--stream", stream, "{{n}}", "--repeat", String(count), "--rate", "50"];
  return runMain(publisher, [...args, "--retry", "20s", "--json"]);
}

/** The payloads of a stream, oldest first. */
function payloads(url: string, stream: string): Promise<string[]> {
  return withClient(
    url,
    async (redis) => toEntries(await redis.xrange(stream, "-", "+")).map((e) => e.fields![PAYLOAD_FIELD]!),
  );
}

/** "1" … "n". */
const oneTo = (n: number) => Array.from({ length: n }, (_, i) => String(i + 1));

/** The summary a `--json` run printed last. */
function summary(text: string): Record<string, number> {
  const last = JSON.parse(text.trim().split("\n").at(-1)!);
  assert.equal(last.event, "summary");
  return last;
}

ownServerTest(
  "publisher --stream --retry: the server killed (kill -9) and restarted mid-run: every event appended once, none skipped",
  async () => {
    // An append-only file synced at each write: the restarted server has every append it confirmed.
    await using server = await testServer({ own: true, args: ["--appendonly", "yes", "--appendfsync", "always"] });
    const stream = `${server.prefix}ticks`;
    await using pub = pacedAppends(server.url, stream, 60);
    await pub.io.out.waitFor(/"n":10,/);
    await server.local!.kill();
    await pub.io.err.waitFor(/Connection to .* lost/);
    await server.local!.start();
    assert.equal(await pub.exit, ExitCode.Ok, pub.io.err.text);
    assert.deepEqual(await payloads(server.url, stream), oneTo(60));
    const s = summary(pub.io.out.text);
    assert.deepEqual([s.appended, s.skipped, s.restored], [60, 0, 0], JSON.stringify(s));
    assert.doesNotMatch(pub.io.err.text, /skipped/);
  },
);

ownServerTest(
  "publisher --stream --retry: an append carried out whose reply was lost is found at its id, not appended twice",
  async () => {
    await using server = await testServer({ own: true });
    await using proxy = faultProxy(server.local!.port);
    const stream = `${server.prefix}ticks`;
    await using pub = pacedAppends(proxy.url, stream, 40);
    await pub.io.out.waitFor(/"n":10,/);
    await proxy.loseNextReply();
    assert.equal(await pub.exit, ExitCode.Ok, pub.io.err.text);
    assert.deepEqual(await payloads(server.url, stream), oneTo(40));
    const s = summary(pub.io.out.text);
    assert.equal(s.appended, 40);
    assert.equal(s.skipped, 0);
    assert.ok(s.sent_again! >= 1 && s.found_appended === s.sent_again, JSON.stringify(s));
    assert.match(
      pub.io.err.text,
      /\d+ event\(s\) unconfirmed when it went away were sent again under the same entry ids; \d+ found appended already by an earlier try \(not appended twice\)/,
    );
    // Each event was printed once, with the id it has in the stream.
    const printed = pub.io.out.text.trim().split("\n").map((l) => JSON.parse(l)).filter((e) => e.event === "published");
    assert.deepEqual(printed.map((e) => e.payload), oneTo(40));
    const ids = await withClient(
      server.url,
      async (redis) => toEntries(await redis.xrange(stream, "-", "+")).map((e) => e.id),
    );
    assert.deepEqual(printed.map((e) => e.entry_id), ids);
  },
);

ownServerTest(
  "publisher --stream --retry: a replica that takes over without the last appends (async replication) gets them again",
  async () => {
    await using pair = await replicaPair();
    await using proxy = faultProxy(pair.primary.local!.port);
    const stream = `${pair.primary.prefix}ticks`;
    await using pub = pacedAppends(proxy.url, stream, 60);
    await pub.io.out.waitFor(/"n":10,/);
    // The replica stops following: it keeps what it had, and the primary goes on confirming appends it will not get.
    const kept = await withClient(pair.replica.url, async (redis) => {
      await redis.replicaof("NO", "ONE");
      return await redis.xlen(stream);
    });
    await pub.io.out.waitFor(new RegExp(`"n":${kept + 10},`));
    proxy.retarget(pair.replica.local!.port);
    assert.equal(await pub.exit, ExitCode.Ok, pub.io.err.text);
    assert.deepEqual(await payloads(pair.replica.url, stream), oneTo(60));
    const s = summary(pub.io.out.text);
    assert.equal(s.appended, 60);
    assert.equal(s.skipped, 0);
    // At least the 10 the primary confirmed after the replica stopped; at most all the primary has beyond it.
    const confirmedByPrimary = await withClient(pair.primary.url, (redis) => redis.xlen(stream));
    assert.ok(s.restored! >= 10 && s.restored! <= confirmedByPrimary - kept, `${kept} kept: ${JSON.stringify(s)}`);
    assert.match(pub.io.err.text, /The server no longer had \d+ appended event\(s\) \(.*\): appended again\./);
  },
);
