import assert from "node:assert/strict";
import { Redis } from "ioredis";
import { main as apiServer } from "../../scripts/api_server.ts";
import { main as kvUpdater } from "../../scripts/kv_updater.ts";
import { ExitCode } from "../../lib/core/exit_codes.ts";
import { parseUpdate } from "../../lib/kv/message.ts";
import { Logger } from "../../lib/core/log.ts";
import { SseHub } from "../../lib/web/sse.ts";
import { endpointFor } from "../../lib/endpoint/endpoint.ts";
import { KvFeed } from "../../lib/kv/feed.ts";
import { KvStore } from "../../lib/kv/store.ts";
import { delay, withTimeout } from "../../lib/core/timing.ts";
import {
  type CapturedIo,
  captureIo,
  ownServerTest,
  readUntil,
  type TestServer,
  testServer,
  withClient,
} from "../harness.ts";
import { rawHttp } from "../raw_http.ts";

/** A running API server (in-process, on a free port). */
interface Api extends AsyncDisposable {
  base: string;
  io: CapturedIo;
  done: Promise<number>;
}

async function startApi(url: string, args: string[] = []): Promise<Api> {
  const io = captureIo();
  const done = apiServer(["--url", url, "--port", "0", ...args], io);
  const m = await Promise.race([
    io.err.waitFor(/listening on (http:\/\/127\.0\.0\.1:\d+)\//),
    done.then(() => assert.fail(io.err.text)),
  ]);
  return {
    base: m[1]!,
    io,
    done,
    async [Symbol.asyncDispose]() {
      io.stop();
      assert.equal(await done, ExitCode.Ok);
    },
  };
}

/** An api_server of the test's own on `server`, on channel and prefix named after `tag` under the test's prefix. */
async function startApiIn(
  server: TestServer,
  tag: string,
  args: string[] = [],
): Promise<Api & { prefix: string; channel: string }> {
  const prefix = `${server.prefix}${tag}:`;
  const channel = `${prefix}update`;
  return { ...(await startApi(server.url, ["--channel", channel, "--prefix", prefix, ...args])), prefix, channel };
}

/** Stands in for kv_updater: stores the update as it would, then publishes it. */
async function storeAndPublish(redis: Redis, message: string, prefix = "", channel = "update"): Promise<void> {
  const parsed = parseUpdate(new TextEncoder().encode(message), 64 * 1024 * 1024);
  assert.ok(parsed.ok);
  await redis.pipeline().set(prefix + parsed.update.type, parsed.update.stored).publish(channel, message).exec();
}

const update = (type: string, values: unknown) =>
  JSON.stringify({ type, updated: "2023-10-01T12:00:00Z", valid: "2099-01-01T00:00:00Z", values });

interface Received {
  id: string;
  event: string;
  data: string;
}

/** Reads an SSE stream, event by event. */
class SseReader implements AsyncDisposable {
  /** Every event, the `server` statuses among them. */
  readonly all: Received[] = [];
  #waiters: (() => void)[] = [];
  #done: Promise<void>;
  #response!: Response;
  readonly #abort = new AbortController();

  private constructor(readonly ready: Promise<Response>) {
    this.#done = ready.then(async (res) => {
      this.#response = res;
      let buffer = "";
      let current: Partial<Received> = {};
      for await (const chunk of res.body!.pipeThrough(new TextDecoderStream())) {
        buffer += chunk;
        let end;
        while ((end = buffer.indexOf("\n")) >= 0) {
          const line = buffer.slice(0, end);
          buffer = buffer.slice(end + 1);
          if (line === "") {
            if (current.event) this.all.push(current as Received);
            current = {};
            for (const wake of this.#waiters.splice(0)) wake();
          } else if (line.startsWith("id: ")) current.id = line.slice(4);
          else if (line.startsWith("event: ")) current.event = line.slice(7);
          else if (line.startsWith("data: ")) current.data = (current.data ? current.data + "\n" : "") + line.slice(6);
        }
      }
    }).catch(() => {});
  }

  static open(url: string, lastEventId?: string): SseReader {
    const headers: Record<string, string> = lastEventId ? { "last-event-id": lastEventId } : {};
    const controller = new AbortController();
    const reader = new SseReader(fetch(url, { headers, signal: controller.signal }));
    reader.#abort.signal.addEventListener("abort", () => controller.abort());
    return reader;
  }

  /** The `update` events. */
  get events(): Received[] {
    return this.all.filter((e) => e.event === "update");
  }

  /** Waits until some event satisfies `test`. */
  async waitFor(test: (e: Received) => boolean, ms = 10_000): Promise<Received> {
    const deadline = Date.now() + ms;
    for (;;) {
      const found = this.all.find(test);
      if (found) return found;
      const left = deadline - Date.now();
      const late = () =>
        new Error(`No such event within ${ms} ms; got ${this.all.length}: ${JSON.stringify(this.all.slice(-3))}`);
      if (left <= 0) throw late();
      const next = new Promise<void>((resolve) => this.#waiters.push(resolve));
      await withTimeout(next, left, late);
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.#abort.abort();
    await this.#done;
    await this.#response?.body?.cancel().catch(() => {});
  }
}

Deno.test("api_server returns what was stored: /kv lists the types, /kv/:type the stored JSON, 404 when absent", async () => {
  await using server = await testServer();
  const [prefix, channel] = [`${server.prefix}kv:`, `${server.prefix}update`];
  await using api = await startApi(server.url, ["--prefix", prefix, "--channel", channel]);
  await withClient(server.url, async (redis) => {
    await storeAndPublish(redis, update("Weather", { temp: 21.5 }), prefix, channel);
    await storeAndPublish(redis, update("AQI", { pm25: 4 }), prefix, channel);
    await redis.set(`${server.prefix}unrelated`, "x");
  });
  const list = await fetch(`${api.base}/kv`);
  assert.equal(list.status, 200);
  assert.deepEqual(await list.json(), { types: ["AQI", "Weather"] });
  const one = await fetch(`${api.base}/kv/Weather`);
  assert.equal(one.headers.get("content-type"), "application/json");
  assert.equal(
    await one.text(),
    '{"updated": "2023-10-01T12:00:00Z", "valid": "2099-01-01T00:00:00Z", "values": {"temp": 21.5}}',
  );
  const missing = await fetch(`${api.base}/kv/Nope`);
  assert.equal(missing.status, 404);
  assert.match((await missing.json()).error, new RegExp(`Nothing stored for type "Nope" \\(key "${prefix}Nope"\\)`));
  const bad = await fetch(`${api.base}/kv/a%20b`);
  assert.equal(bad.status, 400);
  await bad.body?.cancel();
  const malformed = await fetch(`${api.base}/kv/%E0%A4%A`);
  assert.equal(malformed.status, 400);
  assert.match((await malformed.json()).error, /malformed %-escape/);
  const health = await fetch(`${api.base}/health`);
  assert.deepEqual(await health.json(), { status: "ok", server: "connected", clients: 0 });
  const page = await fetch(`${api.base}/`);
  assert.match(await page.text(), /new EventSource\("events"\)/);
});

Deno.test("api_server /events: current values first, then an update published after the client connected", async () => {
  await using server = await testServer();
  await using api = await startApiIn(server, "t2");
  await withClient(server.url, async (redis) => {
    await storeAndPublish(redis, update("Existing", { a: 1 }), api.prefix, api.channel);
    await using sse = SseReader.open(`${api.base}/events`);
    const first = await sse.waitFor((e) => JSON.parse(e.data).type === "Existing");
    assert.equal(first.event, "update");
    await storeAndPublish(redis, update("Live", { b: 2 }), api.prefix, api.channel);
    const live = await sse.waitFor((e) => JSON.parse(e.data).type === "Live");
    assert.deepEqual(JSON.parse(live.data), {
      type: "Live",
      updated: "2023-10-01T12:00:00Z",
      valid: "2099-01-01T00:00:00Z",
      values: { b: 2 },
    });
    assert.match(live.id, /^[0-9a-z]+-\d+$/);
  });
});

Deno.test("api_server /events waits for kv_updater's write when it lags behind the channel message", async () => {
  await using server = await testServer();
  await using api = await startApiIn(server, "t3");
  await withClient(server.url, async (redis) => {
    await using sse = SseReader.open(`${api.base}/events`);
    await sse.ready;
    const message = update("Lagging", { v: "new" });
    await redis.set(`${api.prefix}Lagging`, '{"updated": "old", "valid": "old", "values": {"v": "old"}}');
    await redis.publish(api.channel, message);
    const parsed = parseUpdate(new TextEncoder().encode(message));
    assert.ok(parsed.ok);
    await redis.set(`${api.prefix}Lagging`, parsed.update.stored); // the updater's write, after the message
    const e = await sse.waitFor((e) => JSON.parse(e.data).type === "Lagging" && JSON.parse(e.data).values.v !== "old");
    assert.equal(JSON.parse(e.data).values.v, "new");
  });
});

/** How many times each read command ran on the server so far. */
async function readCalls(redis: Redis): Promise<number> {
  const stats = await redis.info("commandstats");
  return [...stats.matchAll(/^cmdstat_(?:get|mget):calls=(\d+)/gm)].reduce((n, m) => n + Number(m[1]), 0);
}

Deno.test("api_server sends what kv_updater announces it stored without reading it back, an older value never after a newer", async () => {
  await using server = await testServer();
  await using api = await startApiIn(server, "t3a");
  const io = captureIo();
  const updater = kvUpdater(["--url", server.url, "--channel", api.channel, "--prefix", api.prefix], io);
  try {
    await Promise.race([io.err.waitFor(/Listening on channel/), updater.then(() => assert.fail(io.err.text))]);
    await withClient(server.url, async (redis) => {
      await using sse = SseReader.open(`${api.base}/events`);
      await sse.waitFor((e) => e.event === "server");
      // The first update is read (api_server has heard no announcement yet: it reads as for the seed's updater).
      await redis.publish(api.channel, update("Announced", { n: 0 }));
      await sse.waitFor((e) => e.event === "update" && JSON.parse(e.data).values.n === 0);
      // Past the snapshot's read-back window (2 s: announced values are read again right after a snapshot).
      await delay(2100);
      const before = await readCalls(redis);
      for (let n = 1; n <= 5; n++) await redis.publish(api.channel, update("Announced", { n }));
      await sse.waitFor((e) => e.event === "update" && JSON.parse(e.data).values.n === 5);
      assert.equal(await readCalls(redis) - before, 0, "api_server read a key kv_updater announced");
      const seen = sse.events.map((e) => JSON.parse(e.data).values.n as number);
      assert.deepEqual(seen, [...seen].sort((a, b) => a - b), `out of order: ${seen}`);
    });
  } finally {
    io.stop();
    assert.equal(await updater, ExitCode.Ok, io.err.text);
  }
});

Deno.test("KvFeed.stored sends announced values in their order: an older announcement arriving late is left out", async () => {
  await using server = await testServer();
  const io = captureIo();
  const log = new Logger(io.stderr, "warn");
  const link = await endpointFor({ cluster: false, url: server.url }).link({ reporter: log.reporter() });
  const store = await KvStore.open(link, server.prefix, { reporter: log.reporter() });
  const hub = new SseHub({ log, heartbeatMs: 0 });
  const feed = new KvFeed({ store, hub, log });
  try {
    const sent: string[] = [];
    const original = hub.publish.bind(hub);
    hub.publish = (event, data) => (sent.push(JSON.parse(data).values.v), original(event, data));
    const text = (v: string) => JSON.stringify({ updated: "u", valid: "v", values: { v } });
    feed.stored({ by: "a", seq: 2, stored: [["T", text("second")]] });
    feed.stored({ by: "a", seq: 1, stored: [["T", text("first")]] }); // crossed on the way (a cluster)
    feed.stored({ by: "a", seq: 3, stored: [["T", text("third")]] });
    feed.stored({ by: "b", seq: 1, stored: [["T", text("another updater's")]] });
    assert.deepEqual(sent, ["second", "third", "another updater's"]);
  } finally {
    await feed.stop();
    hub.close();
    await store.close();
    await link.close();
  }
});

Deno.test("api_server /events replays what a client missed when it reconnects with Last-Event-ID", async () => {
  await using server = await testServer();
  await using api = await startApiIn(server, "t4", ["--log-level", "debug"]);
  await withClient(server.url, async (redis) => {
    let lastId: string;
    {
      await using sse = SseReader.open(`${api.base}/events`);
      await api.io.err.waitFor(/SSE client #1 connected/); // it has had its (empty) snapshot: now live
      await storeAndPublish(redis, update("One", { n: 1 }), api.prefix, api.channel);
      lastId = (await sse.waitFor((e) => JSON.parse(e.data).type === "One")).id;
    }
    await storeAndPublish(redis, update("Two", { n: 2 }), api.prefix, api.channel);
    await storeAndPublish(redis, update("Three", { n: 3 }), api.prefix, api.channel);
    // Wait until the server has sent both (a fresh client sees them as live events).
    await using watcher = SseReader.open(`${api.base}/events`, lastId);
    await watcher.waitFor((e) => JSON.parse(e.data).type === "Three");
    assert.deepEqual(watcher.events.map((e) => JSON.parse(e.data).type), ["Two", "Three"]);
    // An unknown id (another server process) gets the current values instead.
    await using stranger = SseReader.open(`${api.base}/events`, "zzz-5");
    await stranger.waitFor((e) => JSON.parse(e.data).type === "Three");
    assert.deepEqual(stranger.events.map((e) => JSON.parse(e.data).type).sort(), ["One", "Three", "Two"]);
  });
});

Deno.test("api_server drops a client that stops reading, and the others keep receiving", async () => {
  await using server = await testServer();
  await using api = await startApiIn(server, "t5", ["--client-buffer", "200kb", "--client-timeout", "300ms"]);
  const port = Number(new URL(api.base).port);
  const stuck = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await stuck.write(new TextEncoder().encode(`GET /events HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`));
    await using reader = SseReader.open(`${api.base}/events`);
    await reader.ready;
    // 48 KiB: each stored value arrives in one read (larger ones make redis-parser start a pool-shrinking timer).
    const big = "x".repeat(48 * 1024);
    await withClient(server.url, async (redis) => {
      // Bounded: at most 200 × 48 KiB; stops as soon as the stuck client is dropped.
      for (let n = 0; n < 200 && !/SSE client #1 dropped/.test(api.io.err.text); n++) {
        await storeAndPublish(redis, update(`Big${n}`, { n, big }), api.prefix, api.channel);
        await reader.waitFor((e) => e.data.includes(`"type":"Big${n}"`));
      }
    });
    // It is dropped once its queue has stayed full for --client-timeout, which may end after the last update.
    await api.io.err.waitFor(/WARN {2}SSE client #1 dropped: \d+ bytes were waiting unread for 0\.3 s/);
    assert.doesNotMatch(api.io.err.text, /SSE client #2 dropped/);
  } finally {
    stuck.close();
  }
});

ownServerTest("api_server /events tells the Redis server's state: connected, lost since when, back", async () => {
  await using server = await testServer({ own: true });
  await using api = await startApiIn(server, "status");
  await using sse = SseReader.open(`${api.base}/events`);
  const status = (state: string, outages: number) => (e: Received) =>
    e.event === "server" && JSON.parse(e.data).state === state && JSON.parse(e.data).outages === outages;
  const first = await sse.waitFor(status("connected", 0));
  assert.equal(first.id, undefined, "a status has no id: a reconnecting client resumes from its last update");
  const stoppedAt = Date.now();
  await server.local!.stop();
  const lost = JSON.parse((await sse.waitFor(status("lost", 1))).data);
  assert.ok(lost.since >= stoppedAt - 1000 && lost.since <= Date.now(), `since ${lost.since}`);
  // A page opened while the server is away is told at once, before any value (none can be read).
  await using late = SseReader.open(`${api.base}/events`);
  await late.waitFor(status("lost", 1));
  assert.deepEqual(late.all.map((e) => e.event), ["server"]);
  await server.local!.start();
  await sse.waitFor(status("connected", 1), 30_000);
  await late.waitFor(status("connected", 1), 30_000);
  const health = await fetch(`${api.base}/health`);
  assert.equal((await health.json()).server, "connected");
});

Deno.test("api_server refuses a port in use and bad options", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    await using server = await testServer();
    const io = captureIo();
    const code = await apiServer(["--url", server.url, "--port", String((listener.addr as Deno.NetAddr).port)], io);
    assert.equal(code, ExitCode.Failure);
    assert.match(io.err.text, /error: Port \d+ on 127\.0\.0\.1 is already in use: choose another with --port/);
  } finally {
    listener.close();
  }
  const io = captureIo();
  assert.equal(await apiServer(["--port", "99999"], io), ExitCode.Usage);
  assert.match(io.err.text, /--port must be between 0 and 65535/);
});

ownServerTest("api_server survives a server restart: 503 while it is away, then live events again", async () => {
  await using server = await testServer({ own: true });
  await using api = await startApi(server.url);
  await using sse = SseReader.open(`${api.base}/events`);
  await sse.ready;
  await server.local!.stop();
  await api.io.err.waitFor(/subscription: Connection to .* lost/);
  const down = await fetch(`${api.base}/kv`);
  assert.equal(down.status, 503);
  assert.match((await down.json()).error, /Not connected to the Redis server: reconnecting/);
  await server.local!.start();
  await api.io.err.waitFor(/subscription: Reconnected to .* after/, 20_000);
  await withClient(server.url, (redis) => storeAndPublish(redis, update("AfterRestart", { ok: true })));
  const e = await sse.waitFor((e) => JSON.parse(e.data).type === "AfterRestart");
  assert.deepEqual(JSON.parse(e.data).values, { ok: true });
  // A normal restart is reported by the connections (lost, reconnected), never as an error.
  assert.doesNotMatch(api.io.err.text, /ERROR/);
});

Deno.test("api_server /events sends heartbeats on an idle stream", async () => {
  await using server = await testServer();
  await using api = await startApiIn(server, "t8", ["--heartbeat", "100ms"]);
  const controller = new AbortController();
  const res = await fetch(`${api.base}/events`, { signal: controller.signal });
  assert.equal(res.headers.get("content-type"), "text/event-stream; charset=utf-8");
  let text = "";
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  try {
    await withTimeout(
      (async () => {
        while (!/: heartbeat \d{4}-/.test(text)) {
          const { value, done } = await reader.read();
          if (done) break;
          text += value;
        }
      })(),
      10_000,
      () => new Error(`No heartbeat; got ${JSON.stringify(text)}`),
    );
    assert.match(text, /^retry: 2000\n\n/);
  } finally {
    await reader.cancel();
  }
});

Deno.test("api_server sends a snapshot larger than --client-buffer whole, and the client stays live", async () => {
  await using server = await testServer();
  await using api = await startApiIn(server, "t9", ["--client-buffer", "16kb"]);
  const prefix = api.prefix;
  await withClient(server.url, async (redis) => {
    for (let n = 0; n < 10; n++) {
      await storeAndPublish(redis, update(`Wide${n}`, { pad: "p".repeat(8000) }), prefix, "-");
    }
    await using sse = SseReader.open(`${api.base}/events`);
    await sse.waitFor((e) => JSON.parse(e.data).type === "Wide9");
    await storeAndPublish(redis, update("After", { small: 1 }), prefix, api.channel);
    await sse.waitFor((e) => JSON.parse(e.data).type === "After");
    assert.equal(sse.events.length, 11);
  });
  assert.doesNotMatch(api.io.err.text, /dropped/);
});

ownServerTest(
  "api_server with a server that stops answering: 503 within --timeout, /health degraded, Ctrl+C exits",
  async () => {
    await using server = await testServer({ own: true });
    const io = captureIo();
    const done = apiServer(
      ["--url", server.url, "--port", "0", "--timeout", "500ms", "--heartbeat", "100ms", "--log-level", "debug"],
      io,
    );
    const [, base] = await Promise.race([
      io.err.waitFor(/listening on (http:\/\/127\.0\.0\.1:\d+)\//),
      done.then(() => assert.fail(io.err.text)),
    ]);
    // Ends with the server (no retries), so nothing is left to close: a disconnect() on it would arm ioredis's 2 s
    // disconnectTimeout, a timer that outlives the test.
    const admin = new Redis(server.url, { maxRetriesPerRequest: 0, retryStrategy: () => null });
    admin.on("error", () => {});
    const adminEnded = new Promise<void>((resolve) => admin.once("end", () => resolve()));
    await storeAndPublish(admin, update("BeforePause", { n: 1 }));
    await admin.call("CLIENT", "PAUSE", "20000", "ALL"); // the server now answers no one, connections stay open
    try {
      const kv = await fetch(`${base}/kv`);
      assert.equal(kv.status, 503);
      const body = await kv.text();
      assert.match(body, /The Redis server did not answer within 0\.5 s/);
      assert.doesNotMatch(body, new RegExp(`127\\.0\\.0\\.1|${server.local!.port}`));
      assert.match(
        io.err.text,
        new RegExp(`the server at redis://127\\.0\\.0\\.1:${server.local!.port} did not answer`),
      );
      const health = await fetch(`${base}/health`);
      assert.equal(health.status, 503);
      assert.deepEqual(await health.json(), { status: "degraded", server: "not answering within 0.5 s", clients: 0 });
      // A client waiting for its snapshot gets heartbeats, and is forgotten when it leaves.
      const waiting = await fetch(`${base}/events`);
      const text = await readUntil(waiting, /: heartbeat /);
      assert.doesNotMatch(text, /event: update/);
      await io.err.waitFor(/SSE client #1 left before its first events were sent/);
      // Ctrl+C while a client is connecting and the server is still frozen: exits without waiting for it.
      const connecting = fetch(`${base}/events`).then((res) => res.body?.cancel(), () => {});
      await io.err.waitFor(/GET \/events[\s\S]*GET \/events/);
      const stoppedAt = Date.now();
      io.stop();
      assert.equal(await withTimeout(done, 10_000, () => new Error(`still running:\n${io.err.text}`)), ExitCode.Ok);
      assert.ok(Date.now() - stoppedAt < 8000, `took ${Date.now() - stoppedAt} ms to stop`);
      await connecting;
    } finally {
      await server.local!.stop(); // CLIENT UNPAUSE would itself wait for the pause to end
      await adminEnded;
    }
  },
);

Deno.test("api_server /kv lists only stored updates (not other labs' keys), the same as the /events snapshot", async () => {
  await using server = await testServer();
  const [prefix, channel] = [server.prefix, `${server.prefix}update`];
  await using api = await startApi(server.url, ["--prefix", prefix, "--channel", channel]);
  await withClient(server.url, async (redis) => {
    await redis.set(`${prefix}handshake_key`, "abc123");
    await redis.set(`${prefix}shared_key`, '{"key": "x"}');
    await storeAndPublish(redis, update("Weather", { temp: 20 }), prefix, channel);
    await storeAndPublish(redis, update("zz", { last: true }), prefix, channel); // sorts after the other keys
  });
  assert.deepEqual(await (await fetch(`${api.base}/kv`)).json(), { types: ["Weather", "zz"] });
  const other = await fetch(`${api.base}/kv/handshake_key`);
  assert.equal(other.status, 404);
  await other.body?.cancel();
  await using sse = SseReader.open(`${api.base}/events`);
  await sse.waitFor((e) => JSON.parse(e.data).type === "zz");
  assert.deepEqual(sse.events.map((e) => JSON.parse(e.data).type), ["Weather", "zz"]);
});

Deno.test("api_server --max-bytes ignores larger update messages, as kv_updater does", async () => {
  await using server = await testServer();
  const channel = `${server.prefix}mb:update`;
  await using api = await startApi(server.url, [
    "--channel",
    channel,
    "--prefix",
    `${server.prefix}mb:`,
    "--max-bytes",
    "150",
    "--log-level",
    "debug",
  ]);
  await withClient(server.url, (redis) => redis.publish(channel, update("Big", { pad: "p".repeat(200) })));
  await api.io.err.waitFor(/Ignored a message kv_updater rejects too \(too_large\)/);
  const io = captureIo();
  assert.equal(await apiServer(["--max-bytes", "lots"], io), ExitCode.Usage);
  assert.match(io.err.text, /--max-bytes expects a size/);
});

Deno.test("api_server does not suspect the prefix for an update that has already expired", async () => {
  await using server = await testServer();
  const channel = `${server.prefix}ex:update`;
  await using api = await startApi(server.url, ["--channel", channel, "--prefix", `${server.prefix}ex:`]);
  await withClient(server.url, async (redis) => {
    // Neither is stored: kv_updater --expire-at-valid drops the expired one, the other is a real problem.
    const expired = JSON.stringify({
      type: "Old",
      updated: "2020-01-01T00:00:00Z",
      valid: "2020-01-01T00:05:00Z",
      values: {},
    });
    await redis.publish(channel, expired);
    await redis.publish(channel, update("Missing", {}));
  });
  await api.io.err.waitFor(/Update for "Missing" seen on the channel but nothing stored/);
  assert.doesNotMatch(api.io.err.text, /Update for "Old"/);
});

Deno.test("api_server answers only under its own address and --allowed-host names, on every route (DNS rebinding)", async () => {
  await using server = await testServer();
  await using api = await startApiIn(server, "hosts");
  await withClient(
    server.url,
    (redis) => storeAndPublish(redis, update("Moon", { phase: 0.5 }), api.prefix, api.channel),
  );
  const port = new URL(api.base).port;
  // A page of another site whose name was re-pointed to 127.0.0.1 sends its own name as Host.
  for (const host of ["evil.example", `attacker.com:${port}`, `localhost.evil.example:${port}`]) {
    for (
      const [method, path] of [
        ["GET", "/"],
        ["GET", "/kv"],
        ["GET", "/kv/Moon"],
        ["GET", "/events"],
        [
          "GET",
          "/health",
        ],
        ["HEAD", "/kv"],
        ["GET", "/nope"],
        ["POST", "/publish"],
      ]
    ) {
      const res = await rawHttp(api.base, path!, { method, host, ...(method === "POST" ? { body: "{}" } : {}) });
      assert.equal(res.status, 403, `${method} ${path} with Host ${host}: ${res.body.slice(0, 200)}`);
      if (method !== "HEAD") {
        assert.match(res.body, /is not allowed: .*--allowed-host/, `${method} ${path} with Host ${host}`);
        assert.doesNotMatch(res.body, /phase|Moon/, "no data in the refusal");
      }
    }
  }
  assert.match(api.io.err.text, /Refused a request for host "evil\.example"/);
  // Its own address, under any of the loopback names, with or without the port, and no Host at all (not a browser).
  for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, "localhost", `[::1]:${port}`, "LOCALHOST.", null]) {
    const res = await rawHttp(api.base, "/kv/Moon", { host });
    assert.equal(res.status, 200, `Host ${host}: ${res.body}`);
    assert.match(res.body, /"phase": 0\.5/);
  }
  const stream = await rawHttp(api.base, "/events", { host: `localhost:${port}`, until: /event: update\n/ });
  assert.equal(stream.status, 200);
  assert.match(stream.body, /"type": ?"Moon"/);

  await using named = await startApiIn(server, "hosts", [
    "--allowed-host",
    "lab.example",
    "--allowed-host",
    ".class.test",
  ]);
  const namedPort = new URL(named.base).port;
  for (const host of [`lab.example:${namedPort}`, "LAB.example", "pc7.class.test", "class.test"]) {
    const res = await rawHttp(named.base, "/events", { host, until: /event: update\n/ });
    assert.equal(res.status, 200, `Host ${host}: ${res.body}`);
    assert.match(res.body, /"type": ?"Moon"/);
  }
  for (const host of ["evil.example", "lab.example.evil.example", "notclass.test"]) {
    assert.equal((await rawHttp(named.base, "/kv", { host })).status, 403, `Host ${host}`);
  }
  for (const bad of ["bad/name", "http://lab.example", "lab.example:8000", "a b"]) {
    const io = captureIo();
    io.stop(); // stops at once if it ever starts
    assert.equal(await apiServer(["--url", server.url, "--port", "0", "--allowed-host", bad], io), ExitCode.Usage);
    assert.match(io.err.text, new RegExp(`--allowed-host "${RegExp.escape(bad)}" is not a host name`));
  }
});

Deno.test("api_server refuses a --host that is not an address of this machine", async () => {
  for (const host of ["192.0.2.1", "bad host!"]) {
    await using server = await testServer();
    const io = captureIo();
    assert.equal(await apiServer(["--url", server.url, "--port", "0", "--host", host], io), ExitCode.Usage);
    assert.match(
      io.err.text,
      new RegExp(`error: --host ${host} is not .*use an address of this machine: 127\\.0\\.0\\.1`),
    );
    assert.doesNotMatch(io.err.text, /unexpected/);
  }
});

Deno.test("SseHub sends a large snapshot as the client reads it, never more than the buffer limit queued", async () => {
  const hub = new SseHub({ log: new Logger(captureIo().stderr, "error"), heartbeatMs: 0, maxBufferedBytes: 8192 });
  let finish!: () => void;
  const client = hub.open(new Promise<void>((resolve) => (finish = resolve)));
  const data = "d".repeat(1000);
  const snapshot = Array.from({ length: 100 }, () => ({ id: hub.lastId, event: "update", data }));
  const attached = hub.attach(client, snapshot);
  hub.publish("update", "meanwhile");
  assert.ok(client.queued <= 8192 + 1100, `${client.queued} bytes queued`);
  assert.equal(hub.clients, 0);
  const text = await readUntil(client.response, /data: meanwhile\n/);
  await attached;
  assert.equal(text.split("event: update").length - 1, 101);
  finish();
  hub.close();
});

Deno.test("api_server drops a client that never reads its snapshot, at --client-timeout, and others get it whole", async () => {
  await using server = await testServer();
  const prefix = `${server.prefix}t10:`;
  await withClient(server.url, async (redis) => {
    // 12 MB: more than the kernel's socket buffers take for a client that reads nothing.
    for (let n = 0; n < 12; n++) {
      await storeAndPublish(redis, update(`Huge${n}`, { pad: "h".repeat(1 << 20) }), prefix, "-");
    }
  });
  await using api = await startApi(server.url, [
    "--channel",
    `${server.prefix}t10:update`,
    "--prefix",
    prefix,
    "--client-buffer",
    "64kb",
    "--client-timeout",
    "300ms",
  ]);
  const port = Number(new URL(api.base).port);
  const stuck = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await stuck.write(new TextEncoder().encode(`GET /events HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`));
    await api.io.err.waitFor(/WARN {2}SSE client #1 dropped: \d+ bytes were waiting unread for 0\.3 s/);
    const health = await (await fetch(`${api.base}/health`)).json();
    assert.equal(health.clients, 0);
    await using reader = SseReader.open(`${api.base}/events`);
    await reader.waitFor((e) => JSON.parse(e.data).type === "Huge9", 20_000); // the last of them by name
    assert.equal(reader.events.length, 12);
  } finally {
    stuck.close();
  }
  assert.doesNotMatch(api.io.err.text, /SSE client #2 dropped/);
});

Deno.test("api_server never drops a client reading at full speed through a burst of 300 × 20 KB; a stuck one goes", async () => {
  await using server = await testServer();
  const prefix = `${server.prefix}t11:`;
  const channel = `${server.prefix}t11:update`;
  await using api = await startApi(server.url, ["--channel", channel, "--prefix", prefix, "--client-timeout", "2s"]);
  const port = Number(new URL(api.base).port);
  await using reader = SseReader.open(`${api.base}/events`);
  await reader.ready;
  const stuck = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    await stuck.write(new TextEncoder().encode(`GET /events HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`));
    await withClient(server.url, async (redis) => {
      const pipeline = redis.pipeline();
      for (let n = 0; n < 300; n++) {
        const message = update(`Burst${n}`, { n, pad: "b".repeat(20 * 1024) });
        const parsed = parseUpdate(new TextEncoder().encode(message));
        assert.ok(parsed.ok);
        pipeline.set(prefix + parsed.update.type, parsed.update.stored).publish(channel, message);
      }
      await pipeline.exec();
    });
    await reader.waitFor((e) => JSON.parse(e.data).type === "Burst299", 20_000);
    const types = new Set(reader.events.map((e) => JSON.parse(e.data).type));
    assert.equal(types.size, 300);
    await api.io.err.waitFor(/SSE client #2 dropped: \d+ bytes were waiting unread for 2 s/);
    assert.doesNotMatch(api.io.err.text, /SSE client #1 (dropped|fell)/);
  } finally {
    stuck.close();
  }
});

Deno.test("api_server --max-clients: 503 past the cap (the body says why), admitted again once a stream is over", async () => {
  await using server = await testServer();
  const io = captureIo();
  const done = apiServer(
    [
      "--url",
      server.url,
      "--port",
      "0",
      "--max-clients",
      "2",
      "--channel",
      `${server.prefix}t12:update`,
      "--log-level",
      "debug",
    ],
    io,
  );
  const [, base] = await Promise.race([
    io.err.waitFor(/listening on (http:\/\/127\.0\.0\.1:\d+)\//),
    done.then(() => assert.fail(io.err.text)),
  ]);
  try {
    await using first = SseReader.open(`${base}/events`);
    await using second = SseReader.open(`${base}/events`);
    assert.equal((await first.ready).status, 200);
    assert.equal((await second.ready).status, 200);
    const refused = await fetch(`${base}/events`);
    assert.equal(refused.status, 503);
    assert.equal(refused.headers.get("retry-after"), "5");
    assert.deepEqual(await refused.json(), { error: "Too many event streams open (at most 2): try again later" });
    assert.match(io.err.text, /WARN {2}Refusing event streams: 2 are open \(--max-clients 2;/);
    await first[Symbol.asyncDispose]();
    await io.err.waitFor(/SSE client #1's response is over \(1 stream\(s\) open\)/);
    await using third = SseReader.open(`${base}/events`);
    assert.equal((await third.ready).status, 200);
  } finally {
    io.stop();
    assert.equal(await done, ExitCode.Ok);
  }
  assert.match(io.out.text, /0 slow client\(s\) dropped, 1 refused \(--max-clients 2\)\./);
});

ownServerTest("api_server's 503 bodies never show the server's user name, host or port; the log does", async () => {
  await using server = await testServer({ own: true });
  await withClient(
    server.url,
    (redis) => redis.call("ACL", "SETUSER", "labuser", "on", ">S3cretPw", "~*", "&*", "+@all"),
  );
  const port = server.local!.port;
  await using api = await startApi(`redis://labuser:S3cretPw@127.0.0.1:${port}`);
  await server.local!.stop();
  await api.io.err.waitFor(/reads: Connection to .* lost/);
  for (const path of ["/kv", "/kv/Weather", "/health"]) {
    const res = await fetch(`${api.base}${path}`);
    assert.equal(res.status, 503);
    const body = await res.text();
    assert.doesNotMatch(body, new RegExp(`labuser|127\\.0\\.0\\.1|${port}|S3cret`), `${path}: ${body}`);
  }
  assert.match(api.io.err.text, new RegExp(`labuser.*127\\.0\\.0\\.1:${port}`));
  assert.doesNotMatch(api.io.err.text, /S3cretPw/);
});

Deno.test("SseHub drops a client that takes nothing at the stall deadline and releases its queue; memory stays bounded", async () => {
  const io = captureIo();
  const hub = new SseHub({ log: new Logger(io.stderr, "warn"), heartbeatMs: 0, maxBufferedBytes: 8192, stallMs: 100 });
  const finishers: (() => void)[] = [];
  const clients = Array.from({ length: 20 }, () => hub.open(new Promise<void>((resolve) => finishers.push(resolve))));
  const snapshot = Array.from({ length: 100 }, () => ({ id: hub.lastId, event: "update", data: "s".repeat(1000) }));
  for (const client of clients) void hub.attach(client, snapshot);
  for (let n = 0; n < 200; n++) hub.publish("update", "d".repeat(4000));
  // Nobody reads: each queue holds at most the buffer plus one event, however much was sent.
  for (const client of clients) assert.ok(client.queued <= 8192 + 1100, `${client.queued} bytes queued`);
  await io.err.waitFor(/SSE client #20 dropped: \d+ bytes were waiting unread for 0\.1 s \(it stopped reading\)/);
  assert.equal(hub.dropped, 20);
  for (const client of clients) assert.ok(client.closed && client.queued === 0);
  assert.equal(hub.streams, 20); // the responses are not over yet…
  for (const finish of finishers) finish();
  await Promise.all(clients.map((c) => c.gone));
  await delay(0);
  assert.equal(hub.streams, 0); // …until the connections close
  hub.close();
});

Deno.test("SseHub: a fast reader rides out a burst of 300 × 20 KB, six times its buffer, and is never dropped", async () => {
  const io = captureIo();
  const hub = new SseHub({ log: new Logger(io.stderr, "info"), heartbeatMs: 0, stallMs: 5000 });
  let finish!: () => void;
  const client = hub.open(new Promise<void>((resolve) => (finish = resolve)));
  await hub.attach(client, []);
  const pad = "p".repeat(20 * 1024);
  for (let n = 1; n <= 300; n++) hub.publish("update", `${n} ${pad}`); // at once: nobody reads meanwhile
  assert.ok(client.queued <= 1024 * 1024 + 21 * 1024, `${client.queued} bytes queued`);
  const text = await readUntil(client.response, /data: 300 p/);
  assert.equal(text.split("event: update").length - 1, 300);
  assert.equal(hub.dropped, 0);
  finish();
  await client.gone;
  hub.close();
  assert.equal(io.err.text, "");
});

Deno.test("SseHub hands back a client that fell behind more than the replay ring holds, instead of dropping it", async () => {
  const io = captureIo();
  const hub = new SseHub({ log: new Logger(io.stderr, "info"), heartbeatMs: 0, maxBufferedBytes: 8192, replay: 50 });
  let finish!: () => void;
  const client = hub.open(new Promise<void>((resolve) => (finish = resolve)));
  const behind: string[] = [];
  await hub.attach(client, [], { onBehind: (c) => void behind.push(c.label) });
  assert.equal(hub.clients, 1);
  for (let n = 1; n <= 60; n++) hub.publish("update", "x".repeat(1000)); // nobody reads: 8 fit, 50 are kept
  assert.deepEqual(behind, ["#1"]);
  assert.equal(hub.clients, 0);
  assert.equal(hub.dropped, 0);
  assert.match(io.err.text, /SSE client #1 fell more than 50 events behind .*: sending it the current values again/);
  // What KvFeed does: a fresh snapshot after what was queued, then live again.
  const attached = hub.attach(client, [{ id: hub.lastId, event: "update", data: "fresh" }]);
  const read = readUntil(client.response, /data: fresh\n/);
  await attached;
  assert.equal(hub.clients, 1);
  assert.equal((await read).split("event: update").length - 1, 9);
  finish();
  await client.gone;
  hub.close();
});

Deno.test("SseHub keeps at most `replay` events for replay, and at most `replayBytes` of them", () => {
  const hub = new SseHub({ log: new Logger(captureIo().stderr, "error"), heartbeatMs: 0, replayBytes: 5000 });
  const ids = Array.from({ length: 20 }, () => hub.publish("update", "r".repeat(1000)).id);
  // Each event is about 1,030 bytes on the wire: four fit in 5,000.
  assert.equal(hub.since(ids[15]!)?.length, 4);
  assert.equal(hub.since(ids[14]!), undefined);
  hub.close();
});
