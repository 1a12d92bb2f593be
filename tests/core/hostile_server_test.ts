/**
 * Every script against every broken or hostile fake server: one clear line
 * saying what the server did wrong, a distinct exit code, within the connect
 * timeout; never a stack trace, `Uncaught`, a hang or a memory blow-up. And a
 * long-running script whose working connection suddenly gets such bytes
 * reports it and reconnects.
 *
 * @module
 */
import assert from "node:assert/strict";
import { ExitCode } from "../../lib/core/exit_codes.ts";
import { main as apiServer } from "../../scripts/api_server.ts";
import { main as demoEvents } from "../../scripts/demo_events.ts";
import { main as eventProcessor } from "../../scripts/event_processor.ts";
import { main as keyspaceListener } from "../../scripts/keyspace_listener.ts";
import { main as keyspaceWriter } from "../../scripts/keyspace_writer.ts";
import { main as kvUpdater } from "../../scripts/kv_updater.ts";
import { main as ping } from "../../scripts/ping.ts";
import { main as publisher } from "../../scripts/publisher.ts";
import { main as subscriber } from "../../scripts/subscriber.ts";
import {
  fakeServer,
  faultProxy,
  GARBAGE,
  HOSTILE_SERVERS,
  HUGE_BULK_HEADER,
  nestedReply,
  stallingServer,
} from "../fake_servers.ts";
import { ownServerTest, runMain, testServer, withClient } from "../harness.ts";

type Main = Parameters<typeof runMain>[0];

/** Each script with the arguments that make it connect at once (one-shot and long-running alike). */
const SCRIPTS: [string, Main, string[]][] = [
  ["publisher.ts", publisher, ["hostile:ch", "hello"]],
  ["keyspace_writer.ts", keyspaceWriter, []],
  ["demo_events.ts", demoEvents, []],
  ["ping.ts", ping, []],
  ["subscriber.ts", subscriber, ["hostile:ch"]],
  ["keyspace_listener.ts", keyspaceListener, []],
  ["kv_updater.ts", kvUpdater, []],
  ["api_server.ts", apiServer, ["--port", "0"]],
  ["event_processor.ts", eventProcessor, []],
];

/** What each fake must make every script say, and the exit code. */
const EXPECTED: Record<string, { says: RegExp; code: number }> = {
  "a reply nested 200,000 deep": { says: /nested too deeply/, code: ExitCode.Protocol },
  "garbage bytes": { says: /not the Redis protocol \(it began "SSH-2\.0/, code: ExitCode.Protocol },
  "a 600 MB bulk-string header, then nothing": {
    says: /began its answer but did not finish it within \d+ s; it announced a string of 600 MB/,
    code: ExitCode.Protocol,
  },
  "accept and close at once": { says: /accepted the connection and closed it without a word/, code: ExitCode.Protocol },
  "a MariaDB greeting, then a close at the first command": {
    says:
      /the server is MySQL\/MariaDB \(its greeting says version 5\.5\.5-10\.11\.6-MariaDB\), not a Redis-protocol server/,
    code: ExitCode.Protocol,
  },
  "a MariaDB greeting lost to the client's first command": {
    says:
      /the server is MySQL\/MariaDB \(its greeting says version 5\.5\.5-10\.11\.6-MariaDB\), not a Redis-protocol server/,
    code: ExitCode.Protocol,
  },
  "HELLO refused with an error": {
    says: /refused HELLO.*ERR HELLO is disabled here|answered PING with an error \(ERR unknown command\)/,
    code: ExitCode.Protocol,
  },
  "AUTH refused with an error": { says: /refused the login \(ERR internal error/, code: ExitCode.Connect },
};

const NOT_ALLOWED = /Uncaught|^\s+at |RangeError|Maximum call stack|Please report this|docker compose/m;

for (const [fault, make] of Object.entries(HOSTILE_SERVERS)) {
  Deno.test(`every script against a fake server (${fault}): one line, exit ${EXPECTED[fault]!.code}`, async () => {
    await using fake = make();
    const rssBefore = Deno.memoryUsage().rss;
    const started = Date.now();
    // All nine at once: the slowest case is bounded by the 5 s connect timeout, not by nine of them.
    const runs = SCRIPTS.map(([name, main, args]) => {
      const run = runMain(main, ["--url", fake.url, ...args], 15_000);
      return run.exit.then((code) => ({ name, code, err: run.io.err.text, out: run.io.out.text }));
    });
    for (const { name, code, err, out } of await Promise.all(runs)) {
      const { says, code: expected } = EXPECTED[fault]!;
      assert.equal(code, expected, `${name}: exit ${code}\n${err}`);
      const errors = err.split("\n").filter((l) => l.startsWith("error:"));
      assert.equal(errors.length, 1, `${name} prints one error line:\n${err}`);
      assert.match(errors[0]!, says, `${name}:\n${err}`);
      assert.doesNotMatch(err + out, NOT_ALLOWED, `${name}:\n${err}`);
      assert.doesNotMatch(err + out, /fake-server-pw/, `${name} shows the password`);
    }
    assert.ok(Date.now() - started < 12_000, `took ${Date.now() - started} ms`);
    const grewMb = (Deno.memoryUsage().rss - rssBefore) / 2 ** 20;
    assert.ok(grewMb < 200, `memory grew by ${grewMb.toFixed(0)} MB`);
  });
}

Deno.test("a 600 MB bulk-string header and 16 MB of it: memory follows the bytes sent, not the length announced", async () => {
  const header = new TextEncoder().encode(HUGE_BULK_HEADER);
  const answer = new Uint8Array(header.length + 16 * 2 ** 20).fill(0x61);
  answer.set(header);
  await using fake = fakeServer({ onCommand: () => answer });
  const rssBefore = Deno.memoryUsage().rss;
  const { exit, io } = runMain(ping, ["--url", fake.url, "--timeout", "1s"], 10_000);
  assert.equal(await exit, ExitCode.Protocol, io.err.text);
  assert.match(io.err.text, /did not finish it within 1 s; it announced a string of 600 MB/);
  const grewMb = (Deno.memoryUsage().rss - rssBefore) / 2 ** 20;
  assert.ok(grewMb < 150, `memory grew by ${grewMb.toFixed(0)} MB`);
});

/** The long-running scripts, with the arguments that keep them running. */
const LONG_RUNNING = SCRIPTS.filter(([name]) =>
  ["subscriber.ts", "keyspace_listener.ts", "kv_updater.ts", "api_server.ts", "event_processor.ts"].includes(name)
);

for (
  const [fault, bytes, says] of [
    ["a reply nested 200,000 deep", nestedReply(), /the server sent a reply nested too deeply to read/],
    ["garbage bytes", GARBAGE, /the server's answer is not the Redis protocol \(it began "SSH-2\.0/],
  ] as const
) {
  ownServerTest(
    `long-running scripts whose working connection gets ${fault}: they report it, reconnect and stop cleanly`,
    async () => {
      await using server = await testServer({ own: true });
      for (const [name, main, args] of LONG_RUNNING) {
        await using proxy = faultProxy(server.local!.port);
        await using run = runMain(main, ["--url", proxy.url, ...args], 30_000);
        await run.io.err.waitFor(/Press Ctrl\+C to stop/, 15_000);
        await proxy.inject(bytes);
        await run.io.err.waitFor(new RegExp(`lost: ${says.source}`), 10_000);
        await run.io.err.waitFor(/Reconnected to /, 15_000);
        run.io.stop();
        assert.equal(await run.exit, ExitCode.Ok, `${name}:\n${run.io.err.text}`);
        assert.doesNotMatch(run.io.err.text + run.io.out.text, NOT_ALLOWED, `${name}:\n${run.io.err.text}`);
      }
      await withClient(server.url, (redis) => redis.flushall());
    },
  );
}

Deno.test("Ctrl+C while connecting to a server that accepts but never answers stops at once, exit 0", async () => {
  await using silent = stallingServer();
  for (const [i, [name, main, args]] of SCRIPTS.entries()) {
    const run = runMain(main, ["--url", silent.url, ...args], 10_000);
    await silent.accepted(i + 1);
    const started = Date.now();
    run.io.stop();
    assert.equal(await run.exit, ExitCode.Ok, `${name}:\n${run.io.err.text}`);
    // The connect timeout is 5 s: well under it means the stop did not wait for it.
    assert.ok(Date.now() - started < 2500, `${name} took ${Date.now() - started} ms to stop`);
    assert.match(run.io.err.text, /Stopped while connecting to redis:\/\/127\.0\.0\.1:\d+(\/\d+)?\./, name);
    assert.doesNotMatch(run.io.err.text, /error:|Start a server/, name);
  }
});

Deno.test("publisher.ts whose PUBLISH gets garbage or a nested reply after a good handshake: exit 7, one line", async () => {
  for (const bad of [GARBAGE, nestedReply()]) {
    await using fake = fakeServer({
      onCommand: ([name]) =>
        name === "HELLO"
          ? "-NOPROTO unsupported\r\n"
          : name === "PUBLISH"
          ? bad
          : name === "PING"
          ? "+PONG\r\n"
          : "+OK\r\n",
    });
    const { exit, io } = runMain(publisher, ["--url", fake.url, "late:ch", "hi"], 10_000);
    assert.equal(await exit, ExitCode.Protocol, io.err.text);
    assert.match(
      io.err.text,
      /^error: the server('s answer is not the Redis protocol| sent a reply nested too deeply)/m,
    );
    assert.doesNotMatch(io.err.text + io.out.text, NOT_ALLOWED);
    assert.doesNotMatch(io.err.text, /unexpected failure/);
  }
});
