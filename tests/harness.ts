/**
 * The test harness: a real throw-away server for each test, in-process and
 * subprocess runs of the scripts, and waiting on output instead of sleeping.
 *
 * Server choice, in order: `REDIS_URL` if set; else a `keydb-server`,
 * `valkey-server` or `redis-server` from PATH on a free loopback port; else
 * the test fails saying what to install. Nothing is mocked, nothing skipped.
 *
 * @module
 */
import { Redis } from "ioredis";
import { INSTALL_HINT, LocalServer, type LocalServerOptions } from "../lib/core/local_server.ts";
import type { Io, Writer } from "../lib/core/output.ts";
import { withTimeout } from "../lib/core/timing.ts";

/** A server a test talks to; dispose it to stop it. */
export interface TestServer extends AsyncDisposable {
  /** Where to connect. */
  url: string;
  /** The server process, when this run started one (always with `own: true`). */
  local?: LocalServer;
}

/**
 * A server for one test: the `REDIS_URL` one if set (unless `own` asks for
 * a private process, e.g. to restart it or start it with other settings),
 * else a fresh local process.
 *
 * @param options `own: true` for a private server; other fields go to {@linkcode LocalServer.start}
 * @returns the server; `await using` stops it at the end of the test
 */
export async function testServer(options: LocalServerOptions & { own?: boolean } = {}): Promise<TestServer> {
  const external = Deno.env.get("REDIS_URL");
  if (external && !options.own) return { url: external, [Symbol.asyncDispose]: () => Promise.resolve() };
  let local: LocalServer;
  try {
    local = await LocalServer.start(options);
  } catch (err) {
    if (err instanceof Error && err.message === INSTALL_HINT) {
      throw new Error(`The tests need a real server.\n${INSTALL_HINT}\nor set REDIS_URL to a server they may use.`);
    }
    throw err;
  }
  return { url: local.url, local, [Symbol.asyncDispose]: () => local[Symbol.asyncDispose]() };
}

/** Text that grows as it is written, with waiting for a pattern to appear. */
export class TextSink {
  #text = "";
  #waiters: { re: RegExp; resolve: (m: RegExpMatchArray) => void }[] = [];

  /** Everything written so far. */
  get text(): string {
    return this.#text;
  }

  /** Appends text and wakes the waiters whose pattern now matches. */
  push(chunk: string): void {
    this.#text += chunk;
    this.#waiters = this.#waiters.filter((w) => {
      const m = this.#text.match(w.re);
      if (m) w.resolve(m);
      return !m;
    });
  }

  /** Resolves when the text matches `re`; fails after `ms` with what was seen. */
  waitFor(re: RegExp, ms = 10_000): Promise<RegExpMatchArray> {
    const m = this.#text.match(re);
    if (m) return Promise.resolve(m);
    const waiter = { re, resolve: (_: RegExpMatchArray) => {} };
    const found = new Promise<RegExpMatchArray>((resolve) => (waiter.resolve = resolve));
    this.#waiters.push(waiter);
    return withTimeout(found, ms, () => {
      this.#waiters = this.#waiters.filter((w) => w !== waiter);
      return new Error(`Timed out after ${ms} ms waiting for ${re}; output so far:\n${this.#text}`);
    });
  }

  /** Counts the matches of a global pattern. */
  count(re: RegExp): number {
    return this.#text.match(new RegExp(re.source, re.flags.includes("g") ? re.flags : re.flags + "g"))?.length ?? 0;
  }
}

/** An {@linkcode Io} that captures a script's stdout and stderr for assertions. */
export interface CapturedIo extends Io {
  /** What the script wrote to stdout. */
  out: TextSink;
  /** What the script wrote to stderr. */
  err: TextSink;
  /** Stops the script as Ctrl+C would. */
  stop(): void;
  /** Standard input for scripts that read it. */
  stdin?: ReadableStream<Uint8Array>;
}

function sinkWriter(sink: TextSink): Writer {
  const decoder = new TextDecoder();
  return {
    writeSync(p: Uint8Array): number {
      sink.push(decoder.decode(p, { stream: true }));
      return p.length;
    },
    isTerminal: () => false,
  };
}

/**
 * Output capture and a stop button for running a script's `main()` in-process.
 *
 * @param stdin text to give the script as standard input
 * @returns the capturing Io
 */
export function captureIo(stdin?: string): CapturedIo {
  const out = new TextSink();
  const err = new TextSink();
  const controller = new AbortController();
  return {
    stdout: sinkWriter(out),
    stderr: sinkWriter(err),
    signal: controller.signal,
    out,
    err,
    stop: () => controller.abort(),
    ...(stdin !== undefined ? { stdin: new Blob([stdin]).stream() } : {}),
  };
}

/** A script running as a real subprocess (`deno run -A scripts/NAME.ts`). */
export class ScriptProcess implements AsyncDisposable {
  /** Its stdout so far. */
  readonly out = new TextSink();
  /** Its stderr so far. */
  readonly err = new TextSink();
  readonly #child: Deno.ChildProcess;
  readonly #pumps: Promise<void>[];
  #stdin: WritableStreamDefaultWriter<Uint8Array> | undefined;

  /**
   * Starts `scripts/<script>` with `args`.
   *
   * @param script file name under scripts/, e.g. `subscriber.ts`
   * @param args its arguments
   * @param env extra environment variables
   * @param stdin "piped" to write to it with {@linkcode write}
   */
  constructor(script: string, args: string[], env: Record<string, string> = {}, stdin: "piped" | "null" = "null") {
    this.#child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", new URL(`../scripts/${script}`, import.meta.url).pathname, ...args],
      env: { NO_COLOR: "1", ...env },
      stdin,
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    if (stdin === "piped") this.#stdin = this.#child.stdin.getWriter();
    this.#pumps = [pump(this.#child.stdout, this.out), pump(this.#child.stderr, this.err)];
  }

  /** Writes text to its stdin. */
  async write(text: string): Promise<void> {
    await this.#stdin!.write(new TextEncoder().encode(text));
  }

  /** Closes its stdin. */
  async closeStdin(): Promise<void> {
    await this.#stdin?.close();
    this.#stdin = undefined;
  }

  /** Sends a signal (SIGINT by default, as Ctrl+C). */
  kill(signal: Deno.Signal = "SIGINT"): void {
    try {
      this.#child.kill(signal);
    } catch {
      // already exited
    }
  }

  /** Waits for it to exit (at most `ms`), with all its output read; gives the exit code. */
  async exit(ms = 20_000): Promise<number> {
    const status = await withTimeout(this.#child.status, ms, () => {
      this.kill("SIGKILL");
      return new Error(`Script did not exit within ${ms} ms; stderr:\n${this.err.text}`);
    });
    await Promise.all(this.#pumps);
    return status.code;
  }

  /** Kills it if still running and reaps it. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.#stdin?.close().catch(() => {});
    this.kill("SIGKILL");
    await this.#child.status;
    await Promise.all(this.#pumps);
  }
}

async function pump(stream: ReadableStream<Uint8Array>, sink: TextSink): Promise<void> {
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) sink.push(chunk);
}

/**
 * A plain client for a test's own commands: it fails at once instead of
 * retrying, and `await using` closes it.
 *
 * @param url the server
 * @returns the client
 */
export function testClient(url: string): Redis & AsyncDisposable {
  const redis = new Redis(url, { maxRetriesPerRequest: 0, retryStrategy: () => null }) as Redis & AsyncDisposable;
  redis[Symbol.asyncDispose] = async () => void await redis.quit().catch(() => redis.disconnect());
  return redis;
}

/**
 * Runs `body` with a {@linkcode testClient}, closed afterwards.
 *
 * @param url the server
 * @param body what to do with the client
 * @returns what `body` returns
 */
export async function withClient<T>(url: string, body: (redis: Redis) => Promise<T>): Promise<T> {
  await using redis = testClient(url);
  return await body(redis);
}

/** A script's `main()` running in-process; disposing it stops it (as Ctrl+C) and waits for its exit. */
export interface RunningMain extends AsyncDisposable {
  /** Its captured output and stop button. */
  io: CapturedIo;
  /** Its exit code; rejects when it runs longer than the limit given to {@linkcode runMain}. */
  exit: Promise<number>;
}

/**
 * Starts a script's `main()` in-process with captured output. The exit is
 * bounded: a script still running after `limitMs` fails the test instead of
 * hanging the suite.
 *
 * @param main the script's main
 * @param args its arguments
 * @param limitMs how long it may run
 * @returns the running script
 */
export function runMain(
  main: (args: string[], io: CapturedIo) => Promise<number>,
  args: string[],
  limitMs = 60_000,
): RunningMain {
  const io = captureIo();
  const running = main(args, io);
  const exit = withTimeout(running, limitMs, () => {
    io.stop();
    return new Error(`Still running after ${limitMs} ms: ${args.join(" ")}\nstderr:\n${io.err.text}`);
  });
  exit.catch(() => {}); // reported where it is awaited
  return {
    io,
    exit,
    [Symbol.asyncDispose]: async () => {
      io.stop();
      await running;
    },
  };
}

/** A primary and a replica of it, both private to the test; the replica is attached when this resolves. */
export interface ReplicaPair extends AsyncDisposable {
  /** The server that takes writes. */
  primary: TestServer;
  /** A read-only replica of `primary`. */
  replica: TestServer;
}

/**
 * Starts a primary and a replica (`replicaof`) and waits, with `WAIT`, until
 * the replica has acknowledged a write. The primary syncs without the
 * default 5 s diskless-sync delay so tests do not wait for it.
 *
 * @param replicaOptions extra settings for the replica (e.g. notifications)
 * @returns the pair; `await using` stops both
 */
export async function replicaPair(replicaOptions: LocalServerOptions = {}): Promise<ReplicaPair> {
  const primary = await testServer({ own: true, args: ["--repl-diskless-sync-delay", "0"] });
  let replica: TestServer | undefined;
  try {
    replica = await testServer({
      ...replicaOptions,
      own: true,
      args: [...(replicaOptions.args ?? []), "--replicaof", "127.0.0.1", String(primary.local!.port)],
    });
    await withClient(primary.url, async (redis) => {
      await redis.set("replica-pair:sync", "1");
      if (await redis.wait(1, 10_000) !== 1) throw new Error("The replica did not attach within 10 s");
    });
  } catch (err) {
    await replica?.[Symbol.asyncDispose]();
    await primary[Symbol.asyncDispose]();
    throw err;
  }
  const started = replica;
  return {
    primary,
    replica: started,
    [Symbol.asyncDispose]: async () => {
      await started[Symbol.asyncDispose]();
      await primary[Symbol.asyncDispose]();
    },
  };
}
