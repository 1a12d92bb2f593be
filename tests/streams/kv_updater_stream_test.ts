import assert from "node:assert/strict";
import { main as updater } from "../../scripts/kv_updater.ts";
import { ExitCode } from "../../lib/core/exit_codes.ts";
import { delay } from "../../lib/core/timing.ts";
import { parseUpdate } from "../../lib/kv/message.ts";
import { appendSender } from "../../lib/streams/append.ts";
import { pendingCount } from "../../lib/streams/groups.ts";
import { writeIfNewer } from "../../lib/streams/kv_stream.ts";
import { faultProxy } from "../fake_servers.ts";
import { captureIo, eventually, ownServerTest, runMain, ScriptProcess, testClient, testServer } from "../harness.ts";

function update(type: string, updated: string, values: Record<string, unknown> = {}) {
  return JSON.stringify({ type, updated, valid: "2030-01-01T00:00:00Z", values });
}

function parsed(text: string) {
  const p = parseUpdate(new TextEncoder().encode(text));
  assert.ok(p.ok);
  return p.update;
}

ownServerTest("writeIfNewer writes only an update newer than the stored one, reading every ISO-8601 form", async () => {
  await using server = await testServer({ own: true });
  await using redis = testClient(server.url);
  const cases: [string, string, boolean][] = [
    // stored updated, incoming updated, written?
    ["2025-06-01T12:00:00+02:00", "2025-06-01T11:00:00Z", true], // 10:00Z < 11:00Z
    ["2025-06-01T12:00:00Z", "2025-06-01T12:00:00Z", false], // as new: stale
    ["2025-06-01T12:00:00.500Z", "2025-06-01T12:00:00.4Z", false],
    ["2025-06-01T12:00", "2025-06-01T12:00:01", true], // no seconds, no zone: UTC
    ["2024-02-29T23:59:59-0130", "2024-03-01T01:29:59Z", false], // the same instant
    ["2024-12-31T23:59:59,999Z", "2025-01-01T00:00:00Z", true],
    ["1999-12-31T00:00:00z", "1970-01-01T00:00:00Z", false],
  ];
  for (const [i, [stored, incoming, expected]] of cases.entries()) {
    const key = `t${i}`;
    assert.equal(await writeIfNewer(redis, key, parsed(update(key, stored, { v: "old" })), false), true);
    assert.equal(
      await writeIfNewer(redis, key, parsed(update(key, incoming, { v: "new" })), false),
      expected,
      `${stored} → ${incoming}`,
    );
    assert.equal(JSON.parse((await redis.get(key))!).values.v, expected ? "new" : "old");
  }
  // expire-at-valid: PXAT in the same script
  assert.ok(await writeIfNewer(redis, "exp", parsed(update("exp", "2025-01-01T00:00:00Z")), true));
  assert.ok(await redis.pttl("exp") > 0);
});

ownServerTest(
  "kv_updater --stream killed with SIGKILL while updates are appended: every type ends with its newest update",
  async () => {
    await using server = await testServer({ own: true });
    await using redis = testClient(server.url);
    const types = Array.from({ length: 10 }, (_, i) => `Type${i}`);
    const send = appendSender();
    let version = 0;
    const appendRound = async (versions: number) => {
      for (let v = 0; v < versions; v++, version++) {
        const updated = new Date(Date.UTC(2025, 0, 1) + version * 1000).toISOString();
        await send(redis, types.map((t) => ({ channel: "update", payload: update(t, updated, { version }) })));
      }
    };
    const args = ["--stream", "update", "--consumer", "k1", "--url", server.url, "--stats-interval", "0", "--json"];
    const kills = 4;
    for (let round = 0; round <= kills; round++) {
      await using p = new ScriptProcess("kv_updater.ts", args);
      await p.err.waitFor(/Press Ctrl\+C to stop/, 20_000);
      await appendRound(50);
      if (round < kills) {
        await delay(Math.random() * 20); // somewhere in the middle of the writes
        p.kill("SIGKILL");
        await p.exit();
        continue;
      }
      // An old update arriving last: it must not win.
      await send(redis, [{ channel: "update", payload: update("Type0", "2024-01-01T00:00:00Z", { version: -1 }) }]);
      const newest = version - 1;
      for (let i = 0; i < 500; i++) {
        const values = await Promise.all(
          types.map(async (t) => JSON.parse((await redis.get(t)) ?? "{}").values?.version),
        );
        if (values.every((v) => v === newest) && await pendingCount(redis, "update", "kv_updater") === 0) break;
        await delay(20);
      }
      p.kill("SIGINT");
      assert.equal(await p.exit(), ExitCode.Ok);
      const summary = JSON.parse(p.out.text.trim().split("\n").at(-1)!);
      assert.ok(summary.stale >= 1, `the old update is counted stale: ${JSON.stringify(summary)}`);
    }
    for (const t of types) assert.equal(JSON.parse((await redis.get(t))!).values.version, version - 1, t);
    assert.equal(await pendingCount(redis, "update", "kv_updater"), 0);
  },
);

ownServerTest(
  "kv_updater --stream counts stale and rejected updates; rejected ones go to the dead-letter stream",
  async () => {
    await using server = await testServer({ own: true });
    await using redis = testClient(server.url);
    await using running = runMain(updater, [
      "--url",
      server.url,
      "--stream",
      "update",
      "--consumer",
      "k",
      "--stats-interval",
      "0",
    ]);
    await running.io.err.waitFor(/Consuming stream "update" .* as k in group kv_updater \(created, from the start\)/);
    const send = appendSender();
    await send(redis, [
      { channel: "update", payload: update("Moon", "2025-01-01T00:00:10Z", { phase: 2 }) },
      { channel: "update", payload: update("Moon", "2025-01-01T00:00:05Z", { phase: 1 }) },
      { channel: "update", payload: '{"type": "Moon"' },
    ]);
    await running.io.err.waitFor(/Moved entry \S+ of update to update:dead/);
    for (let i = 0; i < 200 && await pendingCount(redis, "update", "kv_updater") > 0; i++) await delay(10);
    running.io.stop();
    assert.equal(await running.exit, ExitCode.Ok);
    assert.match(
      running.io.out.text,
      /Stopped\. received 3 · stored 1 · stale 1 · superseded 0 · rejected 1 \(invalid_json 1\)/,
    );
    assert.equal(JSON.parse((await redis.get("Moon"))!).values.phase, 2);
    assert.match(running.io.err.text, /ERROR Rejected message \(invalid_json\)/);
    const io = captureIo();
    assert.equal(await updater(["--stream", "update", "--validate"], io), ExitCode.Usage);
    assert.equal(await updater(["--group", "g"], captureIo()), ExitCode.Usage);
  },
);

ownServerTest(
  "kv_updater --stream stores an update damaged in transit from its stored copy, counted once, never rejected",
  async () => {
    await using server = await testServer({ own: true });
    await using redis = testClient(server.url);
    await using proxy = faultProxy(server.local!.port);
    const payload = update("Moon", "2025-01-01T00:00:10Z", { phase: 2 });
    let damaged = false;
    proxy.damageOnce(payload, payload.slice(0, -1) + "=").then(() => damaged = true);
    await using running = runMain(updater, ["--url", proxy.url, "--stream", "update", "--stats-interval", "0"]);
    await running.io.err.waitFor(/Press Ctrl\+C to stop/);
    await appendSender()(redis, [{ channel: "update", payload }]);
    await running.io.err.waitFor(/arrived damaged in transit \(invalid_json: .*\) but is intact in the stream/);
    await eventually(async () => damaged && await redis.exists("Moon") === 1, "the damaged one stored", 10_000);
    running.io.stop();
    assert.equal(await running.exit, ExitCode.Ok);
    assert.equal(JSON.parse((await redis.get("Moon"))!).values.phase, 2);
    assert.equal(await redis.exists("update:dead"), 0);
    assert.match(running.io.out.text, /Stopped\. received 1 · stored 1 · stale 0 · superseded 0 · rejected 0/);
    assert.doesNotMatch(running.io.err.text, /Rejected message/);
  },
);
