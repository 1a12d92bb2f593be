import assert from "node:assert/strict";
import { main as listener } from "../../scripts/keyspace_listener.ts";
import { main as writer } from "../../scripts/keyspace_writer.ts";
import { ExitCode } from "../../lib/core/exit_codes.ts";
import { percentile } from "../../lib/core/stats.ts";
import { captureIo, ownServerTest, runMain, ScriptProcess, testClient, testServer } from "../harness.ts";

const runListener = (args: string[]) => runMain(listener, args);

/** The lab's two keys under the test's prefix, as flags for either script. */
const labKeys = (prefix: string) => ["--key", `${prefix}shared_key`, "--handshake-key", `${prefix}handshake_key`];

Deno.test("keyspace_writer and keyspace_listener complete 50 handshakes with consistent statistics", async () => {
  await using server = await testServer();
  await using l = runListener(["--url", server.url, ...labKeys(server.prefix), "--count", "50", "--json"]);
  await l.io.err.waitFor(/Listening on /);
  const io = captureIo();
  const args = ["--url", server.url, ...labKeys(server.prefix), "--count", "50", "--interval", "0", "--timeout", "5s"];
  assert.equal(await writer([...args, "--json"], io), ExitCode.Ok);
  assert.equal(await l.exit, ExitCode.Ok);

  const lines = io.out.text.trim().split("\n").map((line) => JSON.parse(line));
  const rounds = lines.filter((x) => x.event === "round");
  const summary = lines.at(-1);
  assert.equal(rounds.length, 50);
  assert.deepEqual(rounds.map((r) => r.n), Array.from({ length: 50 }, (_, i) => i + 1));
  assert.equal(new Set(rounds.map((r) => r.value)).size, 50, "every round writes its own value");
  const times: number[] = rounds.map((r) => r.round_trip_ms);
  assert.ok(times.every((t) => t > 0 && t < 5000));
  assert.equal(summary.event, "summary");
  assert.deepEqual([summary.rounds, summary.handshakes, summary.timeouts, summary.write_errors], [50, 50, 0, 0]);
  assert.equal(summary.min_ms, Math.min(...times));
  assert.equal(summary.max_ms, Math.max(...times));
  assert.equal(summary.p50_ms, percentile(times, 50));
  assert.equal(summary.p99_ms, percentile(times, 99));
  assert.ok(summary.min_ms <= summary.p50_ms && summary.p50_ms <= summary.p99_ms && summary.p99_ms <= summary.max_ms);

  const events = l.io.out.text.trim().split("\n").map((line) => JSON.parse(line)).filter((x) =>
    x.event === "notification"
  );
  assert.equal(events.length, 50);
  assert.ok(events.every((e) => e.handshake === true && typeof e.delay_ms === "number"));
});

Deno.test("keyspace_writer times out each round when nobody answers, and exits with the timeout code", async () => {
  await using server = await testServer();
  const io = captureIo();
  const started = Date.now();
  const args = ["--url", server.url, ...labKeys(server.prefix), "--count", "2", "--interval", "0"];
  const code = await writer([...args, "--timeout", "200ms"], io);
  assert.equal(code, ExitCode.Timeout);
  assert.ok(Date.now() - started < 5000);
  assert.equal(io.out.count(/no handshake within 0.2 s/), 2);
  assert.match(io.out.text, /0 handshake\(s\) in 2 round\(s\): min – .* 2 timed out/);
  assert.match(io.err.text, new RegExp(`No handshake arrived on ${server.prefix}handshake_key`));
});

Deno.test("keyspace_writer ignores a handshake that is not for its round", async () => {
  await using server = await testServer({ notifications: "K$" });
  const p = server.prefix;
  const io = captureIo();
  const running = writer(["--url", server.url, ...labKeys(p), "--count", "1", "--timeout", "400ms"], io);
  await io.err.waitFor(new RegExp(`Writing ${p}shared_key`));
  // Someone else's handshake (not carrying this round's value) must not end the round.
  const other = ["--key", `${p}other`, "--handshake-key", `${p}handshake_key`];
  await using l = runListener(["--url", server.url, ...other, "--count", "1"]);
  await l.io.err.waitFor(/Listening on /);
  {
    await using redis = testClient(server.url);
    await redis.set(`${p}other`, "someone else timestamp 1725543675");
  }
  assert.equal(await l.exit, ExitCode.Ok);
  assert.equal(await running, ExitCode.Timeout);
  assert.match(io.out.text, /no handshake within 0.4 s/);
});

Deno.test("keyspace_writer as a subprocess: --help, usage errors, and a clean Ctrl+C between rounds", async () => {
  {
    await using help = new ScriptProcess("keyspace_writer.ts", ["--help"]);
    assert.equal(await help.exit(), ExitCode.Ok);
    assert.match(help.out.text, /--handshake-key KEY/);
  }
  {
    await using bad = new ScriptProcess("keyspace_writer.ts", ["--key", "k", "--handshake-key", "k"]);
    assert.equal(await bad.exit(), ExitCode.Usage);
    assert.match(bad.err.text, /--key and --handshake-key must differ/);
  }
  await using server = await testServer();
  await using p = new ScriptProcess("keyspace_writer.ts", [
    "--url",
    server.url,
    ...labKeys(server.prefix),
    "--interval",
    "10s",
    "--timeout",
    "1s",
  ]);
  await p.out.waitFor(/#1 .*no handshake within 1 s/);
  p.kill("SIGINT");
  assert.equal(await p.exit(), ExitCode.Ok, "Ctrl+C is a normal end");
  assert.match(p.out.text, /0 handshake\(s\) in 1 round\(s\)/);
});

ownServerTest("keyspace_writer keeps measuring across a server restart, with the listener", async () => {
  await using server = await testServer({ own: true });
  await using l = runListener(["--url", server.url]);
  await l.io.err.waitFor(/Listening on /);
  const io = captureIo();
  const running = writer(["--url", server.url, "--count", "400", "--interval", "50ms", "--timeout", "1s"], io);
  try {
    await io.out.waitFor(/(handshake in[\s\S]*){3}/);
    await server.local!.stop();
    await io.err.waitFor(/lost/);
    await server.local!.start(); // notifications off again: both scripts must turn them back on
    await io.err.waitFor(/Reconnected/, 15_000);
    const before = io.out.count(/handshake in/);
    await io.out.waitFor(new RegExp(`(handshake in[\\s\\S]*){${before + 3}}`), 15_000);
  } finally {
    io.stop();
  }
  assert.equal(await running, ExitCode.Ok);
  assert.match(io.out.text, /server unavailable, round skipped|no handshake within/);
  assert.doesNotMatch(io.out.text, /write failed/);
  assert.match(io.out.text, /handshake\(s\) in \d+ round\(s\)/);
});

/** Makes the server hold every write (SET, PUBLISH) without answering, until disposed. */
async function frozen(url: string): Promise<AsyncDisposable> {
  const redis = testClient(url);
  await redis.call("CLIENT", "PAUSE", "30000", "WRITE");
  return {
    [Symbol.asyncDispose]: async () => {
      await redis.call("CLIENT", "UNPAUSE");
      await redis[Symbol.asyncDispose]();
    },
  };
}

ownServerTest("keyspace_writer: a server that holds its writes → rounds skipped within --timeout, exit 1", async () => {
  await using server = await testServer({ own: true, notifications: "K$" });
  await using _frozen = await frozen(server.url);
  const started = Date.now();
  const { io, exit } = runMain(
    writer,
    ["--url", server.url, "--count", "2", "--interval", "0", "--timeout", "300ms"],
    10_000,
  );
  assert.equal(await exit, ExitCode.Failure, io.err.text);
  assert.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms`);
  assert.equal(io.out.count(/server unavailable, round skipped \(SET got no answer within 0\.3 s\)/), 2);
  assert.match(io.out.text, /0 handshake\(s\) in 2 round\(s\): .* 0 timed out, 2 skipped \(server unavailable\)\./);
  assert.match(io.err.text, /unavailable for every round/);
});

ownServerTest("keyspace_writer: Ctrl+C while the server holds a write stops at once", async () => {
  await using server = await testServer({ own: true, notifications: "K$" });
  await using _frozen = await frozen(server.url);
  const { io, exit } = runMain(writer, ["--url", server.url, "--timeout", "30s"], 10_000);
  await io.err.waitFor(/Writing shared_key/);
  const stopped = Date.now();
  io.stop();
  assert.equal(await exit, ExitCode.Ok);
  assert.ok(Date.now() - stopped < 3000, `took ${Date.now() - stopped} ms`);
  assert.match(io.out.text, /0 handshake\(s\) in 0 round\(s\)/);
});

ownServerTest("keyspace_writer: rounds while the server is down are skipped and counted, not failed", async () => {
  await using server = await testServer({ own: true, notifications: "K$" });
  const { io, exit } = runMain(writer, [
    "--url",
    server.url,
    "--count",
    "3",
    "--interval",
    "200ms",
    "--timeout",
    "300ms",
  ]);
  await io.out.waitFor(/#1 .*no handshake within 0\.3 s/);
  await server.local!.stop();
  assert.equal(await exit, ExitCode.Timeout, io.out.text + io.err.text);
  assert.equal(io.out.count(/server unavailable, round skipped \(not connected\)/), 2);
  assert.match(io.out.text, /0 handshake\(s\) in 3 round\(s\): .* 1 timed out, 2 skipped \(server unavailable\)\./);
  assert.doesNotMatch(io.out.text, /write failed/);
});

Deno.test("keyspace_writer: a --name too long for the handshake's copy is a usage error", async () => {
  const io = captureIo();
  assert.equal(await writer(["--url", "redis://127.0.0.1:1", "--name", "n".repeat(300)], io), ExitCode.Usage);
  assert.match(io.err.text, /--name must be at most 229 bytes/);
});

Deno.test("keyspace_writer turns on K$ even when --handshake-key looks like a pattern", async () => {
  await using server = await testServer();
  const io = captureIo();
  const keys = ["--key", `${server.prefix}shared_key`, "--handshake-key", `${server.prefix}hs:[1]*`];
  const args = ["--url", server.url, ...keys, "--count", "1", "--timeout", "200ms"];
  assert.equal(await writer(args, io), ExitCode.Timeout);
  assert.match(io.err.text, /added K\$/);
  await using redis = testClient(server.url);
  const [, flags] = await redis.config("GET", "notify-keyspace-events") as string[];
  assert.ok(flags!.includes("K") && !flags!.includes("E"), flags);
});

ownServerTest(
  "keyspace_writer --restore-config puts notify-keyspace-events back at exit, even after a timeout",
  async () => {
    await using server = await testServer({ own: true, notifications: "Eh" });
    await using redis = testClient(server.url);
    const io = captureIo();
    const args = ["--url", server.url, "--count", "1", "--timeout", "100ms", "--restore-config"];
    assert.equal(await writer(args, io), ExitCode.Timeout);
    assert.match(io.err.text, /Enabled keyspace notifications/);
    assert.match(io.err.text, /Put notify-keyspace-events back to "hE" on /);
    assert.deepEqual(await redis.config("GET", "notify-keyspace-events"), ["notify-keyspace-events", "hE"]);
  },
);

Deno.test("keyspace_writer --name Python01 --seconds writes the seed's value, which the listener reads as whole seconds", async () => {
  await using server = await testServer();
  await using l = runListener(["--url", server.url, ...labKeys(server.prefix), "--count", "2"]);
  await l.io.err.waitFor(/Listening on /);
  const io = captureIo();
  const args = ["--url", server.url, ...labKeys(server.prefix), "--name", "Python01", "--seconds", "--count", "2"];
  assert.equal(await writer([...args, "--json"], io), ExitCode.Ok);
  assert.equal(await l.exit, ExitCode.Ok);
  const rounds = io.out.text.trim().split("\n").map((line) => JSON.parse(line)).filter((x) => x.event === "round");
  assert.equal(rounds.length, 2);
  for (const r of rounds) {
    assert.match(r.value, /^Python01 timestamp \d{10}$/); // the seed's form: `Python01 timestamp 1725543675`
    assert.ok(Math.abs(Number(r.value.split(" ")[2]) - Date.now() / 1000) < 60);
    assert.equal(r.listener_delay_ms, undefined, "no listener delay from a stamp in whole seconds");
  }
  assert.notEqual(rounds[0].value, rounds[1].value);
  assert.equal(
    l.io.out.count(/set .*shared_key: Python01 timestamp \d{10} · delay \d+ ms \(stamp has whole seconds only\)/),
    2,
  );

  const fast = captureIo();
  assert.equal(await writer([...args, "--interval", "500ms"], fast), ExitCode.Usage);
  assert.match(fast.err.text, /--seconds needs --interval 1s or more/);
});
