import assert from "node:assert/strict";
import { Redis } from "ioredis";
import { CliError, ExitCode } from "../lib/core/exit_codes.ts";
import { findServerBinary } from "../lib/core/local_server.ts";
import { flagLetters } from "../lib/keyspace/notify_flags.ts";
import { closeClient, ownServerTest, sharedServer, testClient, testServer } from "./harness.ts";

// Run with the leak sanitizers on (deno.json): a timer left behind fails these tests.

const notifyFlags = async (redis: Redis) =>
  flagLetters(((await redis.config("GET", "notify-keyspace-events")) as string[])[1]!);

ownServerTest("closeClient() after the server has gone leaves no disconnectTimeout timer behind", async () => {
  await using server = await testServer({ own: true });
  await using redis = testClient(server.url);
  assert.equal(await redis.ping(), "PONG");
  const ended = new Promise((resolve) => redis.once("end", resolve));
  await server.local!.stop();
  await ended; // the client has seen the close: disconnect() now would arm a 2 s timer nothing clears
});

ownServerTest("closeClient() of a client reconnecting to a stopped server waits its timer out", async () => {
  await using server = await testServer({ own: true });
  const redis = new Redis(server.url, { retryStrategy: () => 50, maxRetriesPerRequest: 0, disconnectTimeout: 100 });
  redis.on("error", () => {});
  assert.equal(await redis.ping(), "PONG");
  const reconnecting = new Promise((resolve) => redis.once("reconnecting", resolve));
  await server.local!.stop();
  await reconnecting;
  await closeClient(redis); // ioredis never emits "end" here: what counts is that no timer is left running
});

Deno.test("closeClient() of a connected client quits it; of an ended one does nothing", async () => {
  await using server = await testServer();
  const redis = testClient(server.url);
  await redis.ping();
  await closeClient(redis);
  assert.equal(redis.status, "end");
  await closeClient(redis);
});

Deno.test("testServer() gives each test its own key prefix", async () => {
  await using a = await testServer();
  await using b = await testServer();
  assert.match(a.prefix, /^t[0-9a-f]{8}:$/);
  assert.notEqual(a.prefix, b.prefix);
});

ownServerTest(
  "sharedServer() leaves nothing behind: the test's keys deleted, notify-keyspace-events restored",
  async () => {
    await using server = await testServer({ own: true, notifications: "AKE" });
    await using redis = testClient(server.url);
    await redis.set("someone:else", "kept");
    {
      await using shared = await sharedServer(server.url, "t1234abcd:", "Kh");
      assert.deepEqual(await notifyFlags(redis), flagLetters("Kh"));
      await redis.config("SET", "notify-keyspace-events", "KEA"); // as a script that turns on what it needs
      for (let n = 0; n < 2500; n++) redis.set(`${shared.prefix}k${n}`, "x");
      await redis.hset(`${shared.prefix}hash`, "f", "v");
    }
    assert.deepEqual(await redis.keys("*"), ["someone:else"]);
    assert.deepEqual(await notifyFlags(redis), flagLetters("AKE"));
  },
);

Deno.test("findServerBinary() takes the binary SERVER names, and refuses a name it does not know", async () => {
  const dir = await Deno.makeTempDir({ prefix: "pubsub-lab-path-" });
  const saved = { PATH: Deno.env.get("PATH"), SERVER: Deno.env.get("SERVER") };
  try {
    for (const name of ["keydb-server", "redis-server"]) await Deno.writeTextFile(`${dir}/${name}`, "");
    Deno.env.set("PATH", dir);
    Deno.env.delete("SERVER");
    assert.equal(await findServerBinary(), `${dir}/keydb-server`);
    Deno.env.set("SERVER", "redis");
    assert.equal(await findServerBinary(), `${dir}/redis-server`);
    Deno.env.set("SERVER", "valkey");
    assert.equal(await findServerBinary(), undefined);
    Deno.env.set("SERVER", "memcached");
    await assert.rejects(
      findServerBinary(),
      (err) =>
        err instanceof CliError && err.exitCode === ExitCode.Usage && /use keydb, valkey or redis/.test(err.message),
    );
  } finally {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) Deno.env.delete(name);
      else Deno.env.set(name, value);
    }
    await Deno.remove(dir, { recursive: true });
  }
});
