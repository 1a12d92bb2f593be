/**
 * The canary of lib/core/ioredis_guard.ts: the real pinned ioredis has every internal the guard relies on, and each
 * assumption holds against a real server (and a real cluster) — every reply goes through the patched
 * `DataHandler.dispatch`, the queue's head names the command a reply answers, and `recoverFromFatalError` drops the
 * socket and reconnects. A missing internal stops a script at start-up with one line and exit code 9.
 *
 * @module
 */
import assert from "node:assert/strict";
import { Command, type Redis } from "ioredis";
import { ClusterConnection } from "../../lib/cluster/cluster_connection.ts";
import { Connection } from "../../lib/core/client.ts";
import { runScript } from "../../lib/core/cli.ts";
import { CliError, ExitCode } from "../../lib/core/exit_codes.ts";
import {
  guardIoredis,
  IOREDIS_VERSION,
  missingInternals,
  ReplyHandlingError,
  replyHandlingFault,
} from "../../lib/core/ioredis_guard.ts";
import { Reporter } from "../../lib/core/output.ts";
import { captureIo, clusterSuite, eventually, testServer, TextSink } from "../harness.ts";

/** The npm specifier deno.json pins ioredis to. */
const pinned = JSON.parse(await Deno.readTextFile(new URL("../../deno.json", import.meta.url))).imports.ioredis;

Deno.test("the installed ioredis is the one deno.json pins, and has every internal the guard relies on", () => {
  assert.equal(`npm:ioredis@${IOREDIS_VERSION}`, pinned);
  assert.deepEqual(missingInternals(), []);
});

Deno.test("guardIoredis() with an internal missing: one line naming the version and what changed, exit code 9", async () => {
  const noDispatch = {
    dataHandler: class {},
    client: { commandQueue: { peekFront() {} }, recoverFromFatalError() {} },
  };
  assert.throws(() => guardIoredis(noDispatch), (err) => {
    assert.ok(err instanceof CliError);
    assert.equal(err.exitCode, ExitCode.ClientLibrary);
    assert.equal(err.exitCode, 9);
    assert.match(err.message, new RegExp(`^ioredis ${IOREDIS_VERSION.replaceAll(".", "\\.")} lacks what pubsub-lab`));
    assert.match(err.message, /DataHandler\.prototype\.dispatch/);
    assert.doesNotMatch(err.message, /commandQueue|recoverFromFatalError/); // only what is missing
    assert.doesNotMatch(err.message, /\n/);
    return true;
  });
  // As a script says it: one line on stderr, that exit code.
  const io = captureIo();
  const spec = { name: "x.ts", summary: "", usage: [], examples: [], options: {} };
  assert.equal(await runScript(spec, [], io, () => Promise.resolve(guardIoredis(noDispatch)).then(() => 0)), 9);
  assert.equal(io.err.text.trim().split("\n").length, 1, io.err.text);
  assert.match(io.err.text, /^error: ioredis \S+ lacks what pubsub-lab relies on/);
});

/**
 * A command ioredis books as `name` (so it reads the reply as that command's confirmation) while the server is
 * sent `CLIENT GETNAME`: a real server answers it with a null (the connection has no name), in its turn.
 */
function misfit(name: string): Command {
  const command = new Command(name, ["canary"]);
  command.toWritable = () => "*2\r\n$6\r\nCLIENT\r\n$7\r\nGETNAME\r\n";
  return command;
}

/** Sends `command` on `redis` and gives what it fails with. */
async function failure(redis: Redis, command: Command): Promise<unknown> {
  try {
    await redis.sendCommand(command);
  } catch (err) {
    return err;
  }
  assert.fail(`${command.name} did not fail`);
}

function reporterInto(sink: TextSink): Reporter {
  const decoder = new TextDecoder();
  return new Reporter({ writeSync: (p) => (sink.push(decoder.decode(p)), p.length), isTerminal: () => false });
}

Deno.test("a reply ioredis fails on: that command fails, the connection is reported lost in words and comes back", async () => {
  await using server = await testServer();
  const said = new TextSink();
  const conn = await Connection.open({ url: server.url, reporter: reporterInto(said) });
  try {
    for (const name of ["unsubscribe", "subscribe"]) { // fillUnsubCommand(reply[2]); reply[1].toString()
      const err = await failure(conn.redis, misfit(name));
      assert.ok(err instanceof ReplyHandlingError, String(err));
      assert.equal(err.command, name.toUpperCase());
      assert.match(String((err.cause as Error).message), /Cannot read properties of null/);
      assert.deepEqual(replyHandlingFault(err.message)?.command, name.toUpperCase());
      const upper = name.toUpperCase();
      await said.waitFor(new RegExp(`lost: the reply to ${upper} did not fit that command, and the client library `));
      await eventually(() => said.count(/Reconnected to /) === said.count(/ lost: /), "the connection to be back");
      assert.equal(await conn.redis.ping(), "PONG");
    }
    assert.equal(conn.outages, 2);
    assert.doesNotMatch(said.text, /Please report this|TypeError/);
  } finally {
    await conn.close();
  }
});

clusterSuite(
  "a reply ioredis fails on, on a cluster node: reported in words, the cluster carries on",
  async (t, local) => {
    await t.step("SUNSUBSCRIBE answered with a null on a master's connection", async (prefix) => {
      const said = new TextSink();
      const conn = await ClusterConnection.open({ urls: [local.seedUrl], reporter: reporterInto(said) });
      try {
        const node = conn.masters()[0]!;
        const err = await failure(node, misfit("sunsubscribe"));
        assert.ok(err instanceof ReplyHandlingError, String(err));
        assert.equal(err.command, "SUNSUBSCRIBE");
        await said.waitFor(/Lost cluster node \S+, master of slots [^(]*\(the reply to SUNSUBSCRIBE did not fit that/);
        // Every slot is served again (the node's connection made anew): a key on each master can be written.
        const keys = Array.from({ length: 30 }, (_, i) => `${prefix}:k${i}`);
        const writeAll = () => Promise.all(keys.map((k) => conn.cluster.set(k, "v"))).then(() => true, () => false);
        await eventually(writeAll, "every master to take writes again");
        await said.waitFor(/Cluster node \S+ answers again/);
        await Promise.all(keys.map((k) => conn.cluster.del(k)));
        assert.doesNotMatch(said.text, /Please report this|TypeError/);
      } finally {
        await conn.close();
      }
    });
  },
);
