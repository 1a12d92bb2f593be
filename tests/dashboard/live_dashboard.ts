/**
 * The dashboard as the tests drive it: dashboard.ts as a subprocess, its page opened in Chromium, expressions that
 * find the page's rows, and its `/events` read as the page reads it.
 *
 * @module
 */
import assert from "node:assert/strict";
import { ExitCode } from "../../lib/core/exit_codes.ts";
import { type Chromium, pageWaitsFor } from "../chromium.ts";
import { ScriptProcess } from "../harness.ts";
import { withTimeout } from "../../lib/core/timing.ts";

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

/** The dashboard's `/events` as a page reads it: each `state` event's size in bytes, and the parts merged. */
export class StateStream implements AsyncDisposable {
  /** The size of each `state` event's data, in bytes, in order. */
  readonly sizes: number[] = [];
  /** The parts received so far, each the last sent (null: gone). */
  readonly state: Record<string, unknown> = {};
  #waiters: (() => void)[] = [];
  readonly #abort = new AbortController();
  readonly #done: Promise<void>;

  private constructor(base: string) {
    this.#done = (async () => {
      const res = await fetch(`${base}/events`, { signal: this.#abort.signal });
      let buffer = "";
      for await (const chunk of res.body!.pipeThrough(new TextDecoderStream())) {
        buffer += chunk;
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          if (!/^event: state$/m.test(block)) continue;
          const data = block.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n");
          this.sizes.push(new TextEncoder().encode(data).length);
          Object.assign(this.state, JSON.parse(data));
          for (const wake of this.#waiters.splice(0)) wake();
        }
      }
    })().catch(() => {});
  }

  /**
   * Follows a dashboard's `/events`.
   *
   * @param base the dashboard's address
   * @returns the stream
   */
  static open(base: string): StateStream {
    return new StateStream(base);
  }

  /**
   * Waits until the merged state passes `check` after a `state` event.
   *
   * @param check what to wait for
   * @param what what it is, for the error
   * @param ms how long at most
   */
  async waitFor(check: (state: Record<string, unknown>) => boolean, what: string, ms = 15_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!check(this.state)) {
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(`No ${what} within ${ms} ms; the state has ${JSON.stringify(this.state).slice(0, 500)}`);
      }
      await withTimeout(
        new Promise<void>((resolve) => this.#waiters.push(resolve)),
        left,
        () => new Error(`No ${what}`),
      )
        .catch(() => {});
    }
  }

  /**
   * Waits for `count` more `state` events.
   *
   * @param count how many
   * @returns their sizes in bytes
   */
  async next(count: number): Promise<number[]> {
    const from = this.sizes.length;
    await this.waitFor(() => this.sizes.length >= from + count, `${count} more state events`);
    return this.sizes.slice(from, from + count);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.#abort.abort();
    await this.#done;
  }
}
