import assert from "node:assert/strict";
import type { Redis } from "ioredis";
import { main as kvUpdater } from "../../scripts/kv_updater.ts";
import { ExitCode } from "../../lib/core/exit_codes.ts";
import { browserTest, Chromium, chromiumAvailable, pageWaitsFor } from "../chromium.ts";
import { ownServerAvailable, runMain, ScriptProcess, testClient, testServer } from "../harness.ts";

/** The page's row for a channel, as a CSS selector (the name JSON-quoted, which CSS reads alike). */
const rowOf = (channel: string) =>
  `document.querySelector('#channels tr[data-channel=' + ${JSON.stringify(JSON.stringify(channel))} + ']')`;

/** dashboard.ts as a subprocess (its sampling apart from the test's publishing); dispose to stop it. */
async function startDashboard(
  url: string,
  args: string[] = [],
): Promise<{ base: string; p: ScriptProcess } & AsyncDisposable> {
  const p = new ScriptProcess("dashboard.ts", ["--url", url, "--port", "0", "--interval", "250ms", ...args]);
  const stop = async () => {
    p.kill("SIGTERM");
    assert.equal(await p.exit(), ExitCode.Ok, p.err.text);
  };
  try {
    const [, base] = await p.err.waitFor(/Dashboard on (http:\/\/127\.0\.0\.1:\d+)\//, 30_000);
    return { base: base!, p, [Symbol.asyncDispose]: stop };
  } catch (err) {
    await stop().catch(() => {});
    throw err;
  }
}

async function openLive(browser: Chromium, base: string): Promise<string> {
  const tab = await browser.open(`${base}/`);
  await browser.send("Emulation.setDeviceMetricsOverride", {
    width: 1400,
    height: 1180,
    deviceScaleFactor: 1,
    mobile: false,
  }, tab);
  assert.equal(await browser.evaluate(tab, "document.title"), "pubsub-lab · dashboard");
  assert.ok(
    await browser.evaluate(tab, pageWaitsFor(`document.getElementById("conn").textContent === "live"`)),
    "the page never went live",
  );
  return tab;
}

async function publishMany(redis: Redis, channel: string, payload: string, n: number): Promise<void> {
  const pipe = redis.pipeline();
  for (let i = 0; i < n; i++) pipe.publish(channel, payload);
  await pipe.exec();
}

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
    const row = await browser.evaluate(tab, `${rowOf(channel)}?.innerText ?? "(no row)"`);
    assert.ok(shown, `the page never showed a rate for ${channel}: ${row}`);
    assert.ok(ms < 1000, `the rate took ${Math.round(ms)} ms to show`);
    assert.match(String(row), /\b1\b/, `one subscriber: ${row}`);
    await listener.unsubscribe();
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
    const flood = (async () => {
      const start = performance.now();
      for (let batch = 0; batch < 100 && performance.now() - start < 7000; batch++) { // 100 × 1000 = 5 s at 20k/s
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
    while (flooding) {
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
    assert.equal(sent, 100_000);
    const worst = Math.max(...answers);
    console.error(
      `flood: ${answers.length} evaluates, worst ${
        worst.toFixed(1)
      } ms; the sampler's output buffer peaked at ${maxOmem} bytes`,
    );
    assert.ok(answers.length >= 10, `only ${answers.length} evaluates`);
    assert.ok(saidSampling, "the page never said it was sampling");
    assert.ok(worst < 200, `a DevTools evaluate took ${worst.toFixed(1)} ms during the flood`);
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

Deno.test({
  name: "dashboard: a screenshot of the page in the lab state (a test artefact in a temp dir)",
  ignore: !chromiumAvailable || !ownServerAvailable,
  fn: async () => {
    await using server = await testServer({ own: true, notifications: "KEA" });
    await using browser = await Chromium.launch();
    const p = server.prefix;
    await using updater = runMain(kvUpdater, ["--url", server.url, "--prefix", `${p}kv:`, "--stats-interval", "0"]);
    await updater.io.err.waitFor(/Listening on channel/);
    await using dash = await startDashboard(server.url, ["--prefix", `${p}kv:`]);
    await using redis = testClient(server.url);
    await using listener = testClient(server.url);
    await listener.subscribe("chat:general", "system_notifications", "update");
    await listener.psubscribe("alerts:*");
    await redis.xgroup("CREATE", "events", "processors", "$", "MKSTREAM");
    for (let i = 0; i < 12; i++) await redis.xadd("events", "*", "payload", JSON.stringify({ n: i }));
    await redis.xreadgroup("GROUP", "processors", "worker-1", "COUNT", 5, "STREAMS", "events", ">");
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
    for (let round = 0; round < 16; round++) {
      for (const [i, [channel, text]] of messages.entries()) {
        if ((round + i) % 2 === 0) await redis.publish(channel, text);
      }
      await redis.set(`session:${round % 3}`, String(round));
      await new Promise((r) => setTimeout(r, 150));
    }
    await redis.del("session:0");
    assert.ok(
      await browser.evaluate(tab, pageWaitsFor(`document.querySelector('[data-type="Weather"]') !== null`)),
      "no card",
    );
    await new Promise((r) => setTimeout(r, 600));
    const { data } = await browser.send("Page.captureScreenshot", { format: "png" }, tab) as { data: string };
    const dir = await Deno.makeTempDir({ prefix: "pubsub-lab-dashboard-" });
    const path = `${dir}/dashboard.png`;
    await Deno.writeFile(path, Uint8Array.from(atob(data), (c) => c.charCodeAt(0)));
    console.error(`dashboard screenshot: ${path}`);
    updater.io.stop();
    assert.equal(await updater.exit, ExitCode.Ok);
  },
});
