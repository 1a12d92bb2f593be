/**
 * scripts/bench.ts (lib/bench/): a run with a known number of messages loses
 * none, a subscriber the server drops for falling behind loses exactly what
 * it did not receive, and a server that is not on loopback is refused.
 * (tests/bench/ is `deno task bench`, not tests.)
 *
 * @module
 */
import assert from "node:assert/strict";
import { main } from "../../scripts/bench.ts";
import { runBaseline } from "../../lib/bench/baseline.ts";
import { ExitCode } from "../../lib/core/exit_codes.ts";
import { captureIo, ownServerTest, testClient, testServer } from "../harness.ts";
import { bench } from "./run_bench.ts";

interface PerSubscriber {
  delivered: number;
  lost: number;
  dropped: boolean;
}

Deno.test("bench.ts counts a run of a known size exactly: nothing lost, duplicated or reordered", async (t) => {
  await using server = await testServer();
  for (const mode of ["pubsub", "pattern", "stream"]) {
    await t.step(mode, async () => {
      const args = ["--url", server.url, "--mode", mode, "--pub", "2", "--sub", "2", "--channels", "3"];
      const { code, summary, err } = await bench([...args, "--msgs", "3001", "--size", "100"]);
      assert.equal(code, ExitCode.Ok, err);
      assert.equal(summary.event, "summary");
      assert.equal(summary.published, 3001);
      assert.equal(summary.delivered, 6002);
      assert.equal(summary.lost, 0);
      assert.equal(summary.duplicates, 0);
      assert.equal(summary.reordered, 0);
      assert.equal(summary.slow_consumer_disconnects, 0);
      assert.equal(summary.stopped, false);
      const subs = summary.per_subscriber as PerSubscriber[];
      assert.deepEqual(subs.map((s) => [s.delivered, s.lost, s.dropped]), [[3001, 0, false], [3001, 0, false]]);
      const latency = summary.latency_ms as Record<string, number>;
      assert.ok(latency.p50! > 0 && latency.p50! <= latency.p99! && latency.p99! <= latency.max!, `${latency}`);
    });
  }
  await t.step("sharded, where the server has it", async () => {
    const { code, summary, err } = await bench(["--url", server.url, "--mode", "sharded", "--msgs", "500"]);
    if (code === ExitCode.Ok) assert.equal(summary.lost, 0);
    else {
      assert.equal(code, ExitCode.Failure);
      assert.match(err, /has no sharded pub\/sub .*\n.*--mode pubsub/);
    }
  });
});

ownServerTest("bench.ts reports exactly the loss of a subscriber the server drops for falling behind", async () => {
  await using server = await testServer({ own: true });
  await using redis = testClient(server.url);
  await redis.config("SET", "client-output-buffer-limit", "pubsub 1mb 512kb 1");
  // 10 MB a second while the first subscriber reads nothing for 3 s: far past what the sockets hold and the limit, so
  // the server drops it; paced, so that the other one, reading, keeps up even with the machine busy (the publisher,
  // in a worker of its own, would otherwise outrun any subscriber past a limit this small).
  const args = [
    ...["--url", server.url, "--sub", "2", "--size", "1024", "--msgs", "40000", "--rate", "10000"],
    ...["--stall-sub", "3s"],
  ];
  const { code, summary, err } = await bench(args);
  assert.equal(code, ExitCode.Ok, err);
  assert.equal(summary.published, 40_000);
  const [stalled, steady] = summary.per_subscriber as PerSubscriber[];
  assert.equal(stalled!.dropped, true);
  assert.ok(stalled!.delivered < 40_000, `the stalled subscriber received ${stalled!.delivered}`);
  assert.equal(stalled!.lost, 40_000 - stalled!.delivered);
  assert.deepEqual([steady!.delivered, steady!.lost, steady!.dropped], [40_000, 0, false]);
  assert.equal(summary.lost, 40_000 - stalled!.delivered);
  assert.equal(summary.delivered, 40_000 + stalled!.delivered);
  assert.equal(summary.duplicates, 0);
  assert.equal(summary.slow_consumer_disconnects, 1);
  assert.equal(summary.other_disconnects, 0);
});

Deno.test("bench.ts refuses a server that is not on loopback, and bad flags, before connecting", async () => {
  for (
    const [args, said] of [
      [["--url", "redis://192.0.2.1:6379"], /not on this machine.*\n.*--allow-remote/],
      [["--url", "redis://127.0.0.1:1", "--mode", "gossip"], /--mode must be one of pubsub, pattern, sharded, stream/],
      [["--url", "redis://127.0.0.1:1", "--size", "8"], /--size must be between 32/],
      [["--url", "redis://127.0.0.1:1", "--csv"], /--json and --csv/],
    ] as const
  ) {
    const { code, summary, err } = await bench([...args]);
    assert.equal(code, ExitCode.Usage, err);
    assert.deepEqual(summary, {});
    assert.match(err, said);
    assert.ok(err.trim().split("\n").length <= 3 && !/Uncaught|\n\s+at /.test(err), err);
  }
});

Deno.test("bench.ts --csv writes a header and one row of the same columns", async () => {
  await using server = await testServer();
  const io = captureIo();
  assert.equal(await main(["--url", server.url, "--msgs", "200", "--csv"], io), ExitCode.Ok);
  const [header, row, ...rest] = io.out.text.trimEnd().split("\n");
  assert.deepEqual(rest, []);
  assert.equal(header!.split(",").length, row!.split(",").length);
  const values = Object.fromEntries(header!.split(",").map((c, i) => [c, row!.split(",")[i]]));
  assert.equal(values.published, "200");
  assert.equal(values.lost, "0");
});

Deno.test("runBaseline() never puts a URL's password on redis-benchmark's command line", async () => {
  const result = await runBaseline("redis://user:TopSecret99@127.0.0.1:1", 10, 32, new AbortController().signal);
  assert.ok("missing" in result, "not run");
  assert.match(result.missing, /process list/);
  assert.doesNotMatch(result.missing, /TopSecret99/);
});
