import assert from "node:assert/strict";
import { main as apiServer } from "../../scripts/api_server.ts";
import { main as kvUpdater } from "../../scripts/kv_updater.ts";
import { main as publisher } from "../../scripts/publisher.ts";
import { ExitCode } from "../../lib/core/exit_codes.ts";
import { browserTest, Chromium, chromiumAvailable, pageWaitsFor } from "../chromium.ts";
import { captureIo, ownServerAvailable, runMain, type TestServer, testServer } from "../harness.ts";

/** kv_updater and api_server running in-process on their own channel and prefix; dispose to stop both cleanly. */
async function startChain(
  server: TestServer,
  name: string,
): Promise<{ base: string; channel: string } & AsyncDisposable> {
  const channel = `${server.prefix}${name}:update`;
  const args = ["--url", server.url, "--channel", channel, "--prefix", `${server.prefix}${name}:`];
  const updater = runMain(kvUpdater, [...args, "--stats-interval", "0"]);
  const api = runMain(apiServer, [...args, "--port", "0"]);
  const stop = async () => {
    api.io.stop();
    updater.io.stop();
    assert.equal(await api.exit, ExitCode.Ok);
    assert.equal(await updater.exit, ExitCode.Ok);
  };
  try {
    await updater.io.err.waitFor(/Listening on channel/);
    const [, base] = await api.io.err.waitFor(/listening on (http:\/\/127\.0\.0\.1:\d+)\//);
    return { base: base!, channel, [Symbol.asyncDispose]: stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

browserTest("the live page, in headless Chromium, shows a value published after it opened", async () => {
  await using browser = await Chromium.launch();
  await using server = await testServer();
  await using chain = await startChain(server, "lp");
  const tab = await browser.open(`${chain.base}/`);
  assert.equal(await browser.evaluate(tab, "document.title"), "pubsub-lab · live values");
  assert.ok(
    await browser.evaluate(tab, pageWaitsFor(`document.getElementById("status").textContent === "live"`)),
    "the page never connected to /events",
  );
  const message = JSON.stringify({
    type: "Greenhouse",
    updated: new Date().toISOString(),
    valid: new Date(Date.now() + 3_600_000).toISOString(),
    values: { temperature: 23.5, door: "open" },
  });
  assert.equal(await publisher(["--url", server.url, chain.channel, message], captureIo()), ExitCode.Ok);
  const shown = await browser.evaluate(
    tab,
    pageWaitsFor(`document.querySelector('[data-type="Greenhouse"]').textContent.includes("23.5")`),
  );
  const card = await browser.evaluate(tab, `document.querySelector('[data-type="Greenhouse"]')?.innerText ?? ""`);
  assert.ok(shown, `the page did not show the update; it shows: ${card}`);
  assert.match(String(card), /Greenhouse/);
  assert.match(String(card), /temperature\s+23\.5/);
  assert.match(String(card), /door\s+open/);
  assert.match(String(card), /updated .* ago/);
});

browserTest(
  "the live page reads a time without a zone as UTC, as kv_updater does, whatever the browser's zone",
  async () => {
    // A browser 5 hours behind UTC: read as local time, a time that passed 30 minutes ago would still be valid.
    const zone = Deno.env.get("TZ");
    Deno.env.set("TZ", "America/New_York");
    let browser: Chromium;
    try {
      browser = await Chromium.launch();
    } finally {
      if (zone === undefined) Deno.env.delete("TZ");
      else Deno.env.set("TZ", zone);
    }
    await using _browser = browser;
    await using server = await testServer();
    await using chain = await startChain(server, "tz");
    const zoneless = (ms: number) => new Date(ms).toISOString().slice(0, 19); // no Z
    const message = JSON.stringify({
      type: "Zoneless",
      updated: zoneless(Date.now() - 3_600_000),
      valid: zoneless(Date.now() - 1_800_000),
      values: { v: 1 },
    });
    assert.equal(await publisher(["--url", server.url, chain.channel, message], captureIo()), ExitCode.Ok);
    const tab = await browser.open(`${chain.base}/`);
    assert.equal(await browser.evaluate(tab, "new Date(2024, 0, 1).getTimezoneOffset()"), 300, "the zone was not set");
    const shown = await browser.evaluate(
      tab,
      pageWaitsFor(`document.querySelector('[data-type="Zoneless"]').textContent.includes("expired 30 min ago")`),
    );
    const card = await browser.evaluate(tab, `document.querySelector('[data-type="Zoneless"]')?.innerText ?? ""`);
    assert.ok(shown, `the page does not show the update as expired 30 min ago; it shows: ${card}`);
  },
);

Deno.test({
  name: "the live page says when the Redis server is lost and when it is back, not only whether it reaches api_server",
  ignore: !chromiumAvailable || !ownServerAvailable,
  fn: async () => {
    await using server = await testServer({ own: true });
    await using browser = await Chromium.launch();
    await using chain = await startChain(server, "down");
    // Under localhost, a name the API server answers to besides 127.0.0.1.
    const tab = await browser.open(`${chain.base.replace("127.0.0.1", "localhost")}/`);
    const status = `document.getElementById("status")`;
    const shows = (check: string, ms?: number) => browser.evaluate(tab, pageWaitsFor(check, ms));
    const said = () => browser.evaluate(tab, `${status}.textContent`);
    assert.ok(await shows(`${status}.textContent === "live"`), `not live: ${await said()}`);
    await server.local!.stop();
    assert.ok(
      await shows(`${status}.textContent.startsWith("Redis server lost since ") && ${status}.className === "down"`),
      `the page did not say the server was lost: ${await said()}`,
    );
    assert.match(String(await said()), /^Redis server lost since \d\d:\d\d:\d\d: .*values shown may be out of date$/);
    await server.local!.start();
    assert.ok(
      await shows(
        `${status}.textContent.startsWith("live · Redis server back since ") && ${status}.className === "live"`,
        30_000,
      ),
      `the page did not say the server was back: ${await said()}`,
    );
  },
});
