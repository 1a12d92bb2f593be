/**
 * Slow consumers: a long-running script that falls behind is dropped by the
 * server (client-output-buffer-limit pubsub). It must say so, reconnect,
 * resubscribe and carry on, and its summary must count the drop — whether it
 * stopped reading for a while or was only outpaced, and on servers that do
 * not count such drops (Redis 7.0, KeyDB) as on those that do.
 */
import assert from "node:assert/strict";
import type { Redis } from "ioredis";
import { delay } from "../../lib/core/timing.ts";
import {
  blastUntilDropped,
  eventually,
  floodUntilDropped,
  ownServerTest,
  publishUntilSeen,
  pubsubClients,
  ScriptProcess,
  testClient,
  testServer,
  TextSink,
} from "../harness.ts";

/** A tiny limit on a private server: 64 KB at once, or 32 KB for a second. */
const TINY_LIMIT = "pubsub 64kb 32kb 1";
/** How long the consumer stays stopped. */
const STALL_MS = 2500;
const DROPPED = /dropped this subscriber because it fell behind \(pubsub output buffer over its limit/;

const padding = "x".repeat(1000);
const update = (type: string, n: number) =>
  JSON.stringify({ type, updated: "2023-10-01T12:00:00Z", valid: "2099-01-01T00:00:00Z", values: { n, padding } });
const profileEvent = (id: string) =>
  JSON.stringify({
    event_type: "profile_updated",
    timestamp: new Date().toISOString(),
    profile_id: id,
    changes: { padding },
  });

interface Case {
  script: string;
  args: string[];
  ready: RegExp;
  flood: (p: ReturnType<Redis["pipeline"]>, n: number) => void;
  marker: (redis: Redis) => Promise<unknown>;
  /** Resolves once the script has handled the marker. */
  handled: (p: ScriptProcess, redis: Redis) => Promise<unknown>;
  summary: RegExp;
}

const CASES: Case[] = [
  {
    script: "subscriber.ts",
    args: ["slow"],
    ready: /Listening on /,
    flood: (p, n) => p.publish("slow", `${n} ${padding}`),
    marker: (redis) => redis.publish("slow", "marker-after-drop"),
    handled: (p) => p.out.waitFor(/marker-after-drop/, 15_000),
    summary: /Received [\d,]+ message/,
  },
  {
    script: "kv_updater.ts",
    args: ["--stats-interval", "0"],
    ready: /Listening on channel "update"/,
    flood: (p, n) => p.publish("update", update("Flood", n)),
    marker: (redis) => redis.publish("update", update("Marker", 1)),
    handled: (_, redis) =>
      eventually(async () => (await redis.exists("Marker")) === 1, "the marker to be stored", 15_000),
    summary: /Stopped\. /,
  },
  {
    script: "event_processor.ts",
    args: ["--stats-interval", "0"],
    ready: /Processing events on /,
    flood: (p, n) => p.publish("profile_events", profileEvent(`flood-${n}`)),
    marker: (redis) => redis.publish("profile_events", profileEvent("marker-after-drop")),
    handled: (p) => p.out.waitFor(/profile marker-after-drop/, 15_000),
    summary: /Processed [\d,]+ event/,
  },
  {
    script: "api_server.ts",
    args: ["--port", "0", "--log-level", "debug", "--max-bytes", "2kb"],
    ready: /API server listening on /,
    flood: (p, n) => p.publish("update", update("Flood", n)),
    // Too large on purpose: the debug line saying it was ignored shows it was received.
    marker: (redis) => redis.publish("update", update("Marker", 1) + " ".repeat(3000)),
    handled: (p) => p.err.waitFor(/Ignored a message kv_updater rejects too \(too_large\)/, 15_000),
    summary: /Stopped\. /,
  },
  {
    script: "keyspace_listener.ts",
    args: ["--no-handshake"],
    ready: /Listening on /,
    flood: (p, n) => p.set("shared_key", `flood ${n}`),
    marker: (redis) => redis.set("shared_key", "marker-after-drop"),
    handled: (p) => p.out.waitFor(/marker-after-drop/, 15_000),
    summary: /Handled [\d,]+ event/,
  },
];

for (const c of CASES) {
  ownServerTest(
    `${c.script} dropped for falling behind says why, reconnects, resubscribes and carries on`,
    async () => {
      await using server = await testServer({ own: true });
      await using redis = testClient(server.url);
      await redis.config("SET", "client-output-buffer-limit", TINY_LIMIT);
      await using p = new ScriptProcess(c.script, ["--url", server.url, ...c.args]);
      await p.err.waitFor(c.ready, 20_000);
      p.kill("SIGSTOP"); // a consumer that stops reading for a few seconds (Ctrl+Z, a stalled pipe)
      const stoppedAt = Date.now();
      try {
        await floodUntilDropped(redis, c.flood);
        await delay(STALL_MS - (Date.now() - stoppedAt)); // the stall itself, not a wait for an event
      } finally {
        p.kill("SIGCONT");
      }
      await p.err.waitFor(DROPPED, 15_000);
      await p.err.waitFor(/Reconnected to /, 15_000);
      await publishUntilSeen(() => c.marker(redis), c.handled(p, redis));
      p.kill("SIGINT");
      assert.equal(await p.exit(), 0, p.err.text);
      assert.doesNotMatch(p.err.text, /Uncaught|\n\s+at /);
      if (Deno.env.get("SHOW")) console.log(p.err.text, p.out.text.split("\n").slice(-6).join("\n"));
      assert.match(p.out.text, c.summary);
      assert.match(p.out.text, /1 time\(s\): the server dropped this subscriber because it fell behind/);
    },
  );
}

/** A script flooded faster than it reads while it runs: nothing stops it, it is only outpaced. */
interface Outpaced {
  script: string;
  args: string[];
  ready: RegExp;
  channel: string;
  payload: string;
  /** Checks the summary on stdout: the drop counted. */
  counted: (out: string) => void;
}

/** The `fell_behind` of the `--json` summary on stdout. */
const jsonFellBehind = (out: string) => {
  const summary = out.split("\n").filter((l) => l.includes('"event":"summary"')).at(-1);
  assert.ok(summary, out.slice(-2000));
  assert.equal(JSON.parse(summary).fell_behind, 1, summary);
};
const textFellBehind = (out: string) =>
  assert.match(out, /1 time\(s\): the server dropped this subscriber because it fell behind/);

const OUTPACED: Outpaced[] = [
  {
    script: "subscriber.ts",
    args: ["slow", "--quiet"],
    ready: /Listening on /,
    channel: "slow",
    payload: padding,
    counted: textFellBehind,
  },
  {
    script: "kv_updater.ts",
    args: ["--stats-interval", "0", "--json"],
    ready: /Listening on channel/,
    channel: "update",
    payload: update("Flood", 1),
    counted: jsonFellBehind,
  },
  {
    script: "event_processor.ts",
    args: ["--stats-interval", "0", "--json"],
    ready: /"event":"subscribe"/,
    channel: "profile_events",
    payload: profileEvent("flood"),
    counted: jsonFellBehind,
  },
  {
    script: "api_server.ts",
    args: ["--port", "0", "--json"],
    ready: /API server listening on /,
    channel: "update",
    payload: update("Flood", 1),
    counted: jsonFellBehind,
  },
];

for (const c of OUTPACED) {
  ownServerTest(`${c.script} outpaced by a flood (never stopped) is told dropped for falling behind`, async () => {
    await using server = await testServer({ own: true });
    await using redis = testClient(server.url);
    await redis.config("SET", "client-output-buffer-limit", TINY_LIMIT);
    await using p = new ScriptProcess(c.script, ["--url", server.url, ...c.args]);
    await (c.script === "event_processor.ts" ? p.out : p.err).waitFor(c.ready, 20_000);
    await blastUntilDropped(redis, c.channel, c.payload);
    await p.err.waitFor(/Reconnected to /, 15_000);
    p.kill("SIGINT");
    assert.equal(await p.exit(), 0, p.err.text);
    if (Deno.env.get("SHOW")) console.log(p.err.text, p.out.text.split("\n").slice(-3).join("\n"));
    assert.doesNotMatch(p.err.text, /Uncaught|\n\s+at /);
    assert.match(p.err.text, DROPPED);
    c.counted(p.out.text);
  });
}

/** A subscriber.ts process whose stdout the test reads slowly (as a slow pipe would), or at full speed, or not. */
class SlowReader implements AsyncDisposable {
  readonly out = new TextSink();
  readonly err = new TextSink();
  /** Bytes read from stdout per 50 ms while slow. */
  slowBytes = 4096;
  slow = true;
  readonly #child: Deno.ChildProcess;
  readonly #pumps: Promise<void>[];
  /** While its stdout is not read (a stalled pipe): resolves when reading goes on. */
  #stalled: PromiseWithResolvers<void> | undefined;

  constructor(args: string[]) {
    this.#child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", new URL("../../scripts/subscriber.ts", import.meta.url).pathname, ...args],
      env: { NO_COLOR: "1" },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#pumps = [this.#readOut(), this.#readErr()];
  }

  async #readOut(): Promise<void> {
    const reader = this.#child.stdout.getReader({ mode: "byob" });
    const decoder = new TextDecoder();
    for (;;) {
      await this.#stalled?.promise;
      const size = this.slow ? this.slowBytes : 65536;
      const { value, done } = await reader.read(new Uint8Array(size));
      if (done) break;
      this.out.push(decoder.decode(value, { stream: true }));
      if (this.slow) await delay(50);
    }
  }

  async #readErr(): Promise<void> {
    for await (const chunk of this.#child.stderr.pipeThrough(new TextDecoderStream())) this.err.push(chunk);
  }

  /** Stops reading its stdout: once the pipe is full, its writes block (a stalled pipe). */
  stall(): void {
    this.#stalled ??= Promise.withResolvers();
  }

  /** Reads its stdout again (at the speed set). */
  unstall(): void {
    this.#stalled?.resolve();
    this.#stalled = undefined;
  }

  /** Stops it as Ctrl+C would and gives its exit code, with all its output read. */
  async stop(): Promise<number> {
    this.unstall();
    this.slow = false;
    this.#child.kill("SIGINT");
    const { code } = await this.#child.status;
    await Promise.all(this.#pumps);
    return code;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.unstall();
    this.slow = false;
    try {
      this.#child.kill("SIGKILL");
    } catch {
      // already exited
    }
    await this.#child.status;
    await Promise.all(this.#pumps);
  }
}

ownServerTest(
  "subscriber.ts read slowly warns past half of the limit, names the drop from its backlog, and dates the outage from the close",
  async () => {
    await using server = await testServer({ own: true });
    await using redis = testClient(server.url);
    await redis.config("SET", "client-output-buffer-limit", "pubsub 8mb 256kb 2");
    await using sub = new SlowReader(["--url", server.url, "slow"]);
    await sub.err.waitFor(/Listening on /, 20_000);
    // About 1 MB/s, read at about 80 KB/s: the backlog grows until the server drops the subscriber.
    const deadline = Date.now() + 30_000;
    let n = 0;
    while (await pubsubClients(redis) > 0) {
      if (Date.now() > deadline) throw new Error(`Not dropped after ${n} messages:\n${sub.err.text}`);
      const p = redis.pipeline();
      for (let i = 0; i < 100; i++) p.publish("slow", `${n++} ${padding}`);
      await p.exec();
      await delay(100);
    }
    const droppedSeenAt = Date.now();
    await delay(4000); // still read slowly for a while: the drop is noticed late, after what the socket held
    sub.slow = false;
    await sub.err.waitFor(/Connection to \S+ lost/, 30_000);
    const lostSeenAt = Date.now();
    const [, seconds] = await sub.err.waitFor(/Reconnected to \S+ after ([\d.]+) s/, 15_000);
    await publishUntilSeen(
      () => redis.publish("slow", "marker-after-drop"),
      sub.out.waitFor(/marker-after-drop/, 15_000),
    );
    assert.equal(await sub.stop(), 0, sub.err.text);
    if (Deno.env.get("SHOW")) console.log(sub.err.text, { n, late: lostSeenAt - droppedSeenAt, seconds });
    const err = sub.err.text;
    assert.match(err, /Falling behind: the server holds [\d.]+ [KM]B of messages for this subscriber, past half/);
    assert.ok(err.indexOf("Falling behind") < err.indexOf(" lost"), err);
    assert.match(err, DROPPED);
    assert.doesNotMatch(err, /Uncaught|\n\s+at /);
    // Noticed late (the backlog in the socket was read first), but counted from about when the server closed it.
    assert.ok(
      Number(seconds) * 1000 >= lostSeenAt - droppedSeenAt - 1500,
      `${seconds} s for ${lostSeenAt - droppedSeenAt} ms`,
    );
    assert.match(sub.out.text, /1 time\(s\): the server dropped this subscriber because it fell behind/);
  },
);

ownServerTest(
  "subscriber.ts whose stdout pipe stalls while it is flooded is told dropped for falling behind",
  async () => {
    await using server = await testServer({ own: true });
    await using redis = testClient(server.url);
    await redis.config("SET", "client-output-buffer-limit", TINY_LIMIT);
    await using sub = new SlowReader(["--url", server.url, "slow"]);
    sub.slow = false;
    await sub.err.waitFor(/Listening on /, 20_000);
    sub.stall();
    try {
      await blastUntilDropped(redis, "slow", padding);
    } finally {
      sub.unstall();
    }
    await sub.err.waitFor(/Reconnected to /, 15_000);
    assert.equal(await sub.stop(), 0, sub.err.text);
    if (Deno.env.get("SHOW")) console.log(sub.err.text, sub.out.text.split("\n").slice(-3).join("\n"));
    assert.doesNotMatch(sub.err.text, /Uncaught|\n\s+at /);
    assert.match(sub.err.text, DROPPED);
    textFellBehind(sub.out.text);
  },
);
