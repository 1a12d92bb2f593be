import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { Redis } from "ioredis";
import { main as publisher } from "../../scripts/publisher.ts";
import { main as subscriber } from "../../scripts/subscriber.ts";
import { ExitCode } from "../../lib/core/exit_codes.ts";
import { captureIo, ownServerTest, runMain, testServer } from "../harness.ts";

Deno.test("publisher says plainly when a message reached nobody", async () => {
  await using server = await testServer();
  const io = captureIo();
  assert.equal(await publisher(["--url", server.url, "p1:nobody", "lost?"], io), ExitCode.Ok);
  assert.match(io.out.text, /received by 0 subscribers/);
  assert.match(io.err.text, /that message is gone/);
});

Deno.test("publisher --stdin publishes one message per line, in order", async () => {
  await using server = await testServer();
  const sub = captureIo();
  const running = subscriber(["--url", server.url, "p2:lines", "--count", "3", "--json"], sub);
  await sub.out.waitFor(/"event":"subscribe"/);
  const pub = captureIo("first\r\nsecond\n\nthird");
  assert.equal(await publisher(["--url", server.url, "p2:lines", "--stdin", "--quiet"], pub), ExitCode.Ok);
  assert.equal(await running, ExitCode.Ok);
  const payloads = sub.out.text.trim().split("\n").map((l) => JSON.parse(l)).filter((e) => e.event === "message")
    .map((e) => e.payload);
  assert.deepEqual(payloads, ["first", "second", "third"]);
  assert.match(pub.out.text, /Published 3 message\(s\)/);
});

Deno.test("publisher --repeat fills the template and --rate holds the pace", async () => {
  await using server = await testServer();
  const sub = captureIo();
  const running = subscriber(["--url", server.url, "p3:tick", "--count", "20", "--json"], sub);
  await sub.out.waitFor(/"event":"subscribe"/);
  const pub = captureIo();
  const started = performance.now();
  const code = await publisher(
    ["--url", server.url, "p3:tick", "n={{n}} ts={{ts}} iso={{iso}}", "--repeat", "20", "--rate", "100", "--json"],
    pub,
  );
  const elapsed = performance.now() - started;
  assert.equal(code, ExitCode.Ok);
  assert.equal(await running, ExitCode.Ok);
  // 20 messages at 100/s: the last is due 190 ms after the first.
  assert.ok(elapsed >= 185, `20 messages at 100/s took only ${elapsed.toFixed(0)} ms`);
  const messages = sub.out.text.trim().split("\n").map((l) => JSON.parse(l)).filter((e) => e.event === "message");
  assert.equal(messages.length, 20);
  messages.forEach((m, i) =>
    assert.match(m.payload, new RegExp(`^n=${i + 1} ts=\\d{13}\\.\\d{3} iso=\\d{4}-\\d\\d-\\d\\dT`))
  );
  const results = pub.out.text.trim().split("\n").map((l) => JSON.parse(l));
  assert.equal(results.filter((r) => r.event === "published" && r.receivers === 1).length, 20);
});

Deno.test("publisher --repeat at full speed delivers every message in order", async () => {
  await using server = await testServer();
  const sub = captureIo();
  const running = subscriber(["--url", server.url, "p4:bulk", "--count", "5000", "--quiet", "--json"], sub);
  await sub.out.waitFor(/"event":"subscribe"/);
  const pub = captureIo();
  assert.equal(await publisher(["--url", server.url, "p4:bulk", "{{n}}", "--repeat", "5000", "--quiet"], pub), 0);
  assert.equal(await running, ExitCode.Ok);
  const summary = JSON.parse(sub.out.text.trim().split("\n").at(-1)!);
  assert.equal(summary.messages, 5000);
  assert.deepEqual(summary.channels, { "p4:bulk": 5000 });
});

Deno.test("subscriber shows a binary payload escaped in text and base64 in JSON", async () => {
  await using server = await testServer();
  const text = captureIo();
  const json = captureIo();
  const a = subscriber(["--url", server.url, "p5:bin", "--count", "1"], text);
  const b = subscriber(["--url", server.url, "p5:bin", "--count", "1", "--json"], json);
  await text.out.waitFor(/subscribed/);
  await json.out.waitFor(/subscribe/);
  const redis = new Redis(server.url);
  try {
    assert.equal(await redis.publish("p5:bin", Buffer.from([0xff, 0xfe, 0x0a, 0x41])), 2);
  } finally {
    await redis.quit();
  }
  assert.equal(await a, ExitCode.Ok);
  assert.equal(await b, ExitCode.Ok);
  assert.match(text.out.text, /p5:bin: \\xff\\xfe\\x0aA/);
  const message = json.out.text.split("\n").filter(Boolean).map((l) => JSON.parse(l)).find((e) =>
    e.event === "message"
  );
  assert.deepEqual([message.payload, message.encoding], ["//4KQQ==", "base64"]);
});

Deno.test("publisher rejects contradictory or incomplete arguments with the usage code", async () => {
  for (
    const [args, pattern] of [
      [["ch"], /Missing MESSAGE/],
      [["ch", "m", "--rate", "5"], /--rate goes with --repeat/],
      [["ch", "m", "--repeat", "2", "--rate", "5", "--interval", "1s"], /not both/],
      [["--stdin"], /needs a CHANNEL/],
      [["ch", "m", "--repeat", "zero"], /--repeat expects a whole number/],
      [["ch", "m", "--interval", "1s"], /--interval goes with --repeat N or the demo/],
      [["ch", "--stdin", "--interval", "1s"], /--interval goes with --repeat N or the demo/],
    ] as const
  ) {
    const io = captureIo();
    assert.equal(await publisher(["--url", "redis://127.0.0.1:1", ...args], io), ExitCode.Usage, args.join(" "));
    assert.match(io.err.text, pattern);
  }
});

/** The summary object a `--json` run printed last. */
function jsonSummary(text: string): { published: number; skipped: number; delayed: number } {
  const summary = JSON.parse(text.trim().split("\n").at(-1)!);
  assert.equal(summary.event, "summary");
  return summary;
}

ownServerTest(
  "publisher --repeat --retry waits for a restarted server and carries on, saying what it skipped and delayed",
  async () => {
    await using server = await testServer({ own: true });
    await using pub = runMain(publisher, [
      "--url",
      server.url,
      "p5:ticks",
      "{{n}}",
      "--repeat",
      "30",
      "--interval",
      "20ms",
      "--retry",
      "20s",
      "--json",
    ]);
    await pub.io.out.waitFor(/"n":5,/);
    await server.local!.stop();
    await pub.io.err.waitFor(/Connection to .* lost.*Publishing waits for it, up to 20 s \(--retry\)\./);
    await server.local!.start();
    assert.equal(await pub.exit, ExitCode.Ok);
    assert.match(pub.io.err.text, /Reconnected to .* after \d+\.\d s/);
    // The one publish that failed is not sent again (it may have arrived); the next one waited for the server.
    const summary = jsonSummary(pub.io.out.text);
    assert.deepEqual([summary.published, summary.skipped, summary.delayed], [29, 1, 1]);
    assert.match(pub.io.err.text, /1 message\(s\) skipped .*, 1 delayed/);
    const numbers = pub.io.out.text.trim().split("\n").map((l) => JSON.parse(l)).filter((e) => e.event === "published")
      .map((e) => Number(e.payload));
    assert.equal(numbers.length, 29);
    assert.equal(numbers.at(-1), 30);
  },
);

ownServerTest(
  "publisher --retry at full speed: batches lost with the server are counted, the rest published",
  async () => {
    await using server = await testServer({ own: true });
    // Sees the first message, then loses its connection with the server for good (no retries): nothing to close after.
    const watcher = new Redis(server.url, { retryStrategy: () => null, maxRetriesPerRequest: 0 });
    watcher.on("error", () => {});
    const ended = new Promise<void>((resolve) => watcher.once("end", () => resolve()));
    await watcher.subscribe("p6:bulk");
    const first = new Promise<void>((resolve) => watcher.once("message", () => resolve()));
    const io = captureIo();
    const running = publisher(
      ["--url", server.url, "p6:bulk", "{{n}}", "--repeat", "200000", "--quiet", "--json", "--retry", "20s"],
      io,
    );
    // Stop the server while pipelined batches are in flight.
    await first;
    await server.local!.stop();
    await io.err.waitFor(/Connection to .* lost/);
    await ended;
    await server.local!.start();
    assert.equal(await running, ExitCode.Ok);
    const summary = jsonSummary(io.out.text);
    assert.equal(summary.published + summary.skipped, 200000);
    assert.ok(summary.delayed > 0, JSON.stringify(summary));
    assert.doesNotMatch(io.err.text, /Publishing stopped/);
  },
);

ownServerTest(
  "publisher --retry gives up at its deadline with the failure code, and goes only with --repeat",
  async () => {
    await using server = await testServer({ own: true });
    await using pub = runMain(publisher, [
      "--url",
      server.url,
      "p7:ticks",
      "{{n}}",
      "--repeat",
      "1000",
      "--interval",
      "20ms",
      "--retry",
      "300ms",
    ]);
    await pub.io.out.waitFor(/→ p7:ticks: 3 /);
    await server.local!.stop();
    assert.equal(await pub.exit, ExitCode.Failure);
    assert.match(
      pub.io.err.text,
      /Publishing stopped after \d+ message\(s\): the server did not come back within 0\.3 s \(--retry\)\./,
    );
    const io = captureIo();
    assert.equal(await publisher(["--url", server.url, "c", "m", "--retry", "5s"], io), ExitCode.Usage);
    assert.match(io.err.text, /--retry goes with --repeat N/);
  },
);
