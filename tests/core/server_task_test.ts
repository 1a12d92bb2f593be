import assert from "node:assert/strict";
import { Redis } from "ioredis";
import { main as demo } from "../../scripts/demo.ts";
import { main as server } from "../../scripts/server.ts";
import { ExitCode } from "../../lib/core/exit_codes.ts";
import { freePort } from "../../lib/core/local_server.ts";
import { captureIo, ownServerTest, ScriptProcess, testServer } from "../harness.ts";

ownServerTest("deno task server runs a server with notifications on until Ctrl+C", async () => {
  const port = await freePort();
  await using p = new ScriptProcess("server.ts", ["--port", String(port)]);
  await p.err.waitFor(/is running on redis:\/\/127\.0\.0\.1:\d+ with keyspace notifications \(KEA\)/, 15_000);
  const redis = new Redis(port, "127.0.0.1");
  try {
    const [, flags] = await redis.config("GET", "notify-keyspace-events") as [string, string];
    assert.match(flags, /A/);
    assert.match(flags, /K/);
    assert.match(flags, /E/);
  } finally {
    await redis.quit();
  }
  p.kill("SIGINT");
  assert.equal(await p.exit(), ExitCode.Ok);
  assert.match(p.err.text, /stopped/);
});

ownServerTest("deno task server says so when a server already answers on the port", async () => {
  await using running = await testServer({ own: true });
  const io = captureIo();
  assert.equal(await server(["--port", String(running.local!.port)], io), ExitCode.Ok);
  assert.match(io.err.text, /already answers/);
});

Deno.test("deno task demo shows the whole lab 1 flow in one terminal", async () => {
  await using s = await testServer();
  const io = captureIo();
  assert.equal(await demo(["--url", s.url, "--interval", "0"], io), ExitCode.Ok);
  assert.equal(io.out.count(/^subscriber│ .* (p?message) /m), 6);
  assert.equal(io.out.count(/^publisher │ → /m), 6);
  assert.match(io.out.text, /Received 6 message\(s\)/);
});
