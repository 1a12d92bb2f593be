import assert from "node:assert/strict";
import type { Redis } from "ioredis";
import { main as kvUpdater } from "../../scripts/kv_updater.ts";
import { main as demoEvents } from "../../scripts/demo_events.ts";
import { ExitCode } from "../../lib/core/exit_codes.ts";
import { EventPublisher } from "../../lib/events/publisher.ts";
import { createEvent } from "../../lib/events/envelope.ts";
import { delay } from "../../lib/core/timing.ts";
import { browserTest, Chromium, chromiumAvailable, pageWaitsFor } from "../chromium.ts";
import { openLive, processorRow, rowOf, startDashboard, StateStream } from "./live_dashboard.ts";
import {
  captureIo,
  floodUntilDropped,
  ownServerAvailable,
  runMain,
  ScriptProcess,
  testClient,
  testServer,
} from "../harness.ts";
import { rawHttp, type RawRequest } from "../raw_http.ts";

/** Where the screenshot test writes the page, overwritten by each run (`$DASHBOARD_SCREENSHOT` moves it). */
const SCREENSHOT = Deno.env.get("DASHBOARD_SCREENSHOT") ??
  `${Deno.env.get("TMPDIR") ?? "/tmp"}/pubsub-lab-dashboard.png`;

/** event_processor.ts as a subprocess (a pid of its own: a processor of its own), with its id once it says it. */
async function startProcessor(
  url: string,
  args: string[] = [],
): Promise<{ id: string; p: ScriptProcess } & AsyncDisposable> {
  const p = new ScriptProcess("event_processor.ts", [
    "--url",
    url,
    "--stats-interval",
    "0",
    "--publish-stats",
    "250ms",
    "--quiet",
    ...args,
  ]);
  try {
    const [, id] = await p.err.waitFor(/statistics go to \S+ every [\d.]+ s as (\S+\/\d+)\./, 30_000);
    return { id: id!, p, [Symbol.asyncDispose]: () => p[Symbol.asyncDispose]() };
  } catch (err) {
    await p[Symbol.asyncDispose]();
    throw err;
  }
}

/** The CPU seconds the page's main thread has used so far (Chromium's `ThreadTime`). */
async function pageCpuSeconds(browser: Chromium, tab: string): Promise<number> {
  const { metrics } = await browser.send("Performance.getMetrics", {}, tab) as {
    metrics: { name: string; value: number }[];
  };
  const cpu = metrics.find((m) => m.name === "ThreadTime")?.value;
  assert.ok(cpu !== undefined, "Chromium reports no ThreadTime");
  return cpu;
}

/** How long the dashboard's flood lasts on a machine that keeps its pace: 100 batches, one every 50 ms. */
const FLOOD_SECONDS = 5;

async function publishMany(redis: Redis, channel: string, payload: string, n: number): Promise<void> {
  const pipe = redis.pipeline();
  for (let i = 0; i < n; i++) pipe.publish(channel, payload);
  await pipe.exec();
}

Deno.test("dashboard: answers only under its own address and --allowed-host names, on every route (DNS rebinding)", async () => {
  await using server = await testServer();
  await using dash = await startDashboard(server.url, ["--allowed-host", "class.example"]);
  const port = new URL(dash.base).port;
  const publish = {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: '{"channel":"c","payload":"p"}',
  };
  const routes: [string, string, Partial<RawRequest>][] = [
    ["GET", "/", {}],
    ["GET", "/events", {}],
    ["GET", "/uplot.js", {}],
    ["GET", "/uplot.css", {}],
    ["GET", "/nope", {}],
    ["POST", "/publish", publish],
  ];
  for (const host of ["evil.example", `attacker.com:${port}`]) {
    for (const [method, path, extra] of routes) {
      const res = await rawHttp(dash.base, path, { method, ...extra, host, headers: { ...extra.headers } });
      assert.equal(res.status, 403, `${method} ${path} with Host ${host}: ${res.body.slice(0, 200)}`);
      assert.match(res.body, /is not allowed: .*--allowed-host/, `${method} ${path} with Host ${host}`);
    }
  }
  assert.match(dash.p.err.text, /Refused a request for host "evil\.example"/);
  for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, `class.example:${port}`]) {
    const page = await rawHttp(dash.base, "/", { host });
    assert.equal(page.status, 200, `Host ${host}`);
    assert.match(page.body, /EventSource/);
    const stream = await rawHttp(dash.base, "/events", { host, until: /event: state\ndata: \{.*\}\n/ });
    assert.equal(stream.status, 200, `Host ${host}`);
  }
  // The form posts from the page's own origin, under an allowed name too.
  const origin = `http://class.example:${port}`;
  const res = await rawHttp(dash.base, "/publish", {
    ...publish,
    host: `class.example:${port}`,
    headers: { ...publish.headers, origin },
    body: JSON.stringify({ channel: `${server.prefix}hosts`, payload: "p" }),
  });
  assert.equal(res.status, 200, res.body);
});

Deno.test("dashboard: with 10,000 channels a page gets the 20 busiest and what changed, not every channel every tick", async () => {
  await using server = await testServer();
  await using sub = testClient(server.url);
  await using pub = testClient(server.url);
  const names = Array.from({ length: 10_000 }, (_, i) => `${server.prefix}ch:${i}`);
  for (let i = 0; i < names.length; i += 1000) await sub.subscribe(...names.slice(i, i + 1000));
  await using dash = await startDashboard(server.url);
  await using stream = StateStream.open(dash.base);
  type Shown = { server?: { activeChannels?: number }; channels?: unknown[]; moreChannels?: number; heard?: number };
  await stream.waitFor((s) => ((s as Shown).channels?.length ?? 0) >= 20, "the channels listed");
  // Idle: nothing changes but the time, the round trip and the chart's point.
  const idle = await stream.next(8);
  const idleState = structuredClone(stream.state) as Shown;
  // Busy: every channel gets a message every 100 ms (bounded: 100 rounds at most), rates and rows change each tick.
  let publishing = true;
  const rounds = (async () => {
    for (let round = 0; round < 100 && publishing; round++) {
      const pipe = pub.pipeline();
      for (const name of names) pipe.publish(name, "x");
      await pipe.exec();
      await delay(100);
    }
  })();
  let busy: number[];
  try {
    await stream.waitFor((s) => ((s as Shown).heard ?? 0) > 0, "messages heard");
    busy = await stream.next(8);
  } finally {
    publishing = false;
    await rounds;
  }
  const mean = (sizes: number[]) => Math.round(sizes.reduce((a, b) => a + b, 0) / sizes.length);
  console.error(
    `10,000 channels: ${mean(idle)} bytes per state event idle (largest ${Math.max(...idle)}), ${mean(busy)} busy ` +
      `(largest ${Math.max(...busy)}); the first, whole: ${stream.sizes[0]}`,
  );
  // Each event was 10 KB or more, idle or busy: 100 channels twice (the server's list and the page's) every tick.
  assert.ok(Math.max(...idle) < 1_000, `idle: ${idle.join(", ")} bytes`);
  assert.ok(Math.max(...busy) < 8_000, `busy: ${busy.join(", ")} bytes`);
  for (const state of [idleState, stream.state as Shown]) {
    assert.equal(state.channels?.length, 20);
    assert.equal(state.server?.activeChannels, 10_000);
    assert.equal(state.moreChannels, 9_980);
  }
  await sub.unsubscribe();
});

browserTest(
  "dashboard: a channel and its rate show within a second of publishing, its subscriber counted",
  async () => {
    await using server = await testServer();
    await using browser = await Chromium.launch();
    await using dash = await startDashboard(server.url);
    await using listener = testClient(server.url);
    await using pub = testClient(server.url);
    const channel = `${server.prefix}news`;
    await listener.subscribe(channel);
    const tab = await openLive(browser, dash.base);
    const started = performance.now();
    await publishMany(pub, channel, "hello", 20);
    const shown = await browser.evaluate(
      tab,
      pageWaitsFor(`Number(${rowOf(channel)}.querySelector(".rate").textContent) > 0`, 5000),
    );
    const ms = performance.now() - started;
    const rowText = () => browser.evaluate(tab, `${rowOf(channel)}?.innerText ?? "(no row)"`);
    assert.ok(shown, `the page never showed a rate for ${channel}: ${await rowText()}`);
    assert.ok(ms < 1000, `the rate took ${Math.round(ms)} ms to show`);
    // The rate comes from the sampler's messages; the subscriber count from the next poll of PUBSUB NUMSUB.
    const counted = await browser.evaluate(
      tab,
      pageWaitsFor(`${rowOf(channel)}.querySelectorAll("td")[1].textContent === "1"`, 5000),
    );
    assert.ok(counted, `one subscriber: ${await rowText()}`);
    await listener.unsubscribe();
  },
);

browserTest(
  "dashboard: the page lists the 20 busiest channels, says how many more, and its chart follows the ticks",
  async () => {
    await using server = await testServer();
    await using browser = await Chromium.launch();
    await using dash = await startDashboard(server.url);
    await using pub = testClient(server.url);
    const tab = await openLive(browser, dash.base);
    // 30 channels, the one named "busy" the busiest; a name of 1,000 characters is shown cut.
    const long = `${server.prefix}${"l".repeat(1000)}`;
    for (let i = 0; i < 28; i++) await pub.publish(`${server.prefix}c${i}`, "x");
    await publishMany(pub, `${server.prefix}busy`, "x", 50);
    await publishMany(pub, long, "x", 30);
    const more = `document.getElementById("morechannels")`;
    assert.ok(
      await browser.evaluate(
        tab,
        pageWaitsFor(
          `!${more}.hidden && /^and (\\d+) more \\(the 20 busiest are listed\\)$/.test(${more}.textContent)`,
        ),
      ),
      String(await browser.evaluate(tab, `${more}.textContent`)),
    );
    assert.equal(await browser.evaluate(tab, `document.querySelectorAll("#channels tr").length`), 20);
    // More than 20 channels show as soon as the 28 quiet ones are heard: the two busiest may come a tick later.
    const listed = (name: string) => browser.evaluate(tab, pageWaitsFor(`${rowOf(name)} !== null`));
    assert.ok(await listed(`${server.prefix}busy`), "the busiest is listed");
    const cut = `${long.slice(0, 200)}…`;
    assert.ok(await listed(cut), "the long name is listed, cut at 200 characters");
    // The chart gets one point a tick, appended by the page: times keep increasing, every series as long as the times.
    const chart =
      `(() => { const h = state.history; return { times: h.times, lengths: h.series.map((s) => s.values.length) }; })()`;
    const before = await browser.evaluate(tab, chart) as { times: number[]; lengths: number[] };
    assert.ok(await browser.evaluate(tab, pageWaitsFor(`state.history.times.length >= ${before.times.length + 4}`)));
    const after = await browser.evaluate(tab, chart) as { times: number[]; lengths: number[] };
    assert.ok(after.times.every((t, i) => i === 0 || t > after.times[i - 1]!), JSON.stringify(after.times));
    assert.deepEqual(after.lengths, after.lengths.map(() => after.times.length));
    assert.deepEqual(after.times.slice(0, before.times.length), before.times, "the points are appended");
  },
);

browserTest("dashboard: payloads and channel names with HTML show as text, never run", async () => {
  await using server = await testServer();
  await using browser = await Chromium.launch();
  await using dash = await startDashboard(server.url);
  await using pub = testClient(server.url);
  const tab = await openLive(browser, dash.base);
  const channel = `${server.prefix}<b>x</b>`;
  const payload = `<script>window.pwned=1</script><img src=x onerror="window.pwned=2">`;
  await pub.publish(channel, payload);
  const shown = await browser.evaluate(
    tab,
    pageWaitsFor(
      `[...document.querySelectorAll("#messages .payload")].some((td) => td.textContent === ${
        JSON.stringify(payload)
      })`,
    ),
  );
  assert.ok(shown, "the payload was not shown as text");
  assert.equal(await browser.evaluate(tab, "window.pwned ?? null"), null);
  assert.equal(
    await browser.evaluate(tab, `document.querySelectorAll("main img, main b, #messages script").length`),
    0,
  );
  assert.ok(await browser.evaluate(tab, `${rowOf(channel)} !== null`), "the channel is listed under its name, as text");
});

browserTest(
  "dashboard: a flood of 20,000 msg/s for 5 s leaves the page responsive and the sampler connected",
  async () => {
    await using server = await testServer();
    await using browser = await Chromium.launch();
    await using dash = await startDashboard(server.url);
    await using pub = testClient(server.url);
    await using admin = testClient(server.url);
    const tab = await openLive(browser, dash.base);
    const channel = `${server.prefix}flood`;
    const payload = "x".repeat(100);
    let flooding = true;
    let sent = 0;
    // How busy the page's main thread is: the CPU time Chromium counts for it, as a share of the flood's own 5 s —
    // what the page does with 100,000 messages, whatever else the machine does (a page that renders at a bounded rate
    // stays far below half). Not its tasks' wall time, nor one DevTools round trip's worst time: both measured the
    // machine as much as the page (55.7% of the wall time in one run with two test suites alongside, 12–21% around it).
    await browser.send("Performance.enable", {}, tab);
    const cpuBefore = await pageCpuSeconds(browser, tab);
    const flood = (async () => {
      const start = performance.now();
      // 100 batches of 1000, one every 50 ms: 20,000 msg/s for FLOOD_SECONDS; the time bound only ends a machine far
      // too slow.
      for (let batch = 0; batch < 100 && performance.now() - start < 30_000; batch++) {
        const due = start + batch * 50;
        if (performance.now() < due) await new Promise((r) => setTimeout(r, due - performance.now()));
        await publishMany(pub, channel, payload, 1000);
        sent += 1000;
      }
      flooding = false;
    })();
    const answers: number[] = [];
    let maxOmem = 0;
    let saidSampling = false;
    while (flooding || answers.length < 10) {
      const t = performance.now();
      if (/sampling/.test(String(await browser.evaluate(tab, `document.getElementById("sampling").textContent`)))) {
        saidSampling = true;
      }
      answers.push(performance.now() - t);
      const list = String(await admin.client("LIST"));
      for (const line of list.split("\n").filter((l) => / cmd=psubscribe /.test(l))) {
        maxOmem = Math.max(maxOmem, Number(/ omem=(\d+)/.exec(line)?.[1] ?? 0));
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    await flood;
    const cpuAfter = await pageCpuSeconds(browser, tab);
    const busyShare = (cpuAfter - cpuBefore) / FLOOD_SECONDS;
    assert.equal(sent, 100_000);
    const worst = Math.max(...answers);
    console.error(
      `flood: the page's main thread used ${
        (busyShare * 100).toFixed(1)
      }% of the flood's 5 s of CPU; ${answers.length} ` +
        `evaluates, worst ${worst.toFixed(1)} ms; the sampler's output buffer peaked at ${maxOmem} bytes`,
    );
    assert.ok(saidSampling, "the page never said it was sampling");
    assert.ok(
      busyShare < 0.5,
      `the page's main thread used ${(busyShare * 100).toFixed(1)}% of the flood's 5 s of CPU`,
    );
    assert.equal(await browser.evaluate(tab, `document.getElementById("conn").textContent`), "live");
    assert.ok(
      await browser.evaluate(tab, `document.querySelectorAll("#messages tr").length <= 200`),
      "rows are bounded",
    );
    assert.doesNotMatch(dash.p.err.text, /fell behind|dropped/, dash.p.err.text);
    const rate = await browser.evaluate(tab, `${rowOf(channel)}?.innerText ?? ""`);
    assert.ok(rate, "the flooded channel is listed");
  },
);

Deno.test({
  name: "dashboard: the page recovers after the server restarts",
  ignore: !chromiumAvailable || !ownServerAvailable,
  fn: async () => {
    await using server = await testServer({ own: true });
    await using browser = await Chromium.launch();
    await using dash = await startDashboard(server.url);
    const tab = await openLive(browser, dash.base);
    await server.local!.stop();
    assert.ok(
      await browser.evaluate(
        tab,
        pageWaitsFor(`document.getElementById("conn").textContent.startsWith("reconnecting")`),
      ),
      "the page never said it was reconnecting",
    );
    await server.local!.start();
    assert.ok(
      await browser.evaluate(tab, pageWaitsFor(`document.getElementById("conn").textContent === "live"`, 30_000)),
      "not live again",
    );
    await using pub = testClient(server.url);
    const channel = `${server.prefix}after`;
    await publishMany(pub, channel, "back", 10);
    assert.ok(
      await browser.evaluate(tab, pageWaitsFor(`${rowOf(channel)} !== null`)),
      "the sampler did not subscribe again",
    );
  },
});

browserTest(
  "dashboard: the processors panel shows each processor's last statistics, stale and stopped ones marked, as text",
  async () => {
    await using server = await testServer();
    await using browser = await Chromium.launch();
    await using dash = await startDashboard(server.url);
    const [one, two] = await Promise.all([startProcessor(server.url), startProcessor(server.url)]);
    await using _one = one;
    await using _two = two;
    await using pub = testClient(server.url);
    const tab = await openLive(browser, dash.base);
    const publisher = new EventPublisher(pub, { source: "test" });
    for (const key of ["abc123", "def456", "ghi789"]) await publisher.keySubmitted(key);
    await pub.publish("key_submission", "not an event");
    // Whoever can publish can publish statistics: a name with HTML, and a message that is not statistics at all.
    const forged = createEvent("processor_stats", {
      processor: `<img src=x onerror="window.pwned=1">/1`,
      host: "<b>h</b>",
      pid: 1,
      mode: "pubsub",
      state: "running",
      received: 0,
      processed: 0,
      failed: 0,
      malformed: 0,
      dropped: 0,
      handled_per_second: 0,
      in_flight: 0,
      queued: 0,
      uptime_seconds: 1,
      interval_seconds: 60,
    });
    await pub.publish("processor_stats", JSON.stringify(forged));
    await pub.publish("processor_stats", JSON.stringify({ ...forged, pid: -1 }));
    const cells = (id: string) => `[...${processorRow(id)}.cells].map((c) => c.textContent)`;
    for (const { id } of [one, two]) {
      assert.ok(
        await browser.evaluate(tab, pageWaitsFor(`${cells(id)}[4] === "3" && ${cells(id)}[6] === "1"`)),
        `no row for ${id} with 3 processed and 1 malformed: ${await browser.evaluate(
          tab,
          `${processorRow(id)}?.innerText`,
        )}`,
      );
    }
    const [who, mode, state, received, , failed, , dropped, , inFlight, queued] = await browser.evaluate(
      tab,
      cells(one.id),
    ) as string[];
    assert.deepEqual([who, mode, state, received, failed, dropped, inFlight, queued], [
      one.id,
      "pubsub",
      "running",
      "4",
      "0",
      "0",
      "0",
      "0",
    ]);
    assert.ok(await browser.evaluate(tab, `${processorRow(String(forged.processor))} !== null`), "the forged row");
    assert.match(
      String(await browser.evaluate(tab, `document.getElementById("procwarn").textContent`)),
      /1 message\(s\) on processor_stats were not processor statistics and were ignored; the last: \/pid must be >= 0/,
    );

    one.p.kill("SIGKILL"); // gone without a word: stale after three missed statistics
    assert.ok(
      await browser.evaluate(tab, pageWaitsFor(`${cells(one.id)}[2].startsWith("stale · last heard")`)),
      "the killed processor was never marked stale",
    );
    two.p.kill("SIGINT"); // stopped: its last statistics say so
    assert.equal(await two.p.exit(), ExitCode.Ok);
    assert.ok(
      await browser.evaluate(tab, pageWaitsFor(`${cells(two.id)}[2].startsWith("stopped")`)),
      "the stopped processor was never marked stopped",
    );
    assert.match(String(await browser.evaluate(tab, `document.getElementById("procnote").textContent`)), /1 stale/);
    assert.equal(await browser.evaluate(tab, "window.pwned ?? null"), null);
    assert.equal(await browser.evaluate(tab, `document.querySelectorAll("main img, #processors b").length`), 0);
  },
);

browserTest("dashboard: the publish form publishes a payload as it is and shows the result as text", async () => {
  await using server = await testServer();
  await using browser = await Chromium.launch();
  await using dash = await startDashboard(server.url);
  await using listener = testClient(server.url);
  const channel = `${server.prefix}demo<b>x</b>`;
  const heard: string[] = [];
  listener.on("message", (_c: string, payload: string) => heard.push(payload));
  await listener.subscribe(channel);
  const tab = await openLive(browser, dash.base);
  assert.equal(await browser.evaluate(tab, `document.getElementById("s-publish").hidden`), false);
  const payload = `<script>window.pwned=1</script> hello ✓`;
  await browser.evaluate(
    tab,
    `document.getElementById("pubchannel").value = ${JSON.stringify(channel)};
     document.getElementById("pubpayload").value = ${JSON.stringify(payload)};
     document.getElementById("pubsend").click();`,
  );
  const said = `document.getElementById("pubresult").textContent`;
  assert.ok(
    await browser.evaluate(tab, pageWaitsFor(`${said}.startsWith("✓")`)),
    String(await browser.evaluate(tab, said)),
  );
  assert.equal(
    await browser.evaluate(tab, said),
    `✓ published on ${channel} (${
      new TextEncoder().encode(payload).length
    } bytes): 2 receivers, this dashboard among them`,
  );
  assert.deepEqual(heard, [payload]);
  // Too large for the form: said on the page, nothing sent.
  await browser.evaluate(
    tab,
    `document.getElementById("pubpayload").value = "x".repeat(70000); document.getElementById("pubsend").click();`,
  );
  assert.ok(await browser.evaluate(tab, pageWaitsFor(`${said} === "✗ too large: at most 64 KB"`)));
  assert.equal(await browser.evaluate(tab, "window.pwned ?? null"), null);
  assert.equal(await browser.evaluate(tab, `document.querySelectorAll("main b, main script").length`), 0);
  await listener.unsubscribe();

  await using readOnly = await startDashboard(server.url, ["--read-only"]);
  const other = await openLive(browser, readOnly.base);
  assert.equal(await browser.evaluate(other, `document.getElementById("s-publish").hidden`), true);
  const res = await fetch(`${readOnly.base}/publish`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ channel, payload }),
  });
  assert.equal(res.status, 403);
  assert.match((await res.json()).error, /--read-only/);
});

Deno.test({
  name: "dashboard: when the server drops the sampler for falling behind, the page says so and the sampler comes back",
  ignore: !chromiumAvailable || !ownServerAvailable,
  fn: async () => {
    await using server = await testServer({ own: true });
    await using admin = testClient(server.url);
    const [, saved] = await admin.config("GET", "client-output-buffer-limit") as string[];
    await admin.config("SET", "client-output-buffer-limit", "pubsub 64kb 32kb 1");
    try {
      await using browser = await Chromium.launch();
      await using dash = await startDashboard(server.url);
      const tab = await openLive(browser, dash.base);
      const padding = "x".repeat(1000);
      dash.p.kill("SIGSTOP"); // a dashboard that stops reading for a few seconds (Ctrl+Z, a laptop put to sleep)
      const stoppedAt = Date.now();
      try {
        await floodUntilDropped(admin, (p, n) => p.publish(`${server.prefix}flood`, `${n} ${padding}`));
        // The stall itself, not a wait for an event: on Redis 7.0, which does not count such drops, the sampler
        // tells a drop from its own stall of a second or more.
        await delay(2500 - (Date.now() - stoppedAt));
      } finally {
        dash.p.kill("SIGCONT");
      }
      const warning = `document.getElementById("serverwarn").textContent`;
      assert.ok(
        await browser.evaluate(
          tab,
          pageWaitsFor(`/dropped the dashboard's subscriber 1 time/.test(${warning})`, 25_000),
        ),
        `the page never said the sampler was dropped; the dashboard said:\n${dash.p.err.text}`,
      );
      assert.match(dash.p.err.text, /dropped this subscriber because it fell behind/);
      assert.ok(
        await browser.evaluate(
          tab,
          pageWaitsFor(
            `document.getElementById("conn").textContent === "live" && ` +
              `document.getElementById("server").textContent.includes("subscribed to * · 1 outage(s)")`,
            25_000,
          ),
        ),
        "the sampler did not come back",
      );
      await admin.config("SET", "client-output-buffer-limit", saved!);
      const channel = `${server.prefix}after-drop`;
      const shown = pageWaitsFor(`${rowOf(channel)} !== null`, 300);
      let seen = false;
      for (let i = 0; i < 50 && !seen; i++) { // resubscribed: a message sent now is heard (bounded: ~15 s)
        await admin.publish(channel, "back");
        seen = await browser.evaluate(tab, shown) === true;
      }
      assert.ok(seen, "the sampler hears nothing after it came back");
    } finally {
      await admin.config("SET", "client-output-buffer-limit", saved!);
    }
  },
});

Deno.test({
  name: `dashboard: a screenshot of the page in the lab state (the test artefact ${SCREENSHOT}, overwritten each run)`,
  ignore: !chromiumAvailable || !ownServerAvailable,
  fn: async () => {
    await using server = await testServer({ own: true, notifications: "KEA" });
    await using browser = await Chromium.launch();
    const p = server.prefix;
    await using updater = runMain(kvUpdater, ["--url", server.url, "--prefix", `${p}kv:`, "--stats-interval", "0"]);
    await updater.io.err.waitFor(/Listening on channel/);
    await using dash = await startDashboard(server.url, ["--prefix", `${p}kv:`]);
    const every = ["--publish-stats", "1s"];
    const [live, durable, gone] = await Promise.all([
      startProcessor(server.url, every),
      startProcessor(server.url, [...every, "--durable", "--consumer", "worker-2"]),
      startProcessor(server.url, every),
    ]);
    await using _live = live;
    await using _durable = durable;
    await using _gone = gone;
    await using redis = testClient(server.url);
    await using listener = testClient(server.url);
    await listener.subscribe("chat:general", "system_notifications", "update");
    await listener.psubscribe("alerts:*");
    await redis.xgroup("CREATE", "events", "processors", "$", "MKSTREAM");
    for (let i = 0; i < 12; i++) await redis.xadd("events", "*", "payload", JSON.stringify({ n: i }));
    await redis.xreadgroup("GROUP", "processors", "worker-1", "COUNT", 5, "STREAMS", "events", ">");
    for (const args of [[], ["--durable"]]) {
      assert.equal(await demoEvents(["--url", server.url, ...args], captureIo()), ExitCode.Ok);
    }
    gone.p.kill("SIGINT");
    assert.equal(await gone.p.exit(), ExitCode.Ok);
    const tab = await openLive(browser, dash.base);
    const now = Date.now();
    for (
      const [type, values] of [["Weather", { temperature: 21.5, sky: "cloudy" }], ["Moon", { phase: 0.42 }]] as const
    ) {
      const update = {
        type,
        updated: new Date(now).toISOString(),
        valid: new Date(now + 3_600_000).toISOString(),
        values,
      };
      await redis.publish("update", JSON.stringify(update));
    }
    const messages: [string, string][] = [
      ["chat:general", "Hey team, project update at 3 PM!"],
      ["system_notifications", "ALERT: Disk usage is 90%!"],
      ["alerts:cpu_load", '{"level":"WARN","value":"85%"}'],
      ["chat:general", "Anyone free for a quick sync?"],
    ];
    const publisher = new EventPublisher(redis, { source: "lab" });
    for (let round = 0; round < 16; round++) {
      for (const [i, [channel, text]] of messages.entries()) {
        if ((round + i) % 2 === 0) await redis.publish(channel, text);
      }
      await redis.set(`session:${round % 3}`, String(round));
      if (round % 4 === 0) await publisher.keySubmitted(`key-${round}`, "Token1");
      await new Promise((r) => setTimeout(r, 150));
    }
    await redis.del("session:0");
    await browser.evaluate(tab, `document.getElementById("pubsend").click()`); // the form's own example
    assert.ok(
      await browser.evaluate(tab, pageWaitsFor(`document.getElementById("pubresult").textContent.startsWith("✓")`)),
      "the form did not publish",
    );
    assert.ok(
      await browser.evaluate(tab, pageWaitsFor(`document.querySelector('[data-type="Weather"]') !== null`)),
      "no card",
    );
    assert.ok(
      await browser.evaluate(tab, pageWaitsFor(`document.querySelectorAll("#processors tr").length === 3`)),
      "not three processors",
    );
    // The whole page, at the width of a laptop screen.
    const height = Number(await browser.evaluate(tab, "document.documentElement.scrollHeight"));
    const metrics = { width: 1400, height, deviceScaleFactor: 1, mobile: false };
    await browser.send("Emulation.setDeviceMetricsOverride", metrics, tab);
    await new Promise((r) => setTimeout(r, 600)); // one more update, drawn at that size
    const { data } = await browser.send("Page.captureScreenshot", { format: "png" }, tab) as { data: string };
    await Deno.writeFile(SCREENSHOT, Uint8Array.from(atob(data), (c) => c.charCodeAt(0)));
    console.error(`dashboard screenshot: ${SCREENSHOT}`);
    updater.io.stop();
    assert.equal(await updater.exit, ExitCode.Ok);
  },
});
