/**
 * The dashboard as the browser tests drive it: dashboard.ts as a subprocess, its page opened in Chromium, and
 * expressions that find the page's rows.
 *
 * @module
 */
import assert from "node:assert/strict";
import { ExitCode } from "../../lib/core/exit_codes.ts";
import { type Chromium, pageWaitsFor } from "../chromium.ts";
import { ScriptProcess } from "../harness.ts";

/** The row of a table of the page whose `data-<key>` is `value` (JSON-quoted, which CSS reads alike), as an expression. */
export const rowIn = (table: string, key: string, value: string) =>
  `document.querySelector('#${table} tr[data-${key}=' + ${JSON.stringify(JSON.stringify(value))} + ']')`;
/** The page's row for a channel. */
export const rowOf = (channel: string) => rowIn("channels", "channel", channel);
/** The page's row for a processor (`host/pid`). */
export const processorRow = (id: string) => rowIn("processors", "processor", id);

/** dashboard.ts as a subprocess (its sampling apart from the test's publishing); dispose to stop it. */
export async function startDashboard(
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

/**
 * Opens the page in a new tab at a projector's size and waits until it is live.
 *
 * @param browser the browser
 * @param base the dashboard's address
 * @returns the tab
 */
export async function openLive(browser: Chromium, base: string): Promise<string> {
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
