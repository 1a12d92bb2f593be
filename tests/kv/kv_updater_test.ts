import assert from "node:assert/strict";
import { main as kvUpdater } from "../../scripts/kv_updater.ts";
import { Connection } from "../../lib/core/client.ts";
import { urlForDb } from "../../lib/core/config.ts";
import { ExitCode } from "../../lib/core/exit_codes.ts";
import { parseUpdate } from "../../lib/kv/message.ts";
import { KvWriter } from "../../lib/kv/writer.ts";
import { serverSink } from "../../lib/kv/server_sink.ts";
import { Logger } from "../../lib/core/log.ts";
import { type CapturedIo, captureIo, ownServerTest, testClient, testServer, withClient } from "../harness.ts";

/** Starts the updater in-process and waits until it listens. */
async function startUpdater(url: string, args: string[]): Promise<{ io: CapturedIo; done: Promise<number> }> {
  const io = captureIo();
  const done = kvUpdater(["--url", url, ...args], io);
  await Promise.race([io.err.waitFor(/Listening on channel/), done.then(() => assert.fail(io.err.text))]);
  return { io, done };
}

const update = (type: string, values: unknown, valid = "2023-10-01T12:05:32Z") =>
  JSON.stringify({ type, updated: "2023-10-01T12:00:00Z", valid, values });

Deno.test("kv_updater stores seed-format messages byte for byte in the seed's stored format", async () => {
  await using server = await testServer();
  const { io, done } = await startUpdater(server.url, [
    "--channel",
    `${server.prefix}t1:update`,
    "--prefix",
    `${server.prefix}t1:`,
    "--log-level",
    "debug",
  ]);
  const seed = '{"type": "key", "updated": "2023-10-01T12:00:00Z", "valid": "2023-10-01T12:05:32Z", ' +
    '"values": {"field1": "value1", "field2": "value2"}}';
  const rich = '{"type":"Rich","updated":"2023-10-01T12:00:00+02:00","valid":"2023-10-01T12:05:32.5Z",' +
    '"values":{"temp":21.0,"2":"b","name":"Zürich","nested":{"list":[1,2.5e-7,true,null]}},"extra":"dropped"}';
  const stored = await withClient(server.url, async (redis) => {
    await redis.publish(`${server.prefix}t1:update`, seed);
    await redis.publish(`${server.prefix}t1:update`, rich);
    await io.err.waitFor(new RegExp(`persisted "${server.prefix}t1:Rich"`));
    return await redis.mget(`${server.prefix}t1:key`, `${server.prefix}t1:Rich`);
  });
  io.stop();
  assert.equal(await done, ExitCode.Ok);
  assert.deepEqual(stored, [
    '{"updated": "2023-10-01T12:00:00Z", "valid": "2023-10-01T12:05:32Z", "values": {"field1": "value1", "field2": "value2"}}',
    '{"updated": "2023-10-01T12:00:00+02:00", "valid": "2023-10-01T12:05:32.5Z", "values": {"temp": 21.0, "2": "b", ' +
    '"name": "Z\\u00fcrich", "nested": {"list": [1, 2.5e-07, true, null]}}}',
  ]);
  assert.match(io.out.text, /Stopped\. received 2 · stored 2 · superseded 0 · rejected 0 · pending 0/);
});

Deno.test("kv_updater rejects each kind of bad message with its reason, writes nothing for them, and stores every valid one", async () => {
  await using server = await testServer();
  const [prefix, channel] = [`${server.prefix}kv:`, `${server.prefix}update`];
  const args = ["--prefix", prefix, "--channel", channel, "--max-bytes", "400", "--validate"];
  const { io, done } = await startUpdater(server.url, args);
  const bad = [
    "not json at all",
    '{"type": "Truncated", "updated":',
    "[1, 2, 3]",
    JSON.stringify({ type: "NoValues", updated: "2023-10-01T12:00:00Z", valid: "2023-10-01T12:05:32Z" }),
    update("", { a: 1 }),
    JSON.stringify({ type: ["x"], updated: "2023-10-01T12:00:00Z", valid: "2023-10-01T12:05:32Z", values: {} }),
    update("../../etc/passwd", { a: 1 }),
    update("*", { a: 1 }),
    update("has space", { a: 1 }),
    update("line\nbreak", { a: 1 }),
    update("x".repeat(200), {}),
    JSON.stringify({ type: "BadTime", updated: "yesterday", valid: "2023-10-01T12:05:32Z", values: {} }),
    update("BadValues", [1, 2]),
    update("TooBig", { blob: "x".repeat(500) }),
  ];
  const valid = Array.from({ length: bad.length }, (_, n) => update(`Good${n}`, { n }));
  const keys = await withClient(server.url, async (redis) => {
    const pipeline = redis.pipeline();
    bad.forEach((b, n) => pipeline.publish(channel, b).publish(channel, valid[n]!));
    await pipeline.exec();
    await io.err.waitFor(/Rejected message \(too_large\)/);
    io.stop();
    assert.equal(await done, ExitCode.Ok);
    return (await redis.keys(`${server.prefix}*`)).sort();
  });
  assert.deepEqual(keys, valid.map((_, n) => `${prefix}Good${n}`).sort());
  const out = io.out.text;
  assert.match(
    out,
    new RegExp(`received ${bad.length * 2} · stored ${valid.length} · superseded 0 · rejected ${bad.length} `),
  );
  assert.match(
    out,
    /\(invalid_json 2, not_an_object 1, missing_field 1, bad_type 2, unsafe_type 5, bad_time 1, bad_values 1, too_large 1\)/,
  );
  assert.match(out, new RegExp(`validation ${valid.length} ok, 0 mismatch`));
  // JSON decode failures are errors, other malformed messages warnings, each with the reason and an excerpt.
  assert.match(io.err.text, /ERROR Rejected message \(invalid_json\): .* — not json at all/);
  assert.match(
    io.err.text,
    /WARN {2}Rejected message \(unsafe_type\): "type" may only contain .* — \{"type":"\.\.\/\.\.\/etc\/passwd"/,
  );
  assert.match(io.err.text, /WARN {2}Rejected message \(unsafe_type\): .* — \{"type":"line\\nbreak"/);
  assert.match(io.err.text, /WARN {2}Rejected message \(too_large\): 602 bytes is more than --max-bytes 400/);
});

Deno.test("kv_updater under a burst: pipelined writes, the last message for each key wins", async () => {
  await using server = await testServer();
  const keys = 10;
  const total = 5000;
  const { io, done } = await startUpdater(server.url, [
    "--channel",
    `${server.prefix}t3:update`,
    "--prefix",
    `${server.prefix}t3:`,
    "--validate",
  ]);
  await withClient(server.url, async (redis) => {
    for (let start = 0; start < total; start += 1000) {
      const pipeline = redis.pipeline();
      for (let n = start; n < start + 1000; n++) {
        pipeline.publish(`${server.prefix}t3:update`, update(`K${n % keys}`, { seq: n }));
      }
      await pipeline.exec();
    }
  });
  io.stop();
  assert.equal(await done, ExitCode.Ok);
  const stored = await withClient(
    server.url,
    (redis) => redis.mget(...Array.from({ length: keys }, (_, k) => `${server.prefix}t3:K${k}`)),
  );
  stored.forEach((value, k) => assert.equal(JSON.parse(value!).values.seq, total - keys + k, `t3:K${k}`));
  const m = io.out.text.match(/received ([\d,]+) · stored ([\d,]+) · superseded ([\d,]+) · rejected 0/);
  assert.ok(m, io.out.text);
  const [received, written, superseded] = m.slice(1).map((s) => Number(s.replaceAll(",", "")));
  assert.equal(received, total);
  assert.equal(written! + superseded!, total);
  assert.match(io.out.text, new RegExp(`validation ${m[2]} ok, 0 mismatch`));
});

ownServerTest("kv_updater survives a server restart: reports the outage and keeps storing", async () => {
  await using server = await testServer({ own: true });
  const { io, done } = await startUpdater(server.url, ["--log-level", "debug", "--stats-interval", "0"]);
  await withClient(server.url, (redis) => redis.publish("update", update("Before", { n: 1 })));
  await io.err.waitFor(/persisted "Before"/);
  await server.local!.stop();
  await io.err.waitFor(/subscription: Connection to .* lost.*Updates published until it is back are lost/);
  await io.err.waitFor(/writes: Connection to .* lost.*No update was waiting to be written/);
  await server.local!.start();
  await io.err.waitFor(/subscription: Reconnected to .* after/, 20_000);
  const after = await withClient(server.url, async (redis) => {
    await redis.publish("update", update("After", { n: 2 }));
    await io.err.waitFor(/persisted "After"/);
    return await redis.get("After");
  });
  assert.equal(after, '{"updated": "2023-10-01T12:00:00Z", "valid": "2023-10-01T12:05:32Z", "values": {"n": 2}}');
  io.stop();
  assert.equal(await done, ExitCode.Ok);
  assert.match(io.out.text, /Connection lost 1 time\(s\), \d+\.\d s in all: updates published then were not/);
});

ownServerTest("KvWriter keeps updates received while the server is away and writes them when it is back", async () => {
  await using server = await testServer({ own: true });
  const log = new Logger(captureIo().stderr, "error");
  const conn = await Connection.open({ url: server.url, reporter: log.reporter(), offlineQueue: true });
  try {
    const writer = new KvWriter({
      sink: serverSink(conn.redis),
      prefix: "",
      validate: true,
      expireAtValid: false,
      log,
    });
    await server.local!.stop();
    for (let n = 0; n < 5; n++) {
      const parsed = parseUpdate(new TextEncoder().encode(update(`Offline${n % 3}`, { n })));
      assert.ok(parsed.ok);
      writer.add(parsed.update);
    }
    assert.equal(writer.pending, 3); // Offline0..2: the later updates for 0 and 1 replaced the earlier ones
    await server.local!.start();
    assert.equal(await writer.drain(20_000), 0);
    assert.deepEqual(writer.stats, {
      stored: 3,
      superseded: 2,
      verified: 3,
      mismatches: 0,
      expiredOnArrival: 0,
      serverErrors: 0,
      abandoned: 0,
    });
    const values = await conn.redis.mget("Offline0", "Offline1", "Offline2");
    assert.deepEqual(values.map((v) => JSON.parse(v!).values.n), [3, 4, 2]);
  } finally {
    await conn.close();
  }
});

Deno.test("kv_updater --expire-at-valid lets each key expire at its valid time", async () => {
  await using server = await testServer();
  const { io, done } = await startUpdater(server.url, [
    "--channel",
    `${server.prefix}t6:update`,
    "--prefix",
    `${server.prefix}t6:`,
    "--expire-at-valid",
    "--log-level",
    "debug",
  ]);
  const validAt = Date.now() + 60_000;
  const [pttl, stale] = await withClient(server.url, async (redis) => {
    await redis.publish(`${server.prefix}t6:update`, update("Soon", { a: 1 }, new Date(validAt).toISOString()));
    await redis.publish(`${server.prefix}t6:update`, update("Stale", { a: 1 }, "2000-01-01T00:00:00Z"));
    await io.err.waitFor(new RegExp(`persisted "${server.prefix}t6:Stale".*already expired`));
    return [await redis.pttl(`${server.prefix}t6:Soon`), await redis.exists(`${server.prefix}t6:Stale`)];
  });
  assert.ok(pttl > 50_000 && pttl <= 60_000, `PTTL ${pttl}`);
  assert.equal(stale, 0);
  io.stop();
  assert.equal(await done, ExitCode.Ok);
  assert.match(io.out.text, /already expired 1/);
});

Deno.test("kv_updater refuses bad options with a usage error and exit code 2", async () => {
  for (const args of [["--max-bytes", "lots"], ["--log-level", "verbose"], ["--prefix", "a b"]]) {
    const io = captureIo();
    assert.equal(await kvUpdater(args, io), ExitCode.Usage, args.join(" "));
    assert.match(io.err.text, /error: --(max-bytes|log-level|prefix)/);
  }
});

ownServerTest(
  "KvWriter gives up at the drain deadline when the server stays away, and counts what was not stored",
  async () => {
    await using server = await testServer({ own: true });
    const log = new Logger(captureIo().stderr, "error");
    const conn = await Connection.open({ url: server.url, reporter: log.reporter(), offlineQueue: true });
    const writer = new KvWriter({
      sink: serverSink(conn.redis),
      prefix: "",
      validate: false,
      expireAtValid: false,
      log,
    });
    try {
      await server.local!.stop();
      for (const type of ["Lost1", "Lost2"]) {
        const parsed = parseUpdate(new TextEncoder().encode(update(type, {})));
        assert.ok(parsed.ok);
        writer.add(parsed.update);
      }
      assert.equal(await writer.drain(300), 2);
    } finally {
      await conn.close();
    }
    assert.equal(writer.stats.stored, 0);
    assert.equal(writer.stats.abandoned, 2);
  },
);

ownServerTest(
  "KvWriter writes a batch of many updates, one of them large, as MSET chunks: each stored and read back",
  async () => {
    await using server = await testServer({ own: true });
    await using admin = testClient(server.url);
    const log = new Logger(captureIo().stderr, "error");
    const conn = await Connection.open({ url: server.url, reporter: log.reporter(), offlineQueue: true });
    try {
      const writer = new KvWriter({
        sink: serverSink(conn.redis),
        prefix: "many:",
        validate: true,
        expireAtValid: false,
        log,
      });
      // More than two chunks of 250, and a value past the chunk's byte budget in the middle.
      for (let n = 0; n < 600; n++) {
        const values = n === 300 ? { n, pad: "x".repeat(300 * 1024) } : { n };
        const parsed = parseUpdate(new TextEncoder().encode(update(`T${n}`, values)), 1 << 20);
        assert.ok(parsed.ok);
        writer.add(parsed.update);
      }
      assert.equal(await writer.drain(10_000), 0);
      assert.deepEqual([writer.stats.stored, writer.stats.verified, writer.stats.mismatches], [600, 600, 0]);
      const stored = await admin.mget("many:T0", "many:T299", "many:T300", "many:T301", "many:T599");
      assert.deepEqual(stored.map((v) => JSON.parse(v!).values.n), [0, 299, 300, 301, 599]);
    } finally {
      await conn.close();
    }
  },
);

ownServerTest("KvWriter writes each update with its own SET where the server refuses MSET (an ACL)", async () => {
  await using server = await testServer({ own: true });
  await using admin = testClient(server.url);
  await admin.call("ACL", "SETUSER", "setonly", "on", ">pw", "~*", "+@all", "-mset");
  const url = `redis://setonly:pw@127.0.0.1:${new URL(server.url).port}`;
  // With --validate through ioredis (MSET and MGET); without, MSET through the sink's lane (which logs in as setonly).
  for (const validate of [true, false]) {
    const io = captureIo();
    const log = new Logger(io.stderr, "debug");
    const conn = await Connection.open({ url, reporter: log.reporter(), offlineQueue: true });
    const prefix = `acl${validate ? "v" : ""}:`;
    try {
      const writer = new KvWriter({ sink: serverSink(conn.redis), prefix, validate, expireAtValid: false, log });
      for (const type of ["A", "B", "C"]) {
        const parsed = parseUpdate(new TextEncoder().encode(update(type, { type })));
        assert.ok(parsed.ok);
        writer.add(parsed.update);
      }
      assert.equal(await writer.drain(10_000), 0);
      await writer.close();
      assert.equal(writer.stats.stored, 3);
      assert.equal(writer.stats.verified, validate ? 3 : 0);
      assert.equal(writer.stats.serverErrors, 0);
      assert.match(io.err.text, /MSET refused .*each update is written with its own SET/);
      const values = await admin.mget(`${prefix}A`, `${prefix}B`, `${prefix}C`);
      assert.deepEqual(values.map((v) => JSON.parse(v!).values.type), ["A", "B", "C"]);
    } finally {
      await conn.close();
    }
  }
});

Deno.test("KvWriter's MSET lane writes to the URL's database", async () => {
  await using server = await testServer();
  await using admin = testClient(server.url);
  const log = new Logger(captureIo().stderr, "error");
  const conn = await Connection.open({ url: urlForDb(server.url, 3), reporter: log.reporter(), offlineQueue: true });
  const key = `${server.prefix}db3:`;
  try {
    const writer = new KvWriter({
      sink: serverSink(conn.redis),
      prefix: key,
      validate: false,
      expireAtValid: false,
      log,
    });
    const parsed = parseUpdate(new TextEncoder().encode(update("T", { n: 1 })));
    assert.ok(parsed.ok);
    writer.add(parsed.update);
    assert.equal(await writer.drain(10_000), 0);
    await writer.close();
    assert.equal(writer.stats.stored, 1);
    assert.equal(await admin.exists(`${key}T`), 0); // not in database 0
    assert.equal(JSON.parse((await conn.redis.get(`${key}T`))!).values.n, 1);
    await conn.redis.del(`${key}T`);
  } finally {
    await conn.close();
  }
});

ownServerTest("KvWriter's MSET lane: a lost lane connection is opened again and its batch written again", async () => {
  await using server = await testServer({ own: true });
  await using admin = testClient(server.url);
  const io = captureIo();
  const log = new Logger(io.stderr, "error");
  const conn = await Connection.open({ url: server.url, reporter: log.reporter(), offlineQueue: true });
  let stored = 0;
  const { promise: firstStored, resolve } = Promise.withResolvers<void>();
  const writer = new KvWriter({
    sink: serverSink(conn.redis),
    prefix: "lane:",
    validate: false,
    expireAtValid: false,
    log,
    onStored: (keys) => (stored += keys.length) === 600 && resolve(),
  });
  const add = (from: number, to: number) => {
    for (let n = from; n < to; n++) {
      const parsed = parseUpdate(new TextEncoder().encode(update(`T${n}`, { n })));
      assert.ok(parsed.ok);
      writer.add(parsed.update);
    }
  };
  try {
    add(0, 600);
    await firstStored;
    // Every connection but the admin's and the ioredis client's is the lane: killed; the next batch opens it again.
    const keep = [String(await admin.client("ID")), String(await conn.redis.client("ID"))];
    const ids = String(await admin.client("LIST")).split("\n").map((l) => /^id=(\d+)/.exec(l)?.[1]).filter(Boolean);
    const lane = ids.filter((id) => !keep.includes(id!));
    assert.equal(lane.length, 1);
    await admin.client("KILL", "ID", lane[0]!);
    add(600, 700);
    assert.equal(await writer.drain(10_000), 0);
    await writer.close();
    assert.deepEqual([writer.stats.stored, writer.stats.serverErrors], [700, 0]);
    const values = await admin.mget("lane:T0", "lane:T599", "lane:T600", "lane:T699");
    assert.deepEqual(values.map((v) => JSON.parse(v!).values.n), [0, 599, 600, 699]);
    assert.equal(io.err.text, "");
  } finally {
    await conn.close();
  }
});

ownServerTest("kv_updater logs a server that refuses a write as an ERROR, counts it, and keeps going", async () => {
  // maxmemory 1 byte with nothing to evict: every SET is refused with OOM.
  await using server = await testServer({ own: true, args: ["--maxmemory", "1", "--maxmemory-policy", "noeviction"] });
  const { io, done } = await startUpdater(server.url, ["--stats-interval", "0"]);
  await withClient(server.url, async (redis) => {
    await redis.publish("update", update("Refused", { a: 1 }));
    await io.err.waitFor(/ERROR Server error writing "Refused": OOM .* — this update is not stored/);
    await redis.publish("update", update("Refused2", { a: 2 }));
    await io.err.waitFor(/ERROR Server error writing "Refused2"/);
  });
  io.stop();
  assert.equal(await done, ExitCode.Ok);
  assert.match(io.out.text, /received 2 · stored 0 · .* · server errors 2 · pending 0/);
});
