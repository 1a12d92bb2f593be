import assert from "node:assert/strict";
import { main as ping } from "../../scripts/ping.ts";
import { ExitCode } from "../../lib/core/exit_codes.ts";
import { freePort } from "../../lib/core/local_server.ts";
import { identifyServer, parseInfo } from "../../lib/core/server_identity.ts";
import { captureIo, ownServerTest, replicaPair, runMain, ScriptProcess, testServer } from "../harness.ts";
import { stallingServer } from "../fake_servers.ts";

const SERVER_LINE = /✓ server +(KeyDB|Valkey|Redis) \d+\.\d+\.\d+/;

Deno.test("identifyServer() tells KeyDB, Valkey and Redis apart from INFO", () => {
  const redis = "# Server\r\nredis_version:7.0.15\r\nredis_mode:standalone\r\nexecutable:/usr/bin/redis-server\r\n" +
    "# Clients\r\nconnected_clients:1\r\n";
  assert.deepEqual(identifyServer(parseInfo(redis)), {
    name: "Redis",
    version: "7.0.15",
    redisVersion: "7.0.15",
    mode: "standalone",
    evidence: "redis_version only",
  });
  const valkey = "# Server\r\nredis_version:7.2.4\r\nserver_name:valkey\r\nvalkey_version:8.0.2\r\n" +
    "server_mode:standalone\r\n";
  assert.deepEqual(identifyServer(parseInfo(valkey)), {
    name: "Valkey",
    version: "8.0.2",
    redisVersion: "7.2.4",
    mode: "standalone",
    evidence: "server_name:valkey",
  });
  const keydb = "# Server\r\nredis_version:6.3.4\r\nredis_mode:standalone\r\nexecutable:/opt/bin/server\r\n" +
    "# Clients\r\nconnected_clients:1\r\ncurrent_client_thread:0\r\nthread_0_clients:1\r\n";
  assert.equal(identifyServer(parseInfo(keydb))?.name, "KeyDB");
  assert.equal(identifyServer(parseInfo(keydb))?.version, "6.3.4");
  const keydbByName = "redis_version:6.0.16\r\nexecutable:/usr/local/bin/keydb-server\r\n";
  assert.equal(identifyServer(parseInfo(keydbByName))?.evidence, "executable:/usr/local/bin/keydb-server");
  assert.equal(identifyServer(parseInfo("# Server\r\nsomething:else\r\n")), undefined);
});

Deno.test("ping.ts with notifications off and CONFIG allowed: all the labs need, with a hint", async () => {
  await using server = await testServer();
  const io = captureIo();
  assert.equal(await ping(["--url", server.url], io), ExitCode.Ok);
  assert.match(io.out.text, SERVER_LINE);
  assert.match(io.out.text, /✓ round trip +PING [\d.]+ ms \(median of 5, max [\d.]+ ms\)/);
  assert.match(io.out.text, /✓ pub\/sub +a message made the trip in [\d.]+ ms/);
  assert.match(
    io.out.text,
    /! notifications +off \(notify-keyspace-events is ""\)\n +→ keyspace_listener\.ts turns on/,
  );
  assert.match(io.out.text, /✓ CONFIG +allowed/);
  assert.match(io.out.text, /✓ Everything the labs need is there\./);
});

Deno.test("ping.ts with notifications on: --json for machines", async () => {
  await using server = await testServer({ notifications: "KEA" });
  const io = captureIo();
  assert.equal(await ping(["--url", server.url, "--json"], io), ExitCode.Ok);
  const report = JSON.parse(io.out.text);
  assert.equal(report.ok, true);
  assert.equal(report.notifications, true);
  assert.equal(report.config_allowed, true);
  assert.match(report.server.name, /^(KeyDB|Valkey|Redis)$/);
  assert.equal(typeof report.ping_ms.median, "number");
  assert.deepEqual(report.checks.map((c: { name: string }) => c.name), [
    "server",
    "round trip",
    "pub/sub",
    "notifications",
    "CONFIG",
  ]);
  assert.ok(report.checks.every((c: { status: string }) => c.status === "ok"));
  assert.equal(io.err.text, "");
});

ownServerTest("ping.ts with CONFIG renamed away: a probe decides, and off is a failed check", async () => {
  const renamed = ["--rename-command", "CONFIG", ""];
  {
    await using server = await testServer({ own: true, args: renamed });
    const io = captureIo();
    assert.equal(await ping(["--url", server.url, "--timeout", "500ms"], io), ExitCode.CheckFailed);
    assert.match(io.out.text, /✗ notifications +off: a probe key's set event did not arrive within 0\.5 s \(db 0\)/);
    assert.match(io.out.text, /→ Ask the server's operator for: CONFIG SET notify-keyspace-events KEA/);
    assert.match(io.out.text, /! CONFIG +refused: ERR unknown command\b/); // the rest is each server's own wording
    assert.match(io.out.text, /✗ 1 check\(s\) failed \(notifications\)/);
  }
  {
    await using server = await testServer({ own: true, args: renamed, notifications: "KEA" });
    const io = captureIo();
    assert.equal(await ping(["--url", server.url], io), ExitCode.Ok);
    assert.match(io.out.text, /✓ notifications +on: a probe key's set event arrived \(db 0\)/);
    assert.match(io.out.text, /! CONFIG +refused/);
  }
});

ownServerTest("ping.ts as an ACL user without channels or CONFIG: pub/sub fails with what to ask for", async () => {
  // resetchannels takes every channel away (Redis 7 does that by default, 6.2 and KeyDB do not); -config takes CONFIG.
  await using server = await testServer({
    own: true,
    args: ["--user", "doc", "on", ">pw", "~*", "resetchannels", "+@all", "-config"],
  });
  const url = server.url.replace("redis://", "redis://doc:pw@");
  await using p = new ScriptProcess("ping.ts", ["--url", url, "--timeout", "500ms"]);
  assert.equal(await p.exit(), ExitCode.CheckFailed);
  assert.match(p.out.text, /✗ pub\/sub +refused: NOPERM/);
  assert.match(p.out.text, /→ The labs need SUBSCRIBE and PUBLISH: ask for an ACL user with \+@pubsub/);
  assert.match(p.out.text, /! CONFIG +refused: NOPERM/);
  assert.match(p.out.text, /✗ notifications +unknown: CONFIG is refused and the probe failed too/);
  assert.doesNotMatch(p.out.text + p.err.text, /pw@/);
  assert.match(p.err.text, /Checking redis:\/\/doc:\*\*\*@127\.0\.0\.1:\d+/);
});

Deno.test("ping.ts against a server that isn't there: exit code 3 and what to do", async () => {
  const port = await freePort();
  const io = captureIo();
  assert.equal(await ping(["--url", `redis://127.0.0.1:${port}`], io), ExitCode.Connect);
  assert.match(
    io.err.text,
    /Cannot connect to redis:\/\/127\.0\.0\.1:\d+: connection refused \(nothing is listening there\)/,
  );
  assert.match(io.err.text, /Start a server with/);
  const json = captureIo();
  assert.equal(await ping(["--url", `redis://127.0.0.1:${port}`, "--json"], json), ExitCode.Connect);
  const report = JSON.parse(json.out.text);
  assert.equal(report.ok, false);
  assert.equal(report.checks[0].name, "connect");
  assert.match(report.checks[0].fix, /deno task server/);
});

Deno.test("ping.ts gives up on a server that accepts but never answers, within --timeout", async () => {
  await using silent = stallingServer();
  const io = captureIo();
  const started = Date.now();
  assert.equal(await ping(["--url", `redis://127.0.0.1:${silent.port}`, "--timeout", "500ms"], io), ExitCode.Connect);
  assert.ok(Date.now() - started < 5000);
  assert.match(io.err.text, /no answer within 0\.5 s/);
});

Deno.test("ping.ts gives up on a server that connects and then stops answering, naming the command", async () => {
  // The connect's PING is answered and INFO is not; or INFO and the first of the doctor's five PINGs are.
  for (const [command, nth] of [["INFO", 1], ["PING", 3]] as const) {
    await using fake = stallingServer(command, nth);
    const started = Date.now();
    const { io, exit } = runMain(ping, ["--url", `redis://127.0.0.1:${fake.port}`, "--timeout", "500ms"], 10_000);
    assert.equal(await exit, ExitCode.CheckFailed, io.out.text + io.err.text);
    assert.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms`);
    assert.match(
      io.out.text,
      new RegExp(`✗ answers +the server stopped answering: ${command} got no answer within 0\\.5 s`),
    );
    assert.match(io.out.text, /1 check\(s\) failed \(answers\)/);
  }
});

Deno.test("ping.ts --timeout 0 is a usage error", async () => {
  const io = captureIo();
  assert.equal(await ping(["--url", "redis://127.0.0.1:1", "--timeout", "0"], io), ExitCode.Usage);
  assert.match(io.err.text, /--timeout must be more than 0/);
});

ownServerTest(
  "ping.ts on a read-only replica with CONFIG refused: the probe's READONLY is reported, not 'off'",
  async () => {
    await using pair = await replicaPair({ args: ["--rename-command", "CONFIG", ""] });
    const io = captureIo();
    assert.equal(await ping(["--url", pair.replica.url, "--timeout", "500ms"], io), ExitCode.CheckFailed);
    assert.match(io.out.text, /✗ notifications +unknown: CONFIG is refused and the probe failed too \(READONLY/);
    assert.match(io.out.text, /→ This is a read-only replica/);
    assert.doesNotMatch(io.out.text, /notifications +off/);
  },
);
