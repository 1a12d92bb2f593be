import assert from "node:assert/strict";
import { Redis } from "ioredis";
import { main as publisher } from "../../scripts/publisher.ts";
import { main as subscriber } from "../../scripts/subscriber.ts";
import { ExitCode } from "../../lib/core/exit_codes.ts";
import { answersPing, freePort } from "../../lib/core/local_server.ts";
import { withTimeout } from "../../lib/core/timing.ts";
import { captureIo, ownServerTest, ScriptProcess, testServer, withClient } from "../harness.ts";
import { stallingServer } from "../fake_servers.ts";

const STACK_LINE = /^\s+at .+:\d+:\d+/m;

Deno.test("an unknown flag gives the usage code and names the flag, without a stack trace", async () => {
  for (const script of ["subscriber.ts", "publisher.ts"]) {
    await using p = new ScriptProcess(script, ["--colour", "red"]);
    assert.equal(await p.exit(), ExitCode.Usage, script);
    assert.match(p.err.text, /Unknown option '--colour'/);
    assert.match(p.err.text, /--help/);
    assert.doesNotMatch(p.err.text, STACK_LINE);
  }
});

Deno.test("a misspelt flag gets the nearest one, a negative number the flag's own check, both with the usage code", async () => {
  const runs: [string, string[], RegExp][] = [
    ["subscriber.ts", ["--chanel", "x"], /error: Unknown option '--chanel' \(did you mean --channel\?\)\n/],
    ["publisher.ts", ["ch", "m", "--rate", "-5"], /error: --rate must be at least 0\.001, got -5\n/],
  ];
  for (const [script, args, message] of runs) {
    await using p = new ScriptProcess(script, args);
    assert.equal(await p.exit(), ExitCode.Usage, script);
    assert.match(p.err.text, message);
    assert.match(p.err.text, new RegExp(`Run "deno run -A scripts/${script.replace(".", "\\.")} --help" for usage\\.`));
  }
});

Deno.test("an unreachable server gives the connect code within a few seconds, with what to do", async () => {
  const port = await freePort();
  const started = Date.now();
  await using p = new ScriptProcess("subscriber.ts", ["--url", `redis://127.0.0.1:${port}`]);
  assert.equal(await p.exit(), ExitCode.Connect);
  assert.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms`);
  assert.match(p.err.text, new RegExp(`Cannot connect to redis://127.0.0.1:${port}: connection refused`));
  assert.match(p.err.text, /docker compose up -d --wait/);
  assert.match(p.err.text, /deno task server/);
  assert.doesNotMatch(p.err.text, STACK_LINE);
});

Deno.test("a server that accepts but never answers gives the connect code after the connect timeout", async () => {
  await using silent = stallingServer();
  const io = captureIo();
  const started = Date.now();
  assert.equal(await subscriber(["--url", `redis://127.0.0.1:${silent.port}`, "x"], io), ExitCode.Connect);
  assert.ok(Date.now() - started < 8000);
  assert.match(io.err.text, /the server accepted the connection but gave no answer within 5 s/);
  assert.doesNotMatch(io.err.text, /Start a server/); // something is there: starting another would not help
});

ownServerTest("a wrong password gives the connect code and never shows the password", async () => {
  await using server = await testServer({ own: true, args: ["--requirepass", "right-horse-battery"] });
  const url = `redis://:wrong-staple-42@127.0.0.1:${server.local!.port}`;
  await using p = new ScriptProcess("subscriber.ts", ["--url", url]);
  assert.equal(await p.exit(), ExitCode.Connect);
  assert.match(p.err.text, /authentication failed/);
  assert.match(p.err.text, /redis:\/\/:\*\*\*@127\.0\.0\.1/);
  assert.doesNotMatch(p.out.text + p.err.text, /wrong-staple-42|right-horse-battery/);
});

ownServerTest("a server restart: the subscriber reports the loss, resubscribes and receives again", async () => {
  const password = "s3cret-restart-pw";
  await using server = await testServer({ own: true, args: ["--requirepass", password] });
  const url = `redis://:${password}@127.0.0.1:${server.local!.port}`;
  await using sub = new ScriptProcess("subscriber.ts", ["--url", url, "restart:ch", "-p", "restart:p:*"]);
  await sub.out.waitFor(/\(2 active\)/, 20_000);

  await server.local!.stop();
  await sub.err.waitFor(/Connection to redis:\/\/:\*\*\*@127\.0\.0\.1:\d+ lost/);
  assert.match(sub.err.text, /Messages published until it is back are lost/);
  await server.local!.start();
  await sub.err.waitFor(/Reconnected to .* after \d+\.\d s/, 20_000);

  const redis = new Redis(url);
  try {
    assert.equal(await redis.publish("restart:ch", "after the restart"), 1);
    assert.equal(await redis.publish("restart:p:x", "pattern too"), 1);
  } finally {
    await redis.quit();
  }
  await sub.out.waitFor(/restart:p:x: pattern too/);
  assert.match(sub.out.text, /restart:ch: after the restart/);
  sub.kill("SIGINT");
  assert.equal(await sub.exit(), ExitCode.Ok);
  assert.match(sub.out.text, /Connection lost 1 time\(s\)/);
  assert.doesNotMatch(sub.out.text + sub.err.text, new RegExp(password));
});

Deno.test("SIGTERM stops the subscriber cleanly, as Ctrl+C does", async () => {
  await using server = await testServer();
  await using sub = new ScriptProcess("subscriber.ts", ["--url", server.url, "term:ch"]);
  await sub.out.waitFor(/\(1 active\)/, 20_000);
  sub.kill("SIGTERM");
  assert.equal(await sub.exit(), ExitCode.Ok);
  assert.match(sub.out.text, /Received 0 message\(s\)/);
});

ownServerTest("the publisher stops with the failure code when the server goes away mid-run", async () => {
  await using server = await testServer({ own: true });
  const io = captureIo();
  const running = publisher(["--url", server.url, "gone:ch", "{{n}}", "--repeat", "100000", "--rate", "200"], io);
  await io.out.waitFor(/→ gone:ch: 5 /);
  assert.equal(io.err.count(/Nobody is subscribed/), 1);
  await server.local!.stop();
  assert.equal(await running, ExitCode.Failure);
  assert.match(io.err.text, /Publishing stopped after \d+ message\(s\): the server went away/);
});

ownServerTest("the publisher at full speed fails cleanly when the server goes away mid-batch", async () => {
  await using server = await testServer({ own: true });
  const io = captureIo();
  const running = publisher(["--url", server.url, "gone:fast", "{{n}}", "--repeat", "100000000", "--quiet"], io);
  // Stop the server while pipelined batches are in flight: a failure must not go unhandled.
  await Promise.race([running, withClient(server.url, (r) => r.ping())]);
  await server.local!.stop();
  assert.equal(await running, ExitCode.Failure);
  assert.match(io.err.text, /Publishing stopped after [\d,]+ message\(s\): the server went away/);
});

Deno.test("a reader that goes away (| head) ends the subscriber quietly", async () => {
  await using server = await testServer();
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("../../scripts/subscriber.ts", import.meta.url).pathname,
      "--url",
      server.url,
      "pipe:ch",
    ],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  const reader = child.stdout.getReader();
  await reader.read(); // the subscription confirmation
  await reader.cancel(); // as `head -1` exits
  const stderr = child.stderr.pipeThrough(new TextDecoderStream());
  const publishing = withClient(server.url, async (r) => {
    for (let i = 0; i < 50 && (await r.publish("pipe:ch", "x".repeat(1000))) > 0; i++);
  });
  const status = await withTimeout(child.status, 20_000, () => new Error("subscriber did not end"));
  await publishing;
  let err = "";
  for await (const chunk of stderr) err += chunk;
  assert.equal(status.code, ExitCode.Ok);
  assert.doesNotMatch(err, STACK_LINE);
  assert.doesNotMatch(err, /BrokenPipe/);
});

Deno.test("answersPing() says no, within a second or so, when something silent holds the port", async () => {
  await using silent = stallingServer();
  const started = Date.now();
  assert.equal(await answersPing(silent.port), false);
  assert.ok(Date.now() - started < 3000);
});
