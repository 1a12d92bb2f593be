/**
 * A reply that does not fit the command ioredis takes it to answer — a null where the confirmation of an
 * UNSUBSCRIBE or a SUBSCRIBE belongs — must never kill a script: ioredis 6.0.0 throws a TypeError on it from the
 * socket's data handler (`fillUnsubCommand(item.command, reply[2])`), uncaught. Each script runs as a process of
 * its own (an uncaught exception ends the process, which the test must see, not share) behind a proxy to a real
 * server that answers as that server does until told otherwise, as a server did here: a reply nested 200,000 deep
 * (the connection is lost, the script reconnects), then a null for the UNSUBSCRIBE sent on the way out, or for the
 * resubscription.
 *
 * @module
 */
import assert from "node:assert/strict";
import { ExitCode } from "../../lib/core/exit_codes.ts";
import { faultProxy, nestedReply, type Rewrite } from "../fake_servers.ts";
import { eventually, ownServerTest, ScriptProcess, testServer } from "../harness.ts";

const NOT_ALLOWED = /Uncaught|^\s+at |Please report this/m;

/** Makes a real server answer a null in the place of the next command `which` accepts, while `armed()`. */
function nullFor(which: RegExp, armed: () => boolean, times = Infinity): Rewrite {
  let left = times;
  return ([name]) => {
    if (!armed() || left === 0 || !which.test(name ?? "")) return undefined;
    left--;
    return ["GET", `pubsub-lab:no-such-key:${crypto.randomUUID()}`];
  };
}

const UNSUBSCRIBES = /^[PS]?UNSUBSCRIBE$/;
const SUBSCRIBES = /^[PS]?SUBSCRIBE$/;

/** The long-running scripts, with the arguments that keep them running (as in hostile_server_test.ts). */
const LONG_RUNNING: [string, string[]][] = [
  ["subscriber.ts", ["misfit:ch"]],
  ["keyspace_listener.ts", []],
  ["kv_updater.ts", []],
  ["api_server.ts", ["--port", "0"]],
  ["event_processor.ts", []],
];

/**
 * Runs `scenario` for each row at once (each script behind its own proxy) and fails with what every failing one
 * printed: so that a run without the fix shows each script's own crash.
 */
async function eachAtOnce<T extends [string, ...unknown[]]>(rows: T[], scenario: (row: T) => Promise<void>) {
  const results = await Promise.allSettled(rows.map(scenario));
  const failed = results.flatMap((r, i) =>
    r.status === "rejected" ? [`${rows[i]![0]}: ${(r.reason as Error).message ?? r.reason}`] : []
  );
  assert.equal(failed.length, 0, failed.join("\n\n"));
}

/** Waits until every connection the script lost is back (each says so), or it died. */
async function allBack(p: ScriptProcess): Promise<void> {
  const back = () => p.err.count(/Reconnected to /) >= p.err.count(/Connection to \S+ lost/);
  await eventually(() => /Uncaught/.test(p.err.text) || back(), "every connection to be back", 20_000);
  assert.doesNotMatch(p.err.text, /Uncaught/, p.err.text);
}

/** Stops the script as Ctrl+C does: it must end cleanly, with nothing raw or uncaught in its output. */
async function stopsCleanly(p: ScriptProcess): Promise<void> {
  p.kill("SIGINT");
  const code = await p.exit();
  assert.doesNotMatch(p.err.text + p.out.text, NOT_ALLOWED, p.err.text);
  assert.equal(code, ExitCode.Ok, p.err.text);
}

ownServerTest(
  "long-running scripts whose UNSUBSCRIBE on the way out gets a null, after a nested reply: no crash",
  async () => {
    await using server = await testServer({ own: true });
    await eachAtOnce(LONG_RUNNING, async ([name, args]) => {
      let armed = false;
      await using proxy = faultProxy(server.local!.port, nullFor(UNSUBSCRIBES, () => armed));
      await using p = new ScriptProcess(name, ["--url", proxy.url, ...args]);
      await p.err.waitFor(/Press Ctrl\+C to stop/, 20_000);
      await proxy.inject(nestedReply());
      await p.err.waitFor(/lost: the server sent a reply nested too deeply to read/, 10_000);
      await allBack(p); // the UNSUBSCRIBE goes on a fresh socket
      armed = true;
      await stopsCleanly(p);
      assert.ok(proxy.rewritten > 0, `it sent no UNSUBSCRIBE on its way out:\n${p.err.text}`);
    });
  },
);

ownServerTest(
  "long-running scripts whose resubscription gets a null, after a nested reply: back all the same",
  async () => {
    await using server = await testServer({ own: true });
    await eachAtOnce(LONG_RUNNING, async ([name, args]) => {
      let armed = false;
      await using proxy = faultProxy(server.local!.port, nullFor(SUBSCRIBES, () => armed, 1));
      await using p = new ScriptProcess(name, ["--url", proxy.url, ...args]);
      await p.err.waitFor(/Press Ctrl\+C to stop/, 20_000);
      armed = true; // the next SUBSCRIBE is a resubscription: everything was subscribed before "Press Ctrl+C"
      await proxy.inject(nestedReply());
      await p.err.waitFor(/lost: the server sent a reply nested too deeply to read/, 10_000);
      // The attempt whose resubscription got the null fails (the same outage goes on); the next one succeeds.
      await allBack(p);
      assert.equal(proxy.rewritten, 1, p.err.text);
      await stopsCleanly(p);
    });
  },
);

/** The one-shot scripts that subscribe and leave again on their way, how they are run, and how they end then. */
const ONE_SHOTS: [string, string[], number][] = [
  ["ping.ts", [], ExitCode.CheckFailed], // its pub/sub check fails, saying why
  ["keyspace_writer.ts", ["--count", "1", "--timeout", "1s"], ExitCode.Timeout], // no listener answers
  ["demo_events.ts", ["--timeout", "1s"], ExitCode.Timeout], // no processor answers
];

ownServerTest("one-shot scripts whose UNSUBSCRIBE gets a null: no crash, the end they would have anyway", async () => {
  await using server = await testServer({ own: true });
  await eachAtOnce(ONE_SHOTS, async ([name, args, expected]) => {
    await using proxy = faultProxy(server.local!.port, nullFor(UNSUBSCRIBES, () => true));
    await using p = new ScriptProcess(name, ["--url", proxy.url, ...args]);
    const code = await p.exit();
    assert.doesNotMatch(p.err.text + p.out.text, NOT_ALLOWED, p.err.text);
    assert.equal(code, expected, p.err.text + p.out.text);
    assert.ok(proxy.rewritten > 0, `it sent no UNSUBSCRIBE:\n${p.err.text}`);
    if (name === "ping.ts") {
      assert.match(
        p.out.text + p.err.text,
        /pub\/sub +the reply to UNSUBSCRIBE did not fit that command, and the client/,
      );
    }
  });
});
