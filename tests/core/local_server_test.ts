import assert from "node:assert/strict";
import {
  answersPing,
  findServerBinary,
  LocalServer,
  ServerStartError,
  START_ATTEMPTS,
} from "../../lib/core/local_server.ts";
import { linkUp, LocalPair } from "../../lib/core/local_pair.ts";
import { REPEAT_WINDOW_MS } from "../../lib/core/shutdown.ts";
import { eventually, nothingLeft, ownServerTest, ScriptProcess, withClient } from "../harness.ts";

/** tests/core/hold_server.ts as a subprocess, its temporary files in a directory of the test's own. */
async function holdServer(mode: "stop" | "hang" | "lose"): Promise<{ p: ScriptProcess; port: number; tmp: string }> {
  const tmp = await Deno.makeTempDir({ prefix: "pubsub-lab-test-" });
  const p = new ScriptProcess("../tests/core/hold_server.ts", [mode], { TMPDIR: tmp });
  const [, port] = await p.out.waitFor(/ready (\d+)/, 15_000);
  return { p, port: Number(port), tmp };
}

ownServerTest(
  "LocalServer: a second Ctrl+C exits at once with 130, and the server still stops, its files removed",
  async () => {
    const { p, port, tmp } = await holdServer("hang");
    await using _ = p;
    p.kill("SIGINT");
    await p.out.waitFor(/stopping/);
    await new Promise((resolve) => setTimeout(resolve, REPEAT_WINDOW_MS + 100)); // a second press, not the same one twice
    assert.ok(await answersPing(port), "the script hangs in its stop: the server is still there");
    p.kill("SIGINT");
    assert.equal(await p.exit(), 130);
    await nothingLeft([port], tmp);
  },
);

ownServerTest(
  "LocalServer: the script killed with SIGKILL → its watchdog stops the server and removes its files",
  async () => {
    const { p, port, tmp } = await holdServer("hang");
    await using _ = p;
    p.kill("SIGKILL");
    await p.exit();
    await nothingLeft([port], tmp);
  },
);

ownServerTest(
  "LocalServer: a server that exited on its own → its watchdog only removes its files when the script dies",
  async () => {
    const { p, port, tmp } = await holdServer("lose");
    await using _ = p;
    await p.out.waitFor(/lost/);
    p.kill("SIGKILL");
    await p.exit();
    await nothingLeft([port], tmp);
  },
);

ownServerTest(
  "LocalServer: the same signal delivered twice at once (as deno task does) is one stop request",
  async () => {
    const { p, port, tmp } = await holdServer("stop");
    await using _ = p;
    p.kill("SIGINT");
    p.kill("SIGINT");
    assert.equal(await p.exit(), 0);
    assert.match(p.out.text, /stopping\nstopped/);
    await nothingLeft([port], tmp);
  },
);

for (const signal of ["SIGTERM", "SIGHUP"] as const) {
  ownServerTest(`LocalServer: ${signal} stops the script in order, and the server with it`, async () => {
    const { p, port, tmp } = await holdServer("stop");
    await using _ = p;
    p.kill(signal);
    assert.equal(await p.exit(), 0);
    assert.match(p.out.text, /stopped/);
    await nothingLeft([port], tmp);
  });
}

ownServerTest("LocalPair: two nodes whose writes reach each other; KeyDB's both ways", async () => {
  const binary = await findServerBinary();
  await using pair = await LocalPair.start({ notifications: "KEA" });
  assert.equal(pair.active, binary!.endsWith("keydb-server"));
  assert.ok(await linkUp(pair.second.port));
  const key = `local-pair:${crypto.randomUUID()}`;
  const roundTrip = async (from: string, to: string) => {
    await withClient(from, (redis) => redis.set(key, from));
    await withClient(to, async (redis) => {
      await eventually(async () => (await redis.get(key)) === from, `${key} to replicate to ${to}`);
      return redis.del(key).catch(() => 0); // a read-only replica refuses: the primary's DEL below cleans up
    });
  };
  await roundTrip(pair.first.url, pair.second.url);
  if (pair.active) {
    await roundTrip(pair.second.url, pair.first.url);
  } else {
    await withClient(pair.second.url, (redis) => assert.rejects(redis.set(key, "x"), /READONLY/));
  }
  await withClient(pair.first.url, (redis) => redis.del(key));
});

Deno.test("LocalServer.start(): a server that exits while starting on a port picked for it is tried again, then said with the end of its log", async () => {
  const began = performance.now();
  // A directive no server knows: each try exits at once, as a server whose port another process took does.
  const err = await LocalServer.start({ args: ["--no-such-directive-here", "1"] }).then(
    () => assert.fail("started"),
    (e: unknown) => e,
  );
  assert.ok(err instanceof ServerStartError, String(err));
  assert.equal(err.exited, true);
  assert.equal(err.exitCode, 3);
  assert.match(err.message, /did not start on 127\.0\.0\.1:\d+/);
  // Each try ended when the process did, not at the 10 s limit of one that never answers.
  assert.ok(performance.now() - began < START_ATTEMPTS * 5_000, `${Math.round(performance.now() - began)} ms`);
});
