import assert from "node:assert/strict";
import { main as publisher } from "../../scripts/publisher.ts";
import { main as subscriber } from "../../scripts/subscriber.ts";
import { ExitCode } from "../../lib/core/exit_codes.ts";
import { findServerBinary, LocalServer } from "../../lib/core/local_server.ts";
import { captureIo, testServer, withClient } from "../harness.ts";
import { fakeServer } from "../fake_servers.ts";

/** Whether the server knows SSUBSCRIBE (Redis >= 7, Valkey; not KeyDB). */
function hasShardedPubSub(url: string): Promise<boolean> {
  return withClient(url, async (redis) => {
    const [info] = await redis.command("INFO", "SSUBSCRIBE") as unknown[];
    return Array.isArray(info);
  });
}

/** The one line a script says when the server has no sharded pub/sub, naming the way out on KeyDB. */
const NO_SHARDED = /has no sharded pub\/sub \((SSUBSCRIBE|SPUBLISH) is an unknown command there.*active replicas/;

/**
 * A server that speaks enough RESP2 for our scripts to connect (HELLO unknown, so ioredis falls back to RESP2)
 * and answers SSUBSCRIBE and SPUBLISH as KeyDB does: unknown command.
 */
function noShardedServer() {
  const info = "# Server\r\nredis_version:6.2.6\r\n# Cluster\r\ncluster_enabled:0\r\n";
  return fakeServer({
    onCommand: ([name, arg]) => {
      if (name === "HELLO" || name === "SSUBSCRIBE" || name === "SPUBLISH") {
        return `-ERR unknown command '${name.toLowerCase()}', with args beginning with: '${arg ?? ""}' \r\n`;
      }
      if (name === "INFO") return `$${info.length}\r\n${info}\r\n`;
      if (name === "CLIENT") return ":7\r\n";
      if (name === "CONFIG") return "*0\r\n";
      if (name === "PING") return "+PONG\r\n";
      return "+OK\r\n";
    },
  });
}

Deno.test("subscriber -s and publisher --sharded: SSUBSCRIBE and SPUBLISH on one server", async () => {
  await using server = await testServer();
  const channel = `${server.prefix}orders`;
  if (!(await hasShardedPubSub(server.url))) {
    // KeyDB (SERVER=keydb): the one line, for both scripts.
    const sub = captureIo();
    assert.equal(await subscriber(["--url", server.url, "-s", channel], sub), ExitCode.Usage);
    assert.match(sub.err.text, NO_SHARDED);
    return;
  }
  const sub = captureIo();
  const running = subscriber(["--url", server.url, "-s", channel, "-c", `${server.prefix}plain`, "--count", "4"], sub);
  await sub.out.waitFor(/subscribed to sharded channel \S+orders \(\d active\)/);
  await sub.out.waitFor(/subscribed to channel \S+plain/);
  const pub = captureIo();
  assert.equal(await publisher(["--url", server.url, "--sharded", channel, "s {{n}}", "--repeat", "3"], pub), 0);
  assert.equal(await publisher(["--url", server.url, `${server.prefix}plain`, "p"], captureIo()), ExitCode.Ok);
  assert.equal(await running, ExitCode.Ok);
  for (const n of [1, 2, 3]) assert.match(sub.out.text, new RegExp(`smessage \\S+orders: s ${n}\\n`));
  assert.match(sub.out.text, /message +\S+plain: p/);
  assert.match(pub.out.text, /received by 1 subscriber\)/);
  assert.doesNotMatch(sub.out.text, /from /, "one server: no node named");
});

Deno.test("subscriber -s --json: ssubscribe and smessage events; publisher --sharded --json", async () => {
  await using server = await testServer();
  if (!(await hasShardedPubSub(server.url))) return;
  const channel = `${server.prefix}s`;
  const sub = captureIo();
  const running = subscriber(["--url", server.url, "-s", channel, "--count", "1", "--json"], sub);
  await sub.out.waitFor(/"event":"ssubscribe"/);
  const pub = captureIo();
  assert.equal(await publisher(["--url", server.url, "--sharded", channel, "hi", "--json"], pub), ExitCode.Ok);
  assert.equal(await running, ExitCode.Ok);
  const events = sub.out.text.trim().split("\n").map((l) => JSON.parse(l));
  assert.deepEqual(events[0], { event: "ssubscribe", time: events[0].time, channel, active: 1 });
  assert.deepEqual(events[1], { event: "smessage", time: events[1].time, channel, payload: "hi" });
  const published = JSON.parse(pub.out.text.split("\n")[0]!);
  assert.equal(published.receivers, 1);
  assert.equal(published.node, undefined);
});

Deno.test("a server without SSUBSCRIBE/SPUBLISH (as KeyDB): one line saying so and what to do, exit code 2", async () => {
  await using fake = noShardedServer();
  const sub = captureIo();
  assert.equal(await subscriber(["--url", fake.url, "-s", "orders"], sub), ExitCode.Usage);
  assert.match(sub.err.text, NO_SHARDED);
  assert.equal(sub.err.text.trim().split("\n").filter((l) => NO_SHARDED.test(l)).length, 1);
  assert.doesNotMatch(sub.err.text, /Uncaught|at .*\.ts:\d+/);
  const pub = captureIo();
  assert.equal(await publisher(["--url", fake.url, "--sharded", "orders", "hi"], pub), ExitCode.Usage);
  assert.match(pub.err.text, NO_SHARDED);
  assert.match(pub.err.text, /drop --sharded/);
  assert.match(sub.err.text, /drop -s\/--shard/);
});

const keydb = await findServerBinary(["keydb-server"]);

Deno.test({
  name: "on KeyDB itself: subscriber -s and publisher --sharded say it has none, exit code 2",
  ignore: keydb === undefined,
  fn: async () => {
    await using local = await LocalServer.start({ binary: keydb! });
    const sub = captureIo();
    assert.equal(await subscriber(["--url", local.url, "-s", "orders"], sub), ExitCode.Usage);
    assert.match(sub.err.text, NO_SHARDED);
    const pub = captureIo();
    assert.equal(await publisher(["--url", local.url, "--sharded", "orders", "hi"], pub), ExitCode.Usage);
    assert.match(pub.err.text, NO_SHARDED);
  },
});
