/**
 * A real headless Chromium driven over the DevTools protocol with Deno's own
 * WebSocket: no npm package, no browser download. When Chromium is missing,
 * the browser tests fail in CI (`CI=true`) and are ignored elsewhere, with the
 * install command either way.
 *
 * @module
 */
import { withTimeout } from "../lib/core/timing.ts";

/** Where Chromium is looked for: `$CHROMIUM`, then these on PATH. */
const CANDIDATES = ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"];

/** What to do when no browser is found. */
export const CHROMIUM_HINT = "The browser test needs Chromium. Install it with:\n" +
  "  sudo apt-get update && sudo apt-get install -y chromium      (Debian/Ubuntu: /usr/bin/chromium)\n" +
  "or point $CHROMIUM at a Chrome/Chromium binary.";

async function findChromium(): Promise<string> {
  const explicit = Deno.env.get("CHROMIUM");
  if (explicit) {
    if (await Deno.stat(explicit).then((s) => s.isFile, () => false)) return explicit;
    throw new Error(`$CHROMIUM is "${explicit}", which is not a file.\n${CHROMIUM_HINT}`);
  }
  for (const name of CANDIDATES) {
    for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
      const path = `${dir}/${name}`;
      if (dir && await Deno.stat(path).then((s) => s.isFile, () => false)) return path;
    }
  }
  throw new Error(CHROMIUM_HINT);
}

/**
 * Whether the browser tests run: Chromium is found (or `$CHROMIUM` names one),
 * or it is CI, where a missing browser must fail the run.
 */
export const chromiumAvailable: boolean = Deno.env.get("CI") === "true" || Deno.env.get("CHROMIUM") !== undefined ||
  await findChromium().then(() => true, () => false);

if (!chromiumAvailable) console.error(`The browser tests are ignored. ${CHROMIUM_HINT}`);

/**
 * Registers a test that drives Chromium: ignored (with the install line,
 * printed once) when it is missing outside CI.
 *
 * @param name the test's name
 * @param fn the test
 */
export function browserTest(name: string, fn: () => Promise<void>): void {
  Deno.test({ name, ignore: !chromiumAvailable, fn });
}

interface Pending {
  resolve: (value: Record<string, unknown>) => void;
  reject: (err: Error) => void;
}

/** A headless browser process and its DevTools connection; dispose to close both. */
export class Chromium implements AsyncDisposable {
  #id = 0;
  #pending = new Map<number, Pending>();
  #listeners: ((method: string, params: Record<string, unknown>, sessionId?: string) => void)[] = [];
  #closed: Promise<void>;

  private constructor(
    private readonly child: Deno.ChildProcess,
    private readonly socket: WebSocket,
    private readonly profile: string,
    private readonly stderr: Promise<void>,
  ) {
    this.#closed = new Promise((resolve) => socket.addEventListener("close", () => resolve(), { once: true }));
    socket.addEventListener("message", (e) => {
      const msg = JSON.parse(e.data as string);
      if (msg.id !== undefined) {
        const pending = this.#pending.get(msg.id);
        this.#pending.delete(msg.id);
        if (msg.error) pending?.reject(new Error(`${msg.error.message} (${JSON.stringify(msg.error.data ?? "")})`));
        else pending?.resolve(msg.result);
      } else for (const listener of this.#listeners) listener(msg.method, msg.params, msg.sessionId);
    });
  }

  /**
   * Starts Chromium headless with a fresh profile and connects to it.
   *
   * @returns the browser
   * @throws with {@linkcode CHROMIUM_HINT} when no Chromium is installed
   */
  static async launch(): Promise<Chromium> {
    const binary = await findChromium();
    const profile = await Deno.makeTempDir({ prefix: "pubsub-lab-chromium-" });
    const child = new Deno.Command(binary, {
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        `--user-data-dir=${profile}`,
        "--remote-debugging-port=0",
        "about:blank",
      ],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    let log = "";
    let found: (url: string) => void = () => {};
    const endpoint = new Promise<string>((resolve) => (found = resolve));
    const stderr = (async () => {
      for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
        log += chunk;
        const m = log.match(/DevTools listening on (ws:\/\/\S+)/);
        if (m) found(m[1]!);
      }
    })();
    try {
      const url = await withTimeout(endpoint, 30_000, () => new Error(`Chromium did not start:\n${log}`));
      const socket = new WebSocket(url);
      await new Promise<void>((resolve, reject) => {
        socket.addEventListener("open", () => resolve(), { once: true });
        socket.addEventListener("error", () => reject(new Error(`Cannot connect to Chromium at ${url}`)), {
          once: true,
        });
      });
      return new Chromium(child, socket, profile, stderr);
    } catch (err) {
      child.kill("SIGKILL");
      await child.status;
      await stderr;
      await Deno.remove(profile, { recursive: true }).catch(() => {});
      throw err;
    }
  }

  /** Sends one DevTools command and waits for its result. */
  send(method: string, params: Record<string, unknown> = {}, sessionId?: string): Promise<Record<string, unknown>> {
    const id = ++this.#id;
    const reply = new Promise<Record<string, unknown>>((resolve, reject) => this.#pending.set(id, { resolve, reject }));
    this.socket.send(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }));
    return withTimeout(reply, 30_000, () => new Error(`DevTools command ${method} unanswered`));
  }

  /** Resolves on the next event `method` (of `sessionId`), within `ms`. */
  waitForEvent(method: string, sessionId: string, ms = 30_000): Promise<Record<string, unknown>> {
    let listener: (m: string, p: Record<string, unknown>, s?: string) => void = () => {};
    const seen = new Promise<Record<string, unknown>>((resolve) => {
      listener = (m, p, s) => {
        if (m === method && s === sessionId) resolve(p);
      };
      this.#listeners.push(listener);
    });
    return withTimeout(seen, ms, () => new Error(`No ${method} within ${ms} ms`)).finally(() => {
      this.#listeners = this.#listeners.filter((l) => l !== listener);
    });
  }

  /**
   * Opens a tab on `url` and waits for its load event.
   *
   * @param url the page
   * @returns the tab's session id, for {@linkcode evaluate}
   */
  async open(url: string): Promise<string> {
    const { targetId } = await this.send("Target.createTarget", { url: "about:blank" });
    const { sessionId } = await this.send("Target.attachToTarget", { targetId, flatten: true }) as {
      sessionId: string;
    };
    await this.send("Page.enable", {}, sessionId);
    const loaded = this.waitForEvent("Page.loadEventFired", sessionId);
    await this.send("Page.navigate", { url }, sessionId);
    await loaded;
    return sessionId;
  }

  /**
   * Evaluates an expression in the tab (awaiting a promise) and returns its value.
   *
   * @param sessionId the tab
   * @param expression JavaScript
   * @returns the value, by value
   */
  async evaluate(sessionId: string, expression: string): Promise<unknown> {
    const reply = await this.send(
      "Runtime.evaluate",
      { expression, awaitPromise: true, returnByValue: true },
      sessionId,
    );
    if (reply.exceptionDetails) throw new Error(`Page script failed: ${JSON.stringify(reply.exceptionDetails)}`);
    return (reply.result as { value?: unknown }).value;
  }

  /** Closes the browser, its connection and its profile. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.send("Browser.close").catch(() => {});
    const exited = await withTimeout(this.child.status, 10_000, () => new Error("still running")).then(
      () => true,
      () => false,
    );
    if (!exited) {
      this.child.kill("SIGKILL");
      await this.child.status;
    }
    if (this.socket.readyState !== WebSocket.CLOSED) this.socket.close();
    await this.#closed;
    await this.stderr;
    await Deno.remove(this.profile, { recursive: true }).catch(() => {});
  }
}

/**
 * A page-side expression that resolves true once `check` holds (watched with
 * a MutationObserver, no polling), false after `ms`: for `evaluate()`.
 *
 * @param check a JavaScript expression evaluated in the page
 * @param ms how long to wait at most
 * @returns the expression
 */
export function pageWaitsFor(check: string, ms = 15_000): string {
  return `new Promise((resolve) => {
    const check = () => { try { return ${check}; } catch { return false; } };
    if (check()) return resolve(true);
    const observer = new MutationObserver(() => { if (check()) { observer.disconnect(); clearTimeout(timer); resolve(true); } });
    observer.observe(document, { subtree: true, childList: true, characterData: true, attributes: true });
    const timer = setTimeout(() => { observer.disconnect(); resolve(false); }, ${ms});
  })`;
}
