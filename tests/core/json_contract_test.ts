/**
 * One NDJSON contract for every script: each script runs with `--json` and
 * every line it writes is held to README's "`--json` output" table and to the
 * envelope's rules (lib/core/json_event.ts), and so is every line of the
 * streams modes (`--durable`, `--stream`) to the table after it, whose rows are
 * keyed by script and mode. The tables are read from README's page itself (docs/reference/json.md), so the manual and this check cannot disagree silently: an event or
 * field the table does not list fails here, and so does a row of the table
 * that no script produced. The events the processors publish (not print),
 * `processor_stats`, are held alike to README's table of them.
 *
 * @module
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { ExitCode } from "../../lib/core/exit_codes.ts";
import { PAYLOAD_FIELD } from "../../lib/streams/entry.ts";
import { ENVELOPE_FIELDS } from "../../lib/events/envelope.ts";
import { processorStatsProblems } from "../../lib/events/processor_stats.ts";
import { EventPublisher } from "../../lib/events/publisher.ts";
import {
  type CapturedIo,
  captureIo,
  channelMessages,
  eventually,
  ownServerTest,
  runMain,
  ScriptProcess,
  testClient,
  testServer,
} from "../harness.ts";
import { CONTRACT, hold, rowKey, SEEN, valueProblems } from "../json_contract.ts";

type Main = (args: string[], io: CapturedIo) => Promise<number>;

const SCRIPTS_DIR = new URL("../../scripts/", import.meta.url);
const README = new URL("../../docs/reference/json.md", import.meta.url);

/** README's table of the published events (`| published by | channel | event_type | fields |`), by event_type. */
function readPublished(): Map<string, { channel: string; required: string[]; optional: string[] }> {
  const lines = Deno.readTextFileSync(README).split("\n");
  const at = lines.findIndex((l) => /^\|\s*published by\s*\|\s*channel\s*\|\s*event_type\s*\|\s*fields\s*\|$/.test(l));
  assert.ok(at >= 0, "README has a table headed | published by | channel | event_type | fields |");
  const after = lines.slice(at + 2);
  const rows = after.slice(0, Math.max(0, after.findIndex((l) => !l.startsWith("|"))));
  return new Map(rows.map((line) => {
    const [, channel, type] = line.split("|").slice(1, -1).map((c) => c.trim().replaceAll("`", ""));
    const names = [...line.split("|")[4]!.matchAll(/`([a-z][a-z0-9_]*)(\?)?`/g)];
    return [type!, {
      channel: channel!,
      required: names.filter((m) => !m[2]).map((m) => m[1]!),
      optional: names.filter((m) => m[2]).map((m) => m[1]!),
    }];
  }));
}

const PUBLISHED = readPublished();
/** The published events' fields seen, optional ones included: each listed field must turn up. */
const PUBLISHED_SEEN = new Set<string>();

/** Holds each published payload to README's table of published events, to the envelope's rules and to its schema. */
function holdPublished(channel: string, payloads: string[]): void {
  assert.ok(payloads.length > 0, `nothing was published on ${channel}`);
  const problems: string[] = [];
  for (const payload of payloads) {
    const event = JSON.parse(payload) as Record<string, unknown>;
    const row = PUBLISHED.get(String(event.event_type));
    const at = `${channel} ${String(event.event_type)}`;
    if (!row || row.channel !== channel) {
      problems.push(`${at}: README's table of published events has no such event on this channel`);
      continue;
    }
    problems.push(...processorStatsProblems(event).map((p) => `${at}: schema: ${p}`));
    const listed = new Set<string>([...ENVELOPE_FIELDS, ...row.required, ...row.optional]);
    for (const [key, value] of Object.entries(event)) {
      if (!listed.has(key)) problems.push(`${at}: field "${key}" is not in README's table`);
      else PUBLISHED_SEEN.add(`${event.event_type} ${key}`);
      problems.push(...valueProblems(key, value, `${at}.${key}`));
    }
    for (const key of row.required) if (!(key in event)) problems.push(`${at}: field "${key}" is missing`);
  }
  assert.deepEqual(problems, [], `what was published on ${channel} breaks README's table:\n${problems.join("\n")}`);
}

async function mainOf(script: string): Promise<Main> {
  return (await import(new URL(script, SCRIPTS_DIR).href) as { main: Main }).main;
}

Deno.test("README's --json table lists every script once per event, with fields", () => {
  const scripts = [...Deno.readDirSync(SCRIPTS_DIR)].filter((e) => e.isFile && e.name.endsWith(".ts")).map((e) =>
    e.name
  );
  assert.deepEqual([...new Set(CONTRACT.map((r) => r.file))].sort(), scripts.sort());
  const keys = CONTRACT.map((r) => rowKey(r.script, r.stream, r.event));
  assert.equal(new Set(keys).size, keys.length, "a row appears twice");
  for (const r of CONTRACT) {
    assert.ok(r.stream === null || r.stream === "stdout" || r.stream === "stderr", `${r.script}: stream ${r.stream}`);
    for (const field of [...r.required, ...r.optional]) {
      assert.ok(field !== "event" && field !== "time", `${r.script} ${r.event}: event and time are the envelope's`);
    }
  }
});

ownServerTest("every script's --json output follows README's table and the envelope's rules", async (t) => {
  await using server = await testServer({ own: true, notifications: "KEA" });
  const url = server.url;
  await using redis = testClient(url);

  await t.step("subscriber.ts and publisher.ts", async () => {
    await using sub = runMain(await mainOf("subscriber.ts"), [
      "--url",
      url,
      "jc:news",
      "-p",
      "jc:alerts:*",
      "--count",
      "102",
      "--json",
    ]);
    await sub.io.out.waitFor(/"event":"psubscribe"/);
    await redis.publish("jc:news", Buffer.from([0xff, 0x41]));
    await redis.publish("jc:alerts:cpu", "hot");
    // 100 messages a millisecond apart: enough for a rate, over a time that is not zero.
    const pub = captureIo();
    const publisher = await mainOf("publisher.ts");
    const args = ["--url", url, "jc:news", "tick {{n}}", "--repeat", "100", "--rate", "1000", "--json"];
    assert.equal(await publisher(args, pub), ExitCode.Ok);
    assert.equal(await sub.exit, ExitCode.Ok);
    hold("subscriber.ts", sub.io);
    hold("publisher.ts", pub);
    assert.ok(sub.io.out.text.includes('"rate_per_second"'), "102 messages give the subscriber a rate");
    assert.ok(pub.out.text.includes('"rate_per_second"'), "100 messages give the publisher a rate");
    const single = captureIo();
    assert.equal(await publisher(["--url", url, "jc:nobody", "hello", "--json"], single), ExitCode.Ok);
    hold("publisher.ts", single);
    assert.ok(!single.out.text.includes('"rate_per_second"'), "one message gives no rate");
  });

  await t.step("subscriber.ts -s (sharded pub/sub, where the server has it)", async () => {
    const [command] = await redis.command("INFO", "SSUBSCRIBE") as unknown[];
    if (!Array.isArray(command)) {
      // KeyDB has no sharded pub/sub: these rows are produced on Redis and Valkey, and on a cluster by
      // tests/cluster/json_contract_test.ts.
      for (const event of ["ssubscribe", "smessage"]) SEEN.add(rowKey("subscriber.ts", "stdout", event));
      return;
    }
    await using sub = runMain(await mainOf("subscriber.ts"), [
      "--url",
      url,
      "-s",
      "jc:orders",
      "--count",
      "1",
      "--json",
    ]);
    await sub.io.out.waitFor(/"event":"ssubscribe"/);
    await redis.spublish("jc:orders", "paid");
    assert.equal(await sub.exit, ExitCode.Ok);
    hold("subscriber.ts", sub.io);
  });

  await t.step("keyspace_listener.ts and keyspace_writer.ts", async () => {
    await using listener = runMain(await mainOf("keyspace_listener.ts"), ["--url", url, "--count", "2", "--json"]);
    await listener.io.err.waitFor(/Listening on /);
    const writer = await mainOf("keyspace_writer.ts");
    const wio = captureIo();
    assert.equal(await writer(["--url", url, "--count", "2", "--interval", "0", "--json"], wio), ExitCode.Ok);
    assert.equal(await listener.exit, ExitCode.Ok);
    hold("keyspace_listener.ts", listener.io);
    hold("keyspace_writer.ts", wio);
    // Nobody answers on these keys: a round that times out.
    const lonely = captureIo();
    const args = ["--url", url, "--key", "jc:k", "--handshake-key", "jc:hs", "--count", "1", "--timeout", "100ms"];
    assert.equal(await writer([...args, "--json"], lonely), ExitCode.Timeout);
    hold("keyspace_writer.ts", lonely);
    assert.match(lonely.out.text, /"outcome":"timeout"/);
  });

  await t.step("kv_updater.ts", async () => {
    const args = ["--url", url, "--channel", "jc:update", "--prefix", "jc:", "--stats-interval", "100ms", "--json"];
    await using updater = runMain(await mainOf("kv_updater.ts"), args);
    await updater.io.err.waitFor(/Listening on channel/);
    const update = { type: "Weather", updated: "2025-06-01T12:00:00Z", valid: "2025-06-01T12:15:00Z", values: {} };
    await redis.publish("jc:update", JSON.stringify(update));
    await redis.publish("jc:update", '{"type": "Weather", "updated":');
    await updater.io.err.waitFor(/"event":"stats".*"received":2/);
    updater.io.stop();
    assert.equal(await updater.exit, ExitCode.Ok);
    hold("kv_updater.ts", updater.io);
    assert.match(updater.io.err.text, /"event":"log".*"reason":"invalid_json"/);
  });

  await t.step("api_server.ts", async () => {
    const args = ["--url", url, "--port", "0", "--channel", "jc:update", "--prefix", "jc:", "--log-level", "debug"];
    await using api = runMain(await mainOf("api_server.ts"), [...args, "--json"]);
    const [, port] = await api.io.err.waitFor(/listening on http:\/\/127\.0\.0\.1:(\d+)\//);
    await (await fetch(`http://127.0.0.1:${port}/health`)).body?.cancel();
    api.io.stop();
    assert.equal(await api.exit, ExitCode.Ok);
    hold("api_server.ts", api.io);
  });

  await t.step("event_processor.ts and demo_events.ts", async () => {
    await using stats = await channelMessages(url, "processor_stats");
    const args = ["--url", url, "--stats-interval", "100ms", "--json"];
    await using processor = runMain(await mainOf("event_processor.ts"), args);
    await processor.io.out.waitFor(/"channel":"profile_events"/);
    const demo = captureIo();
    assert.equal(await (await mainOf("demo_events.ts"))(["--url", url, "--json"], demo), ExitCode.Ok);
    await processor.io.out.waitFor(/("event":"processed"[\s\S]*){2}"event":"stats"/);
    processor.io.stop();
    assert.equal(await processor.exit, ExitCode.Ok);
    hold("event_processor.ts", processor.io);
    hold("demo_events.ts", demo);
    await eventually(() => stats.payloads.some((p) => p.includes('"state":"stopped"')), "the last statistics");
    holdPublished("processor_stats", stats.payloads);
  });

  await t.step(
    "event_processor.ts --durable, demo_events.ts --durable (with --count) and publisher.ts --stream",
    async () => {
      await using stats = await channelMessages(url, "processor_stats");
      const args = ["--url", url, "--durable", "--consumer", "jc", "--stats-interval", "100ms", "--json"];
      await using processor = runMain(await mainOf("event_processor.ts"), args);
      await processor.io.err.waitFor(/Press Ctrl\+C to stop/);
      const demoEvents = await mainOf("demo_events.ts");
      const demo = captureIo();
      assert.equal(await demoEvents(["--url", url, "--durable", "--json"], demo), ExitCode.Ok);
      const many = captureIo();
      assert.equal(await demoEvents(["--url", url, "--durable", "--count", "3", "--json"], many), ExitCode.Ok);
      // Not an event: the processor moves it to key_submission:dead at once.
      const pub = captureIo();
      const pubArgs = ["--url", url, "--stream", "key_submission", "not json", "--json"];
      assert.equal(await (await mainOf("publisher.ts"))(pubArgs, pub), ExitCode.Ok);
      // With --retry the summary says what was sent again, found and restored.
      const retried = captureIo();
      const retryArgs = ["--url", url, "--stream", "jc:retried", "{{n}}", "--repeat", "2", "--retry", "5s", "--json"];
      assert.equal(await (await mainOf("publisher.ts"))(retryArgs, retried), ExitCode.Ok);
      assert.match(retried.out.text, /"sent_again":0,"found_appended":0,"restored":0/);
      await processor.io.out.waitFor(/"event":"dead_letter"[\s\S]*"event":"stats"/);
      processor.io.stop();
      assert.equal(await processor.exit, ExitCode.Ok);
      hold("event_processor.ts --durable", processor.io);
      hold("demo_events.ts --durable", demo);
      hold("demo_events.ts --durable --count", many);
      hold("publisher.ts --stream", pub);
      hold("publisher.ts --stream", retried);
      await eventually(() => stats.payloads.some((p) => p.includes('"state":"stopped"')), "the last statistics");
      holdPublished("processor_stats", stats.payloads);
    },
  );

  await t.step("kv_updater.ts --stream, then stream_tail.ts on its stream", async () => {
    const args = ["--url", url, "--stream", "jc:updates", "--prefix", "jc:s:", "--stats-interval", "100ms", "--json"];
    await using updater = runMain(await mainOf("kv_updater.ts"), args);
    await updater.io.err.waitFor(/Consuming stream/);
    const update = { type: "Weather", updated: "2025-06-01T12:00:00Z", valid: "2025-06-01T12:15:00Z", values: {} };
    await redis.xadd("jc:updates", "*", PAYLOAD_FIELD, JSON.stringify(update));
    await redis.xadd("jc:updates", "*", PAYLOAD_FIELD, '{"type": "Weather", "updated":');
    await updater.io.err.waitFor(/"event":"stats".*"received":2/);
    updater.io.stop();
    assert.equal(await updater.exit, ExitCode.Ok);
    hold("kv_updater.ts --stream", updater.io);
    assert.match(updater.io.err.text, /"event":"log".*"reason":"invalid_json","entry_id":"\d+-\d+"/);
    const tail = await mainOf("stream_tail.ts");
    const entries = captureIo();
    assert.equal(await tail(["--url", url, "jc:updates", "--json"], entries), ExitCode.Ok);
    hold("stream_tail.ts", entries);
    const groups = captureIo();
    assert.equal(await tail(["--url", url, "jc:updates", "--groups", "--json"], groups), ExitCode.Ok);
    hold("stream_tail.ts", groups);
  });

  await t.step("check.ts, and dead_letters.ts list, show and redrive", async () => {
    const checked = captureIo();
    const check = await mainOf("check.ts");
    assert.equal(await check(["--url", url, "--canary", "--notifications", "--json"], checked), 0, checked.err.text);
    hold("check.ts", checked);
    const withPayload = await redis.xadd("jc:orders:dead", "*", PAYLOAD_FIELD, "{}", "reason", "boom", "attempts", "5");
    await redis.xadd("jc:orders:dead", "*", "reason", "no payload at all");
    const dead = await mainOf("dead_letters.ts");
    for (
      const args of [
        ["list", "jc:orders"],
        ["redrive", "jc:orders", "--all", "--dry-run"],
        ["redrive", "jc:orders", withPayload!],
        ["redrive", "jc:orders", withPayload!],
        ["show", "jc:orders", withPayload!],
      ]
    ) {
      const io = captureIo();
      assert.equal(await dead([...args, "--url", url, "--json"], io), ExitCode.Ok, io.err.text);
      hold("dead_letters.ts", io);
    }
  });

  await t.step("bench.ts", async () => {
    const io = captureIo();
    const args = ["--url", url, "--pub", "2", "--sub", "2", "--msgs", "300", "--json"];
    assert.equal(await (await mainOf("bench.ts"))(args, io), ExitCode.Ok);
    hold("bench.ts", io);
  });

  await t.step("ping.ts, connected and not", async () => {
    const ping = await mainOf("ping.ts");
    const io = captureIo();
    assert.equal(await ping(["--url", url, "--json"], io), ExitCode.Ok);
    hold("ping.ts", io);
    const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (closed.addr as Deno.NetAddr).port;
    closed.close();
    const refused = captureIo();
    assert.equal(await ping(["--url", `redis://127.0.0.1:${port}`, "--json"], refused), ExitCode.Connect);
    hold("ping.ts", refused);
  });

  await t.step("scripts without --json refuse it", async () => {
    for (const row of CONTRACT.filter((r) => r.event === null)) {
      const io = captureIo();
      assert.equal(await (await mainOf(row.file))(["--json"], io), ExitCode.Usage, row.script);
      assert.equal(io.out.text, "");
      assert.match(io.err.text, /--json/);
      SEEN.add(rowKey(row.script, null, null));
    }
  });

  await t.step("recovery: publisher.ts --history, subscriber.ts --recover, history_tee.ts, --reconcile", async () => {
    await using sub = new ScriptProcess("subscriber.ts", ["--url", url, "jc:rec", "--recover", "--json"]);
    await sub.err.waitFor(/Listening on/);
    const publisher = await mainOf("publisher.ts");
    const history = ["--url", url, "--history", "3", "jc:rec", "m {{n}}", "--json", "--repeat"];
    const pub = captureIo();
    assert.equal(await publisher([...history, "2"], pub), ExitCode.Ok);
    hold("publisher.ts --history", pub);
    await sub.out.waitFor(/"payload":"m 2"/);
    Deno.kill(sub.pid, "SIGSTOP");
    try {
      await redis.call("CLIENT", "KILL", "TYPE", "pubsub");
      assert.equal(await publisher([...history, "6"], captureIo()), ExitCode.Ok); // offsets 3-8: 3-5 trimmed
    } finally {
      Deno.kill(sub.pid, "SIGCONT");
    }
    await sub.out.waitFor(/"payload":"m 6","offset":8,"recovered":true/);
    sub.kill("SIGINT");
    assert.equal(await sub.exit(), ExitCode.Ok);
    hold("subscriber.ts --recover", sub);
    assert.match(sub.out.text, /"event":"lost".*"count":3,"reason":"older than the history"/);

    await using tee = runMain(await mainOf("history_tee.ts"), ["--url", url, "jc:plain", "--history", "5", "--json"]);
    await tee.io.err.waitFor(/Recording/);
    await redis.publish("jc:plain", "hi");
    await tee.io.out.waitFor(/"event":"recorded"/);
    tee.io.stop();
    assert.equal(await tee.exit, ExitCode.Ok);
    hold("history_tee.ts", tee.io);

    const state = await Deno.makeTempFile({ suffix: ".json" });
    try {
      const listen = ["--url", url, "--key", "jc:r:*", "--event", "all", "--no-handshake", "--json", "--reconcile"];
      await redis.set("jc:r:1", "a");
      const first = runMain(await mainOf("keyspace_listener.ts"), [...listen, "--reconcile-state", state]);
      await first.io.err.waitFor(/Took note of 1 watched key/);
      first.io.stop();
      assert.equal(await first.exit, ExitCode.Ok);
      await redis.set("jc:r:1", "b");
      await using second = runMain(await mainOf("keyspace_listener.ts"), [...listen, "--reconcile-state", state]);
      await second.io.out.waitFor(/"event":"missed_change"/);
      second.io.stop();
      assert.equal(await second.exit, ExitCode.Ok);
      hold("keyspace_listener.ts --reconcile", second.io);
    } finally {
      await Deno.remove(state);
    }
  });

  await t.step("recovery: demo_events.ts --history, event_processor.ts --recover", async () => {
    const args = ["--url", url, "--recover", "--json", "--publish-stats", "0", "--stats-interval", "0"];
    await using proc = new ScriptProcess("event_processor.ts", args);
    await proc.err.waitFor(/Processing events on/);
    const demo = captureIo();
    const history = ["--url", url, "--history", "3", "--json"];
    assert.equal(await (await mainOf("demo_events.ts"))(history, demo), ExitCode.Ok);
    hold("demo_events.ts --history", demo);
    await proc.out.waitFor(/("event":"processed".*"offset":1[,}][\s\S]*){2}/);
    Deno.kill(proc.pid, "SIGSTOP");
    try {
      await redis.call("CLIENT", "KILL", "TYPE", "pubsub");
      const publisher = new EventPublisher(redis, { history: { kind: "size", size: 3 } });
      for (let id = 1; id <= 6; id++) await publisher.profileUpdated(id, {}); // offsets 2-7: 2-4 trimmed
    } finally {
      Deno.kill(proc.pid, "SIGCONT");
    }
    await proc.out.waitFor(/"offset":7,"recovered":true/);
    proc.kill("SIGINT");
    assert.equal(await proc.exit(), ExitCode.Ok, proc.err.text);
    hold("event_processor.ts --recover", proc);
    assert.match(proc.out.text, /"event":"lost".*"count":3,"reason":"older than the history"/);
    assert.match(proc.out.text, /"event":"summary".*"recovered":3,"lost":3/);
  });

  await t.step("every row of README's table was produced", () => {
    // The cluster modes' rows are produced on a cluster, by tests/cluster/json_contract_test.ts.
    const missing = CONTRACT.filter((r) => !r.script.includes("--cluster")).map((r) =>
      rowKey(r.script, r.stream, r.event)
    )
      .filter((k) => !SEEN.has(k));
    assert.deepEqual(missing, [], "README lists events no script wrote here");
    const unpublished = [...PUBLISHED].flatMap(([type, r]) => [...r.required, ...r.optional].map((f) => `${type} ${f}`))
      .filter((k) => !PUBLISHED_SEEN.has(k));
    assert.deepEqual(unpublished, [], "README lists published fields no processor sent here");
  });
});
