/**
 * The canary of lib/core/ioredis_guard.ts, the one door to ioredis's internals: the real pinned ioredis has every
 * internal checked at start-up, and each assumption the door makes holds against a real server (and a real cluster) —
 * every reply goes through the patched `DataHandler.dispatch`, the queue's head names the command a reply answers,
 * `recoverFromFatalError` drops the socket and reconnects; messages read ahead of the decoder arrive once each, as
 * ioredis emits them, and through ioredis's own decoder when the read-ahead cannot be set up; `condition.subscriber`
 * says subscribed; the socket can be watched and paused; the words of a lost connection are known; the advice ioredis
 * writes with `console.warn` is heard; a cluster's plain subscriber is found, and its slot-map refresh flags mean what
 * the door takes them to. A missing internal stops a script at start-up with one line and exit code 9.
 *
 * @module
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { Command, Redis } from "ioredis";
import { ClusterConnection } from "../../lib/cluster/cluster_connection.ts";
import { Connection } from "../../lib/core/client.ts";
import { runScript } from "../../lib/core/cli.ts";
import { CliError, ExitCode } from "../../lib/core/exit_codes.ts";
import {
  guardIoredis,
  IOREDIS_VERSION,
  ioredisLostConnection,
  missingInternals,
  onIoredisWarning,
  pauseReading,
  plainSubscriberOf,
  readPushesAhead,
  ReplyHandlingError,
  replyHandlingFault,
  socketConnected,
  subscribedNow,
  watchIncoming,
} from "../../lib/core/ioredis_guard.ts";
import { askServer } from "../../lib/core/local_server.ts";
import { Reporter } from "../../lib/core/output.ts";
import { delay } from "../../lib/core/timing.ts";
import { noShardedPubSub } from "../../lib/pubsub/sharded.ts";
import {
  captureIo,
  closeClient,
  clusterSuite,
  eventually,
  ownServerTest,
  ScriptProcess,
  testClient,
  testServer,
  TextSink,
  withClient,
} from "../harness.ts";

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
    cluster: { subscriber: { getInstance() {} }, isRefreshing: false, clearNodesRefreshInterval() {} },
  };
  assert.throws(() => guardIoredis(noDispatch), (err) => {
    assert.ok(err instanceof CliError);
    assert.equal(err.exitCode, ExitCode.ClientLibrary);
    assert.equal(err.exitCode, 9);
    assert.match(err.message, new RegExp(`^ioredis ${IOREDIS_VERSION.replaceAll(".", "\\.")} lacks what pubsub-lab`));
    assert.match(err.message, /DataHandler\.prototype\.dispatch/);
    assert.doesNotMatch(err.message, /commandQueue|recoverFromFatalError|cluster/); // only what is missing
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

    await t.step("plainSubscriberOf() finds the connection plain channels are subscribed on", async (prefix) => {
      const conn = await ClusterConnection.open({ urls: [local.seedUrl], reporter: reporterInto(new TextSink()) });
      try {
        const channel = `${prefix}ch`;
        let got = 0;
        conn.cluster.on("messageBuffer", () => got++);
        await conn.cluster.subscribe(channel);
        const instance = plainSubscriberOf(conn.cluster);
        assert.ok(instance);
        assert.equal(instance.status, "ready");
        assert.equal(subscribedNow(instance), true);
        const nodes = local.nodes.map((n) => n.port);
        assert.ok(nodes.includes(Number(instance.options.port)), `${instance.options.port} in ${nodes}`);
        await conn.cluster.publish(channel, "hello");
        await eventually(() => got === 1, "the message");
        await conn.cluster.unsubscribe(channel);
        assert.equal(subscribedNow(instance), false);
      } finally {
        await conn.close();
      }
    });

    await t.step("a read of the slot map in flight at the close: isRefreshing says so, nothing is left", async () => {
      // Left alone, ioredis 6.0.0 arms its periodic read again when a read still in flight at the close completes,
      // and the process never ends: the op sanitizer reports that timer unless close() (stopSlotRefresh) cleared it.
      const conn = await ClusterConnection.open({
        urls: [local.seedUrl],
        reporter: reporterInto(new TextSink()),
        refreshMs: 50,
      });
      const insides = conn.cluster as unknown as { isRefreshing: boolean };
      try {
        // Every node holds its clients for 1.5 s: the next read of the slot map waits for its answer (1 s at most).
        for (const node of local.nodes) assert.equal(await askServer(node.port, "CLIENT PAUSE 1500 ALL"), "OK");
        await eventually(() => insides.isRefreshing, "a read of the slot map in flight");
        conn.cluster.disconnect(); // the close's disconnect, with that read in flight (a QUIT would wait for the pause)
      } finally {
        await conn.close();
      }
      assert.equal(insides.isRefreshing, false);
    });
  },
);

/** Every message event a client emits, in order, in one log (the text ones and the Buffer ones). */
function messageLog(redis: Redis): string[] {
  const log: string[] = [];
  const hex = (b: Buffer) => b.toString("hex");
  redis.on("message", (c: string, p: string) => log.push(`message ${c} ${p}`));
  redis.on("messageBuffer", (c: Buffer, p: Buffer) => log.push(`messageBuffer ${c} ${hex(p)}`));
  redis.on("pmessage", (pat: string, c: string, p: string) => log.push(`pmessage ${pat} ${c} ${p}`));
  redis.on("pmessageBuffer", (pat: string, c: Buffer, p: Buffer) => log.push(`pmessageBuffer ${pat} ${c} ${hex(p)}`));
  redis.on("smessage", (c: string, p: string) => log.push(`smessage ${c} ${p}`));
  redis.on("smessageBuffer", (c: Buffer, p: Buffer) => log.push(`smessageBuffer ${c} ${hex(p)}`));
  return log;
}

Deno.test("readPushesAhead(): each message arrives once, through the read-ahead, emitted as ioredis emits it", async () => {
  await using server = await testServer();
  const said = new TextSink();
  const ahead = await Connection.open({ url: server.url, reporter: reporterInto(said) });
  const plain = await Connection.open({ url: server.url, reporter: reporterInto(said) }); // ioredis's decoder only
  const readAhead = readPushesAhead(ahead.redis);
  try {
    assert.equal(readAhead.active(), true);
    const [ours, theirs] = [messageLog(ahead.redis), messageLog(plain.redis)];
    const channel = `${server.prefix}ch`;
    const shard = `${server.prefix}sh`;
    assert.equal(subscribedNow(ahead.redis), false);
    for (const redis of [ahead.redis, plain.redis]) {
      await redis.subscribe(channel);
      await redis.psubscribe(`${server.prefix}p*`);
    }
    assert.equal(subscribedNow(ahead.redis), true);
    const sharded = await ahead.redis.ssubscribe(shard).then(() => true, (err) => { // KeyDB 6.3 has none
      if (noShardedPubSub(err)) return false;
      throw err;
    });
    if (sharded) await plain.redis.ssubscribe(shard);
    const binary = Buffer.from([0, 13, 10, 0x3e, 0x24, 255]);
    const rounds = 50;
    await withClient(server.url, async (pub) => {
      for (let i = 0; i < rounds; i++) {
        await pub.publish(channel, `m${i} ✓`);
        await pub.publish(`${server.prefix}p1`, binary);
        if (sharded) await pub.spublish(shard, i % 2 ? "" : `s${i}`);
      }
    });
    const messages = rounds * (sharded ? 3 : 2);
    await eventually(() => ours.length === 2 * messages && theirs.length === 2 * messages, "every message, twice");
    assert.deepEqual(ours, theirs);
    assert.equal(readAhead.taken(), messages); // none went through ioredis's decoder as well
    await ahead.redis.unsubscribe(channel);
    await ahead.redis.punsubscribe(`${server.prefix}p*`);
    if (sharded) await ahead.redis.sunsubscribe(shard);
    assert.equal(subscribedNow(ahead.redis), false);
  } finally {
    readAhead.stop();
    await ahead.close();
    await plain.close();
  }
});

Deno.test("readPushesAhead() gives the event loop back while a subscription floods: another connection's reply is not kept waiting", async () => {
  await using server = await testServer();
  const said = new TextSink();
  const ahead = await Connection.open({ url: server.url, reporter: reporterInto(said) });
  const other = await Connection.open({ url: server.url, reporter: reporterInto(said) });
  const readAhead = readPushesAhead(ahead.redis);
  const channel = `${server.prefix}flood`;
  const total = 600_000;
  let received = 0;
  ahead.redis.on("messageBuffer", () => received++);
  try {
    await ahead.redis.subscribe(channel);
    await using flood = new ScriptProcess("publisher.ts", [
      "--url",
      server.url,
      channel,
      "x",
      "--repeat",
      String(total),
      "-q",
    ]);
    await eventually(() => received >= 20_000, "the flood under way", 30_000);
    await other.redis.ping(); // the first PING on a connection is slower either way: not counted
    // Counted in messages, not milliseconds, so that a busy machine slows both alike: how many arrived while a PING
    // on a connection of its own waited for its answer. Read on without a break, the mean of 6 PINGs was 79,000 to
    // 86,000 in 4 runs; with a turn given back every 2 ms (up to 12 PINGs), 3,100 to 15,200; every 8 ms, 600 to 10,800.
    const waits: number[] = [];
    while (waits.length < 12 && received < total - 50_000) {
      const before = received;
      await other.redis.ping();
      waits.push(received - before);
    }
    assert.ok(waits.length >= 4, `the flood ended too soon to measure (${waits.length} PINGs)`);
    const mean = waits.reduce((a, b) => a + b, 0) / waits.length;
    assert.ok(mean < 40_000, `messages received while a PING waited: ${waits.join(", ")}`);
    assert.equal(await flood.exit(), 0, flood.err.text);
    await eventually(() => received === total, "every message");
  } finally {
    readAhead.stop();
    await ahead.close();
    await other.close();
  }
});

Deno.test("readPushesAhead() on a socket that lacks what it relies on reads nothing ahead: ioredis decodes every message", async () => {
  await using server = await testServer();
  const conn = await Connection.open({ url: server.url, reporter: reporterInto(new TextSink()) });
  try {
    // As a changed ioredis would have it: no `subscriber` in the connection's state when the read-ahead is set up.
    delete (conn.redis.condition as { subscriber?: unknown }).subscriber;
    const readAhead = readPushesAhead(conn.redis);
    assert.equal(readAhead.active(), false);
    const channel = `${server.prefix}ch`;
    let got = 0;
    conn.redis.on("messageBuffer", () => got++);
    await conn.redis.subscribe(channel);
    await withClient(server.url, async (pub) => {
      for (let i = 0; i < 20; i++) await pub.publish(channel, `m${i}`);
    });
    await eventually(() => got === 20, "every message");
    assert.equal(readAhead.taken(), 0);
    assert.equal(readAhead.unfinished(), undefined);
  } finally {
    await conn.close();
  }
});

Deno.test("a message listener that throws on the read-ahead: the connection is reported lost in words and comes back", async () => {
  await using server = await testServer();
  const said = new TextSink();
  const conn = await Connection.open({ url: server.url, reporter: reporterInto(said) });
  const readAhead = readPushesAhead(conn.redis);
  try {
    const channel = `${server.prefix}ch`;
    const got: string[] = [];
    conn.redis.on("messageBuffer", (_c: Buffer, p: Buffer) => {
      if (p.toString() === "boom") throw new Error("the listener broke");
      got.push(p.toString());
    });
    await conn.redis.subscribe(channel);
    await withClient(server.url, (pub) => pub.publish(channel, "boom"));
    await said.waitFor(
      /lost: a reply did not fit, and the client library failed on it \(ioredis \S+: the listener broke\)/,
    );
    await said.waitFor(/Reconnected to /); // after ioredis subscribed again (Connection's PING comes after it)
    await withClient(server.url, (pub) => pub.publish(channel, "after"));
    await eventually(() => got.length === 1, "the message after the reconnect");
    assert.deepEqual(got, ["after"]);
    assert.equal(readAhead.active(), true);
    assert.doesNotMatch(said.text, /Please report this|Uncaught/);
  } finally {
    readAhead.stop();
    await conn.close();
  }
});

Deno.test("watchIncoming() sees each piece before ioredis reads it; pauseReading() holds what comes until resumed", async () => {
  await using server = await testServer();
  const redis = new Redis(server.url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  const channel = `${server.prefix}ch`;
  let got = 0;
  const seenBefore: number[] = []; // how many messages ioredis had emitted when a piece with one came
  try {
    redis.on("messageBuffer", () => got++);
    redis.on("connect", () => {
      watchIncoming(redis, (chunk) => {
        if (Buffer.from(chunk).includes(`${channel}\r\n$5\r\nfirst`)) seenBefore.push(got);
      });
    });
    await redis.connect();
    assert.equal(socketConnected(redis), true);
    await redis.subscribe(channel);
    await withClient(server.url, (pub) => pub.publish(channel, "first"));
    await eventually(() => got === 1, "the first message");
    assert.deepEqual(seenBefore, [0]);

    const resume = pauseReading(redis);
    assert.ok(resume);
    await withClient(server.url, async (pub) => {
      for (let i = 0; i < 3; i++) await pub.publish(channel, `held ${i}`);
    });
    await delay(100); // a while for the bytes to come: none may be read while paused
    assert.equal(got, 1);
    resume();
    await eventually(() => got === 4, "the messages held back");
  } finally {
    await closeClient(redis);
  }
});

Deno.test("ioredisLostConnection() knows what ioredis fails a command with when its connection goes", async () => {
  await using server = await testServer();
  await using admin = testClient(server.url);
  const reporter = reporterInto(new TextSink());
  /** A BLPOP in flight on `conn` when the server closes its connection: what it fails with. */
  const cutOff = async (conn: Connection) => {
    const id = await conn.redis.client("ID");
    const pending = conn.redis.blpop(`${server.prefix}nothing`, 10).then(() => undefined, (err) => err);
    await eventually(async () => String(await admin.client("LIST", "ID", String(id))).includes("cmd=blpop"), "BLPOP");
    await admin.client("KILL", "ID", String(id));
    return await pending;
  };
  const once = await Connection.open({ url: server.url, reporter, reconnect: false });
  try {
    const err = await cutOff(once);
    assert.ok(ioredisLostConnection(err), String(err)); // Connection is closed.
    const after = await once.redis.ping().then(() => undefined, (e) => e);
    assert.ok(ioredisLostConnection(after), String(after));
  } finally {
    await once.close();
  }
  const again = await Connection.open({ url: server.url, reporter }); // reconnects, maxRetriesPerRequest 0
  try {
    const err = await cutOff(again);
    assert.ok(ioredisLostConnection(err), String(err)); // MaxRetriesPerRequestError
    assert.equal(ioredisLostConnection(new Error("NOPERM this user has no permissions")), false);
  } finally {
    await again.close();
  }
});

ownServerTest(
  "onIoredisWarning() hears the advice ioredis writes with console.warn; console.warn is back after",
  async () => {
    await using server = await testServer({ own: true }); // no password: ioredis advises dropping the one given
    const heard: string[] = [];
    const warn = console.warn;
    const stop = onIoredisWarning((line) => heard.push(line));
    const redis = new Redis(server.url.replace("redis://", "redis://:not-needed@"), {
      protocol: 2, // AUTH, whose refusal ioredis turns into advice (HELLO 3 takes any password of a user without one)
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
    });
    try {
      await redis.connect();
      assert.equal(await redis.ping(), "PONG");
    } finally {
      stop();
      await closeClient(redis);
    }
    assert.equal(console.warn, warn);
    assert.equal(heard.length, 1, heard.join("\n"));
    assert.match(heard[0]!, /^\[WARN\] .*does not require a password/);
  },
);
