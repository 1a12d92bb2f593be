/**
 * What `Connection` says and keeps to itself: a URL with blanks around it
 * never shows its password, ioredis's own warnings come through our reporter
 * once, an outage line gives the reason of that outage, and Ctrl+C (a real
 * SIGINT) while connecting stops at once.
 *
 * @module
 */
import assert from "node:assert/strict";
import { ExitCode } from "../../lib/core/exit_codes.ts";
import { main as subscriber } from "../../scripts/subscriber.ts";
import { fakeServer, stallingServer } from "../fake_servers.ts";
import { ownServerTest, runMain, ScriptProcess, testServer } from "../harness.ts";

const PASSWORD = "TopSecret99";

ownServerTest("REDIS_URL with blanks around it: trimmed, and the password never shows", async () => {
  await using server = await testServer({ own: true, args: ["--requirepass", PASSWORD] });
  const port = server.local!.port;
  await using ok = new ScriptProcess("ping.ts", [], { REDIS_URL: ` redis://:${PASSWORD}@127.0.0.1:${port}\n` });
  assert.equal(await ok.exit(), ExitCode.Ok, ok.err.text + ok.out.text);
  assert.match(ok.err.text, /Checking redis:\/\/:\*\*\*@127\.0\.0\.1:\d+ /);
  // Nothing listens on the next port: the failure names the address, not the password.
  const closed = ` redis://:${PASSWORD}@127.0.0.1:${(await freeClosedPort())}`;
  await using refused = new ScriptProcess("publisher.ts", ["ch", "hi"], { REDIS_URL: closed });
  assert.equal(await refused.exit(), ExitCode.Connect);
  assert.match(refused.err.text, /Cannot connect to redis:\/\/:\*\*\*@127\.0\.0\.1:\d+: connection refused/);
  // A blank inside is refused before anything is sent.
  await using inside = new ScriptProcess("ping.ts", [], { REDIS_URL: `redis://:Top Secret99@127.0.0.1:${port}` });
  assert.equal(await inside.exit(), ExitCode.Usage);
  assert.match(inside.err.text, /percent-encode it/);
  for (const p of [ok, refused, inside]) assert.doesNotMatch(p.out.text + p.err.text, /TopSecret|Top Secret|Secret99/);
});

/** A loopback port nobody listens on. */
async function freeClosedPort(): Promise<number> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return await Promise.resolve(port);
}

Deno.test("ioredis's 'does not require a password' warning comes once, worded as ours, never raw", async () => {
  // A RESP2 server with no password (HELLO unknown): ioredis sends AUTH and prints its own [WARN] on the reply.
  // (Over RESP3 a real server takes HELLO's password silently, so the fake stands in for the RESP2 case.)
  await using fake = fakeServer({
    password: "not-needed-pw",
    onCommand: ([name]) =>
      name === "HELLO"
        ? "-NOPROTO unsupported protocol version\r\n"
        : name === "AUTH"
        ? "-ERR AUTH <password> called without any password configured for the default user.\r\n"
        : name === "PUBLISH"
        ? ":1\r\n"
        : "+OK\r\n",
  });
  await using p = new ScriptProcess("publisher.ts", ["--url", fake.url, "ch", "hi"]);
  assert.equal(await p.exit(), ExitCode.Ok, p.err.text + p.out.text);
  assert.equal(p.err.count(/does not require a password, but the URL gives one: it was ignored/), 1, p.err.text);
  assert.doesNotMatch(p.err.text, /\[WARN\]|\[ERROR\]/);
  assert.doesNotMatch(p.out.text + p.err.text, /not-needed-pw/);
});

ownServerTest("each outage line gives that outage's reason, not the previous one's", async () => {
  await using server = await testServer({ own: true });
  await using run = runMain(subscriber, ["--url", server.url, "outage:ch"], 60_000);
  await run.io.err.waitFor(/Press Ctrl\+C to stop/);
  for (let round = 1; round <= 2; round++) {
    await server.local!.stop();
    await run.io.err.waitFor(new RegExp(`(lost[^\\n]*\\n[^]*){${round}}`), 10_000);
    // While it is down, attempts fail with ECONNREFUSED: let at least one happen.
    await server.local!.start();
    await run.io.err.waitFor(new RegExp(`(Reconnected[^\\n]*\\n[^]*){${round}}`), 20_000);
  }
  run.io.stop();
  assert.equal(await run.exit, ExitCode.Ok, run.io.err.text);
  const lost = run.io.err.text.split("\n").filter((l) => l.includes(" lost"));
  assert.equal(lost.length, 2, run.io.err.text);
  for (const line of lost) {
    assert.match(line, /lost \(closed by the server\)\./, line);
    assert.doesNotMatch(line, /ECONNREFUSED/, line);
  }
});

Deno.test("Ctrl+C (SIGINT) while connecting to a server that accepts but never answers: exit 0 at once", async () => {
  await using silent = stallingServer();
  await using p = new ScriptProcess("subscriber.ts", ["--url", silent.url, "x"]);
  await silent.accepted(1);
  const started = Date.now();
  p.kill("SIGINT");
  assert.equal(await p.exit(), ExitCode.Ok, p.err.text);
  assert.ok(Date.now() - started < 2500, `took ${Date.now() - started} ms`);
  assert.match(p.err.text, /^Stopped while connecting to redis:\/\/127\.0\.0\.1:\d+\.$/m);
  assert.doesNotMatch(p.err.text, /error:|Start a server|no answer/);
});
