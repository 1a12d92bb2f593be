import assert from "node:assert/strict";
import { Redis } from "ioredis";
import { commandLostConnection } from "../../lib/core/client.ts";
import { CliError, ExitCode } from "../../lib/core/exit_codes.ts";
import { PublishLane } from "../../lib/pubsub/publish_lane.ts";
import { main as publisher } from "../../scripts/publisher.ts";
import { fakeServer } from "../fake_servers.ts";
import { captureIo, closeClient, eventually, testServer } from "../harness.ts";

const text = new TextEncoder();

/** What a lane needs of an ioredis client, for a fake server on `port`. */
const target = (port: number, extra: Record<string, unknown> = {}) =>
  ({ options: { host: "127.0.0.1", port, ...extra }, status: "ready" }) as never;

Deno.test("a lane publishes text and binary payloads byte for byte and counts the receivers of each", async () => {
  await using server = await testServer();
  const channel = `${server.prefix}lane`;
  const main = new Redis(server.url);
  const sub = new Redis(server.url);
  const lane = new PublishLane(main);
  try {
    const got: Uint8Array[] = [];
    sub.on("messageBuffer", (_c: Uint8Array, p: Uint8Array) => got.push(new Uint8Array(p)));
    await sub.subscribe(channel);
    const binary = new Uint8Array(256).map((_, i) => i);
    const batch = Array.from({ length: 2500 }, (_, i) => ({ channel, payload: i % 2 ? `m${i} ✓` : binary }));
    const receivers = await lane.publish(batch);
    assert.deepEqual(receivers, batch.map(() => 1));
    assert.deepEqual(await lane.publish([{ channel: `${channel}:nobody`, payload: "x" }]), [0]);
    await eventually(() => got.length === batch.length, "every message");
    got.forEach((p, i) => assert.deepEqual(p, i % 2 ? text.encode(`m${i} ✓`) : binary, `message ${i}`));
  } finally {
    await lane.close();
    await closeClient(sub);
    await closeClient(main);
  }
});

Deno.test("a lane logs in with the URL's password, and a refused PUBLISH fails its batch with the server's error only", async () => {
  const seen: string[][] = [];
  let publishes = 0;
  await using fake = fakeServer({
    onCommand: (words) => {
      seen.push(words);
      if (words[0] === "AUTH") return "+OK\r\n";
      return ++publishes === 2 ? "-NOPERM this user has no permissions to access the 'c' channel\r\n" : ":3\r\n";
    },
  });
  const lane = new PublishLane(target(fake.port, { username: "ann", password: "s3cret" }));
  try {
    const m = { channel: "c", payload: "p" };
    await assert.rejects(lane.publish([m, m, m]), (err: Error) => {
      assert.match(err.message, /^NOPERM/);
      assert.equal(commandLostConnection(err), false);
      return true;
    });
    assert.deepEqual(await lane.publish([m]), [3]); // the same socket goes on
    assert.deepEqual(seen[0], ["AUTH", "ann", "s3cret"]);
  } finally {
    await lane.close();
  }
});

Deno.test("a lane whose socket is lost mid-batch fails that batch as a lost connection, and one with garbage: exit 7", async () => {
  let publishes = 0;
  await using fake = fakeServer({ onCommand: () => (++publishes <= 5 ? ":1\r\n" : "close") });
  const lane = new PublishLane(target(fake.port));
  try {
    const batch = Array.from({ length: 10 }, (_, i) => ({ channel: "c", payload: String(i) }));
    await assert.rejects(lane.publish(batch), (err: Error) => commandLostConnection(err));
  } finally {
    await lane.close();
  }
  await using liar = fakeServer({ onCommand: () => "$5\r\nhello\r\n" });
  const confused = new PublishLane(target(liar.port));
  try {
    await assert.rejects(
      confused.publish([{ channel: "c", payload: "p" }]),
      (err: Error) => err instanceof CliError && err.exitCode === ExitCode.Protocol,
    );
  } finally {
    await confused.close();
  }
});

Deno.test("publisher --repeat whose server closes mid-batch says it went away, after the batches it confirmed", async () => {
  let publishes = 0;
  await using fake = fakeServer({
    onCommand: ([name]) =>
      name === "HELLO"
        ? "-NOPROTO unsupported\r\n"
        : name === "PUBLISH"
        ? (++publishes <= 1500 ? ":1\r\n" : "close")
        : name === "PING"
        ? "+PONG\r\n"
        : "+OK\r\n",
  });
  const io = captureIo();
  const code = await publisher(["--url", fake.url, "c", "{{n}}", "--repeat", "5000", "--quiet"], io);
  assert.equal(code, ExitCode.Failure, io.err.text);
  assert.match(io.err.text, /Publishing stopped after 1,000 message\(s\): the server went away/);
  assert.doesNotMatch(io.err.text, /unexpected failure|Uncaught/);
});
