import assert from "node:assert/strict";
import { main as check } from "../../scripts/check.ts";
import { captureIo, ownServerTest, testClient, testServer } from "../harness.ts";

/** Runs check.ts to its end: its exit code, its lines, and stderr. */
async function run(...args: string[]) {
  const io = captureIo();
  const code = await check(args, io);
  return { code, lines: io.out.text.trim().split("\n").filter((l) => l !== ""), err: io.err.text };
}

/** check.ts --json: its exit code and its check objects by name, and its summary. */
async function runJson(...args: string[]) {
  const { code, lines, err } = await run(...args, "--json");
  const objects = lines.map((l) => JSON.parse(l));
  const checks = Object.fromEntries(objects.filter((o) => o.event === "check").map((o) => [o.name, o]));
  return { code, checks, summary: objects.find((o) => o.event === "summary"), err };
}

Deno.test("check.ts: a consumer group's lag, pending, longest idle and dead letters against --warn and --crit", async () => {
  await using server = await testServer();
  await using redis = testClient(server.url);
  const stream = `${server.prefix}orders`;
  try {
    await redis.xgroup("CREATE", stream, "billing", "$", "MKSTREAM");
    for (let i = 0; i < 5; i++) await redis.xadd(stream, "*", "payload", `{"n":${i}}`);
    // Two delivered and not acknowledged (pending), three not delivered yet (lag).
    await redis.xreadgroup("GROUP", "billing", "c1", "COUNT", 2, "STREAMS", stream, ">");
    await redis.xadd(`${stream}:dead`, "*", "payload", "x", "reason", "boom");
    const base = ["--url", server.url, "--stream", stream, "--group", "billing"];

    const ok = await runJson(...base);
    assert.equal(ok.code, 0, ok.err);
    assert.equal(ok.checks[`${stream}/billing lag`].value, 3);
    assert.equal(ok.checks[`${stream}/billing pending`].value, 2);
    assert.ok(ok.checks[`${stream}/billing oldest pending idle`].value >= 0);
    assert.equal(ok.checks[`${stream} dead letters`].value, 1);
    assert.deepEqual([ok.summary.status, ok.summary.exit_code, ok.summary.checks], ["OK", 0, 4]);

    const warned = await run(...base, "--warn", "lag=2,pending=5", "--crit", "lag=10");
    assert.equal(warned.code, 1, warned.lines.join("\n"));
    assert.match(
      warned.lines[0]!,
      new RegExp(
        `^WARNING: ${stream}/billing lag 3 entries not yet delivered.* \\(warn > 2, crit > 10\\) \\| '.*lag'=3;2;10$`,
      ),
    );
    assert.match(warned.lines[1]!, /^OK: .*pending 2 entries pending \(warn > 5\)/);

    const critical = await run(...base, "--warn", "lag=2", "--crit", "dead=0");
    assert.equal(critical.code, 2, "the worst line decides: CRITICAL over WARNING");
    assert.match(critical.lines[3]!, new RegExp(`^CRITICAL: ${stream} dead letters 1 in ${stream}:dead`));

    await new Promise((resolve) => setTimeout(resolve, 30));
    const idle = await run(...base, "--crit", "idle=10ms");
    assert.equal(idle.code, 2);
    assert.match(idle.lines[2]!, /^CRITICAL: .*oldest pending idle \d+\.\d s, entry \d+-\d+ \(crit > 10 ms\)/);

    const missing = await run("--url", server.url, "--stream", stream, "--group", "nobody");
    assert.equal(missing.code, 2);
    assert.deepEqual(missing.lines, [`CRITICAL: ${stream}/nobody no group nobody on stream ${stream}`]);
  } finally {
    await redis.del(stream, `${stream}:dead`);
  }
});

Deno.test("check.ts: a channel's subscribers (at least 1 by default) and a canary's round trip", async () => {
  await using server = await testServer();
  const channel = `${server.prefix}news`;
  const none = await run("--url", server.url, "--channel", channel);
  assert.equal(none.code, 2);
  assert.match(none.lines[0]!, new RegExp(`^CRITICAL: ${channel} subscribers 0 subscriber\\(s\\) \\(crit < 1\\)`));
  await using sub = testClient(server.url);
  await sub.subscribe(channel);
  const one = await run("--url", server.url, "--channel", channel, "--warn", "subscribers=2");
  assert.equal(one.code, 1, one.lines.join("\n"));
  assert.match(one.lines[0]!, /^WARNING: .* 1 subscriber\(s\) \(warn < 2, crit < 1\)/);

  const canary = await runJson("--url", server.url, "--canary", "--canary-channel", `${server.prefix}canary`);
  assert.equal(canary.code, 0, canary.err);
  const line = canary.checks[`canary on ${server.prefix}canary`];
  assert.ok(line.value > 0 && line.value < 5, `${line.value} s`);
  const slow = await run("--url", server.url, "--canary", "--crit", "latency=0ms");
  assert.equal(slow.code, 2, "any round trip is over 0 ms");
});

ownServerTest("check.ts: keyspace notifications on, off, or lacking letters asked for", async () => {
  await using server = await testServer({ own: true, notifications: "Kg" });
  const on = await run("--url", server.url, "--notifications");
  assert.equal(on.code, 0, on.lines.join("\n"));
  assert.match(on.lines[0]!, /^OK: notifications on 127\.0\.0\.1:\d+ on \("[gK]{2}"\)$/);
  const lacking = await run("--url", server.url, "--notifications", "--notify-flags", "K$");
  assert.equal(lacking.code, 2);
  assert.match(lacking.lines[0]!, /^CRITICAL: notifications on \S+ "[gK]{2}" lacks \$ \(needed: K\$\)$/);
  await using redis = testClient(server.url);
  await redis.config("SET", "notify-keyspace-events", "");
  const off = await run("--url", server.url, "--notifications");
  assert.equal(off.code, 2);
  assert.match(off.lines[0]!, /^CRITICAL: notifications on \S+ off \(notify-keyspace-events ""\)$/);
});

Deno.test("check.ts: a server that cannot be reached is CRITICAL; bad flags and a non-cluster's --cluster-state UNKNOWN", async () => {
  const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (closed.addr as Deno.NetAddr).port;
  closed.close();
  const down = await run("--url", `redis://:secret@127.0.0.1:${port}`, "--canary");
  assert.equal(down.code, 2);
  assert.match(down.lines[0]!, /^CRITICAL: connect Cannot connect to redis:\/\/:\*\*\*@127\.0\.0\.1:\d+/);
  assert.ok(!down.lines.join("\n").includes("secret") && !down.err.includes("secret"));
  for (const args of [[], ["--stream", "s"], ["--warn", "lag"], ["--warn", "nope=1", "--canary"], ["--bogus"]]) {
    const bad = await run(...args);
    assert.equal(bad.code, 3, `${args.join(" ")}: ${bad.err}`);
    assert.equal(bad.lines.length, 0);
    assert.match(bad.err, /^error: /);
  }
  assert.equal((await run("--help")).code, 0);
  await using server = await testServer();
  const single = await run("--url", server.url, "--cluster-state");
  assert.equal(single.code, 3);
  assert.match(single.lines[0]!, /^UNKNOWN: cluster not a cluster/);
});
