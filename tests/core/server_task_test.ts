import assert from "node:assert/strict";
import { Redis } from "ioredis";
import { main as demo } from "../../scripts/demo.ts";
import { main as server } from "../../scripts/server.ts";
import { ExitCode } from "../../lib/core/exit_codes.ts";
import { askServer, findServerBinary } from "../../lib/core/local_server.ts";
import { captureIo, nothingLeft, ownServerTest, ScriptProcess, startOnFreePorts, testServer } from "../harness.ts";

/** A directory of the test's own for a script's TMPDIR, so that what it leaves behind can be seen. */
function privateTmp(): Promise<string> {
  return Deno.makeTempDir({ prefix: "pubsub-lab-test-" });
}

ownServerTest(
  "deno task server runs a server with notifications on; Ctrl+C to its process group stops it, exit 0, nothing left",
  async () => {
    const tmp = await privateTmp();
    const { p: started, port } = await startOnFreePorts(
      1,
      (port) => new ScriptProcess("server", ["--port", String(port)], { TMPDIR: tmp }, "null", "task"),
      /is running on redis:\/\/127\.0\.0\.1:\d+ with keyspace notifications \(KEA\)/,
    );
    await using p = started;
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
    assert.match(p.err.text, /-server stopped\./);
    await nothingLeft([port], tmp);
  },
);

for (const signal of ["SIGTERM", "SIGHUP"] as const) {
  ownServerTest(`server.ts stops on ${signal}: exit 0, the server stopped, nothing left`, async () => {
    const tmp = await privateTmp();
    const { p: started, port } = await startOnFreePorts(
      1,
      (port) => new ScriptProcess("server.ts", ["--port", String(port)], { TMPDIR: tmp }),
      /is running on/,
    );
    await using p = started;
    p.kill(signal);
    assert.equal(await p.exit(), ExitCode.Ok);
    assert.match(p.err.text, /stopped\./);
    await nothingLeft([port], tmp);
  });
}

ownServerTest(
  "deno task server on a port where a server already answers: whether its notifications are on, what to do if not",
  async () => {
    {
      await using running = await testServer({ own: true }); // notifications off, as a distribution's server has them
      const port = running.local!.port;
      const io = captureIo();
      assert.equal(await server(["--port", String(port)], io), ExitCode.CheckFailed);
      assert.match(
        io.err.text,
        /already answers on 127\.0\.0\.1:\d+, with keyspace notifications off \(notify-keyspace-events ""\)/,
      );
      assert.match(io.err.text, /deno task server --port 6390\n/);
      assert.match(io.err.text, new RegExp(`redis-cli -p ${port} CONFIG SET notify-keyspace-events KEA`));
      assert.deepEqual(await askServer(port, "CONFIG GET notify-keyspace-events"), ["notify-keyspace-events", ""]);
    }
    {
      await using running = await testServer({ own: true, notifications: "KEA" });
      const io = captureIo();
      assert.equal(await server(["--port", String(running.local!.port)], io), ExitCode.Ok);
      assert.match(
        io.err.text,
        /already answers on .*, with keyspace notifications on \(notify-keyspace-events "AKE"\)/,
      );
    }
    {
      await using running = await testServer({ own: true, args: ["--rename-command", "CONFIG", ""] });
      const io = captureIo();
      assert.equal(await server(["--port", String(running.local!.port)], io), ExitCode.CheckFailed);
      assert.match(
        io.err.text,
        /whether it has keyspace notifications on, which the labs need, is unknown \(CONFIG GET answered: ERR unknown command/,
      );
    }
  },
);

ownServerTest(
  "deno task server --pair: the two commands it prints run lab 3's round trip; Ctrl+C stops both nodes",
  async () => {
    const tmp = await privateTmp();
    const keydb = (await findServerBinary())!.endsWith("keydb-server");
    const { p: started, port, ready } = await startOnFreePorts(
      2,
      (port) => new ScriptProcess("server", ["--pair", "--port", String(port)], { TMPDIR: tmp }, "null", "task"),
      /listener: deno run -A scripts\/keyspace_listener\.ts (.*)\n/,
    );
    await using p = started;
    const [, listenArgs] = ready;
    const [, writeArgs] = await p.err.waitFor(/writer: +deno run -A scripts\/keyspace_writer\.ts (.*)\n/);
    assert.match(p.err.text, keydb ? /active replicas of each other/ : /primary .*, read-only replica /);
    assert.equal(
      listenArgs,
      `--url redis://127.0.0.1:${port + 1}` + (keydb ? "" : ` --write-url redis://127.0.0.1:${port}`),
    );
    assert.equal(writeArgs, `--url redis://127.0.0.1:${port}`);

    {
      await using listener = new ScriptProcess("keyspace_listener.ts", listenArgs!.split(" "));
      await listener.err.waitFor(/Listening on /, 15_000);
      await using writer = new ScriptProcess("keyspace_writer.ts", [
        ...writeArgs!.split(" "),
        "--count",
        "3",
        "--interval",
        "0",
      ]);
      assert.equal(await writer.exit(), ExitCode.Ok);
      assert.match(writer.out.text, /3 handshake\(s\) in 3 round\(s\)/);
      listener.kill("SIGINT");
      assert.equal(await listener.exit(), ExitCode.Ok);
      assert.match(listener.out.text, /Handled 3 event\(s\) and wrote 3 handshake\(s\)/);
    }
    p.kill("SIGINT");
    assert.equal(await p.exit(), ExitCode.Ok);
    assert.match(p.err.text, /Both nodes stopped\./);
    await nothingLeft([port, port + 1], tmp);
  },
);

ownServerTest(
  "server.ts --pair: a node that exits ends it with exit 1 and the node's log; the other node stops",
  async () => {
    const tmp = await privateTmp();
    const { p: started, port } = await startOnFreePorts(
      2,
      (port) => new ScriptProcess("server.ts", ["--pair", "--port", String(port)], { TMPDIR: tmp }),
      /writer: /,
    );
    await using p = started;
    await askServer(port + 1, "SHUTDOWN NOSAVE");
    assert.equal(await p.exit(), ExitCode.Failure);
    assert.match(p.err.text, new RegExp(`-server on redis://127\\.0\\.0\\.1:${port + 1} exited with code \\d+:\\n.+`));
    await nothingLeft([port, port + 1], tmp);
  },
);

ownServerTest("deno task server --pair --port: a port in use is named, exit 1", async () => {
  await using running = await testServer({ own: true });
  const io = captureIo();
  assert.equal(await server(["--pair", "--port", String(running.local!.port)], io), ExitCode.Failure);
  assert.match(io.err.text, new RegExp(`Port ${running.local!.port} on 127\\.0\\.0\\.1 is in use`));
});

Deno.test("deno task demo shows the whole lab 1 flow in one terminal", async () => {
  await using s = await testServer();
  const io = captureIo();
  assert.equal(await demo(["--url", s.url, "--interval", "0"], io), ExitCode.Ok);
  assert.equal(io.out.count(/^subscriber│ .* (p?message) /m), 6);
  assert.equal(io.out.count(/^publisher │ → /m), 6);
  assert.match(io.out.text, /Received 6 message\(s\)/);
});

ownServerTest(
  "deno task demo --local: Ctrl+C to its process group → exit 0, both summaries, its server gone",
  async () => {
    const tmp = await privateTmp();
    await using p = new ScriptProcess("demo", ["--local", "--interval", "1s"], { TMPDIR: tmp }, "null", "task");
    const [, port] = await p.err.waitFor(/this demo started \S+ on redis:\/\/127\.0\.0\.1:(\d+)/, 15_000);
    await p.out.waitFor(/(publisher │ → .*\n[^]*){2}/, 15_000);
    p.kill("SIGINT");
    assert.equal(await p.exit(), ExitCode.Ok);
    assert.match(p.out.text, /publisher │ Published 2 message\(s\)/);
    assert.match(p.out.text, /subscriber│ Received 2 message\(s\)/);
    await nothingLeft([Number(port)], tmp);
  },
);

ownServerTest(
  "deno task demo --local | head -3: once its stdout is closed, it ends and its server is gone",
  async () => {
    const tmp = await privateTmp();
    const child = new Deno.Command(Deno.execPath(), {
      args: ["task", "demo", "--local", "--interval", "100ms"],
      cwd: new URL("../..", import.meta.url).pathname,
      env: { NO_COLOR: "1", TMPDIR: tmp },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const stderr = new Response(child.stderr).text();
    const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let seen = "";
    while ((seen.match(/\n/g)?.length ?? 0) < 3) {
      const { value, done } = await lines.read();
      if (done) break;
      seen += value;
    }
    await lines.cancel(); // as head does after 3 lines
    const status = await child.status;
    const err = await stderr;
    assert.equal(status.code, 0, err);
    const [, port] = err.match(/on redis:\/\/127\.0\.0\.1:(\d+)/) ?? [];
    assert.ok(port, err);
    await nothingLeft([Number(port)], tmp);
  },
);

Deno.test("demo: --local and --url together are a usage error", async () => {
  const io = captureIo();
  assert.equal(await demo(["--local", "--url", "redis://127.0.0.1:1"], io), ExitCode.Usage);
  assert.match(io.err.text, /--local and --url exclude each other/);
});
