/**
 * The test harness: a real throw-away server for each test, in-process and
 * subprocess runs of the scripts, and waiting on output instead of sleeping.
 *
 * Servers: a test's own process is a `keydb-server`, `valkey-server` or
 * `redis-server` from PATH (`SERVER=keydb|valkey|redis` picks one) on a free
 * loopback port. With `REDIS_URL` set, the tests that need no process of their
 * own use that server instead, each under a key and channel prefix of its own
 * that is deleted afterwards, with `notify-keyspace-events` restored. The tests
 * that start, stop, pause or reconfigure their server are registered with
 * {@linkcode ownServerTest}: with `REDIS_URL` and no binary they are ignored
 * (and listed), in CI (`CI=true`) they fail saying what to install.
 *
 * @module
 */
import { Redis } from "ioredis";
import { redactUrl } from "../lib/core/config.ts";
import {
  answersPing,
  findServerBinary,
  freePort,
  INSTALL_HINT,
  LocalServer,
  type LocalServerOptions,
} from "../lib/core/local_server.ts";
import type { Io, Writer } from "../lib/core/output.ts";
import {
  CLUSTER_BINARIES,
  CLUSTER_INSTALL_HINT,
  LocalCluster,
  type LocalClusterOptions,
} from "../lib/cluster/local_cluster.ts";
import { readServerIdentity } from "../lib/core/server_identity.ts";
import { PublishLane } from "../lib/pubsub/publish_lane.ts";
import { encodePublishBatch } from "../lib/wire/publish_batch.ts";
import { delay, withTimeout } from "../lib/core/timing.ts";

const SHARED_URL = Deno.env.get("REDIS_URL") || undefined;
const SHARED_REPLICA_URL = Deno.env.get("REDIS_URL_REPLICA") || undefined;
const BINARY = await findServerBinary();
const CLUSTER_BINARY = Deno.env.get("SERVER")?.startsWith("keydb")
  ? undefined
  : await findServerBinary(CLUSTER_BINARIES);

/**
 * Whether tests may start server processes of their own: a binary is on PATH,
 * or nothing else is (no `REDIS_URL`) or it is CI, where a missing binary must
 * fail the run rather than skip tests.
 */
export const ownServerAvailable: boolean = BINARY !== undefined || SHARED_URL === undefined ||
  Deno.env.get("CI") === "true";

/**
 * Whether the cluster suites run: a valkey-server or redis-server is on PATH
 * (KeyDB does not run the local cluster), or it is CI, where a missing one
 * must fail the run, or nothing else is (no `REDIS_URL`, no `SERVER=keydb`).
 */
export const clusterAvailable: boolean = CLUSTER_BINARY !== undefined || Deno.env.get("CI") === "true" ||
  (SHARED_URL === undefined && !Deno.env.get("SERVER")?.startsWith("keydb"));

/** Whether two-node tests run: on the `REDIS_URL` / `REDIS_URL_REPLICA` pair, or on a pair of their own. */
export const twoNodesAvailable: boolean = ownServerAvailable || SHARED_REPLICA_URL !== undefined;

const OWN_PROCESS = "their own server process";
const CLUSTER_NEED = "a local cluster (valkey-server or redis-server)";

const ignoredHere: { name: string; need: string }[] = [];

/** Says once per run (the environment is shared by every test file's worker) what is ignored and why. */
function noteIgnored(name: string, need = OWN_PROCESS): void {
  ignoredHere.push({ name, need });
  if (ignoredHere.length > 1) return;
  if (!Deno.env.get("PUBSUB_LAB_TEST_IGNORES")) {
    Deno.env.set("PUBSUB_LAB_TEST_IGNORES", "1");
    const having = SHARED_URL ? `REDIS_URL (${redactUrl(SHARED_URL)})` : `SERVER=${Deno.env.get("SERVER")}`;
    const missing = [
      ...(BINARY ? [] : [`no server binary: the tests that start, stop, pause or reconfigure a server of their own`]),
      ...(CLUSTER_BINARY ? [] : [`no valkey-server or redis-server: the cluster tests`]),
    ];
    const hints = [...(BINARY ? [] : [INSTALL_HINT]), ...(CLUSTER_BINARY ? [] : [CLUSTER_INSTALL_HINT])];
    console.error(
      `${having} and ${missing.join("; ")} are ignored (listed below per file), the others use what there is.\n` +
        `To run them all: ${hints.join("\n")}`,
    );
  }
  globalThis.addEventListener("load", () => {
    const file = Deno.mainModule.replace(/^.*\/tests\//, "tests/");
    for (const need of new Set(ignoredHere.map((i) => i.need))) {
      const names = ignoredHere.filter((i) => i.need === need).map((i) => i.name);
      console.error(`Ignored in ${file}, needing ${need}:\n  - ${names.join("\n  - ")}`);
    }
  });
}

/**
 * Registers a test that needs a server process of its own (to start, stop,
 * pause or reconfigure it): ignored when the run has only `REDIS_URL`.
 *
 * @param name the test's name
 * @param fn the test
 */
export function ownServerTest(name: string, fn: (t: Deno.TestContext) => void | Promise<void>): void {
  if (!ownServerAvailable) noteIgnored(name);
  Deno.test({ name, ignore: !ownServerAvailable, fn });
}

/**
 * Registers a test that needs two nodes ({@linkcode twoNodes}): ignored when
 * the run has neither `REDIS_URL_REPLICA` nor a server binary.
 *
 * @param name the test's name
 * @param fn the test
 */
export function twoNodeTest(name: string, fn: (t: Deno.TestContext) => void | Promise<void>): void {
  if (!twoNodesAvailable) noteIgnored(name);
  Deno.test({ name, ignore: !twoNodesAvailable, fn });
}

/** A server a test talks to; dispose it to stop it (or, on a shared server, to delete the test's keys). */
export interface TestServer extends AsyncDisposable {
  /** Where to connect. */
  url: string;
  /** A key and channel prefix unique to this test: name everything the test writes with it. */
  prefix: string;
  /** The server process, when this test started one (always with `own: true`). */
  local?: LocalServer;
}

/** Options of {@linkcode testServer}. */
export interface TestServerOptions extends LocalServerOptions {
  /** A private process (to stop, restart, pause it or start it with `args`); register the test with {@linkcode ownServerTest}. */
  own?: boolean;
}

/**
 * A server for one test: the `REDIS_URL` one if set (unless `own` asks for a
 * private process), else a fresh local process. On the shared server
 * `notify-keyspace-events` is set as a fresh process would have it
 * (`notifications`, default off) and restored afterwards.
 *
 * @param options `own: true` for a private server; other fields go to {@linkcode LocalServer.start}
 * @returns the server; `await using` stops it (or cleans up after the test) at the end
 */
export async function testServer(options: TestServerOptions = {}): Promise<TestServer> {
  const own = options.own || options.args !== undefined || options.port !== undefined;
  await announce();
  if (SHARED_URL && !own) return await sharedServer(SHARED_URL, uniquePrefix(), options.notifications);
  if (!ownServerAvailable) {
    throw new Error("This test needs a server process of its own: register it with ownServerTest().");
  }
  let local: LocalServer;
  try {
    local = await LocalServer.start(options);
  } catch (err) {
    if (err instanceof Error && err.message === INSTALL_HINT) {
      throw new Error(`The tests need a real server.\n${INSTALL_HINT}\nor set REDIS_URL to a server they may use.`);
    }
    throw err;
  }
  return { url: local.url, prefix: uniquePrefix(), local, [Symbol.asyncDispose]: () => local[Symbol.asyncDispose]() };
}

/** A key and channel prefix of its own, for one test or step. */
export function uniquePrefix(): string {
  return `t${crypto.randomUUID().slice(0, 8)}:`;
}

/** Prints once per run (at the first test that asks for a server) which servers and versions the tests use. */
async function announce(): Promise<void> {
  if (Deno.env.get("PUBSUB_LAB_TEST_SERVER")) return;
  const parts: string[] = [];
  if (SHARED_URL) {
    const who = await withClient(SHARED_URL, serverName).catch((err) => `not answering: ${err.message}`);
    parts.push(`REDIS_URL ${redactUrl(SHARED_URL)} (${who})${BINARY ? " for the tests that can share it" : ""}`);
  }
  if (BINARY) {
    const own = SHARED_URL ? " for the tests that need their own" : "";
    parts.push(`${await binaryVersion(BINARY)} (${BINARY})${own}; SERVER=keydb|valkey|redis picks another`);
  }
  const line = `Test servers: ${parts.join("; ")}`;
  Deno.env.set("PUBSUB_LAB_TEST_SERVER", line);
  console.error(line);
}

/** E.g. `KeyDB 6.3.4`, from `keydb-server --version` ("KeyDB server v=6.3.4 sha=…"). */
async function binaryVersion(binary: string): Promise<string> {
  const { stdout } = await new Deno.Command(binary, { args: ["--version"], stderr: "null" }).output();
  const m = new TextDecoder().decode(stdout).match(/^(\S+) server v=(\S+)/);
  return m ? `${m[1]} ${m[2]}` : "an unknown version";
}

async function serverName(redis: Redis): Promise<string> {
  const who = await readServerIdentity(redis);
  return who ? `${who.name} ${who.version}` : "an unknown server";
}

/**
 * A server shared with others (the `REDIS_URL` one) used for one test: sets
 * `notify-keyspace-events` to `notifications` (as a fresh process would have
 * it) and, when disposed, deletes every key under `prefix` and puts
 * `notify-keyspace-events` back as it was.
 *
 * @param url the shared server
 * @param prefix the test's key prefix
 * @param notifications `notify-keyspace-events` during the test (default: off)
 * @returns the server; `await using` cleans up after the test
 */
export async function sharedServer(url: string, prefix: string, notifications = ""): Promise<TestServer> {
  const saved = await withClient(url, async (redis) => {
    const value = await configGet(redis);
    if (value !== undefined && value !== notifications) {
      await redis.config("SET", "notify-keyspace-events", notifications);
    }
    return value;
  });
  return {
    url,
    prefix,
    [Symbol.asyncDispose]: () =>
      withClient(url, async (redis) => {
        await deleteKeys(redis, prefix);
        if (saved !== undefined && await configGet(redis) !== saved) {
          await redis.config("SET", "notify-keyspace-events", saved);
        }
      }),
  };
}

/** `notify-keyspace-events`, or undefined where CONFIG is refused. */
async function configGet(redis: Redis): Promise<string | undefined> {
  try {
    return ((await redis.config("GET", "notify-keyspace-events")) as string[])[1];
  } catch {
    return undefined;
  }
}

/** Deletes every key starting with `prefix` (bounded: at most 1000 SCAN rounds). */
async function deleteKeys(redis: Redis, prefix: string): Promise<void> {
  let cursor = "0";
  for (let round = 0; round < 1000; round++) {
    const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", 1000);
    if (keys.length) await redis.unlink(...keys);
    cursor = next;
    if (cursor === "0") return;
  }
}

/** What a {@linkcode clusterSuite}'s body gets: steps, each with a key prefix of its own. */
export interface ClusterSuite {
  /** The test's context. */
  readonly context: Deno.TestContext;
  /**
   * Runs one step of the suite on its cluster.
   *
   * @param name the step's name
   * @param fn the step; `prefix` names the keys and channels it writes
   * @returns whether it passed
   */
  step(name: string, fn: (prefix: string, t: Deno.TestContext) => void | Promise<void>): Promise<boolean>;
}

/**
 * Registers one test that starts a {@linkcode LocalCluster} and runs the
 * body's steps on it, so that a test file forms its cluster once (sanitizers
 * are per test: each step is checked, the cluster is stopped at the end).
 * Ignored when there is no valkey-server or redis-server and the run has
 * `REDIS_URL` (or `SERVER=keydb`); in CI (`CI=true`) it fails saying what to install.
 *
 * @param name the test's name
 * @param fn the body: `t.step(name, (prefix) => …)` for each case
 * @param options how to start the cluster (default: 3 masters, no replicas)
 * @example
 * ```ts ignore
 * clusterSuite("keys spread over the masters", async (t, cluster) => {
 *   await t.step("SET and GET", async (prefix) => { ... cluster.seedUrl ... });
 * }, { replicas: 1, nodeTimeoutMs: 1000 });
 * ```
 */
export function clusterSuite(
  name: string,
  fn: (t: ClusterSuite, cluster: LocalCluster) => Promise<void>,
  options: LocalClusterOptions = {},
): void {
  if (!clusterAvailable) noteIgnored(name, CLUSTER_NEED);
  Deno.test({
    name,
    ignore: !clusterAvailable,
    async fn(context) {
      await announce();
      await using cluster = await LocalCluster.start(options);
      await fn({ context, step: (stepName, body) => context.step(stepName, (t) => body(uniquePrefix(), t)) }, cluster);
    },
  });
}

/**
 * Registers a test that starts clusters itself (e.g. through `deno task
 * cluster`): ignored, and failing in CI, as {@linkcode clusterSuite}.
 *
 * @param name the test's name
 * @param fn the test
 */
export function clusterTest(name: string, fn: (t: Deno.TestContext) => void | Promise<void>): void {
  if (!clusterAvailable) noteIgnored(name, CLUSTER_NEED);
  Deno.test({ name, ignore: !clusterAvailable, fn });
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
    const { found, forget } = this.when(re);
    return withTimeout(found, ms, () => {
      forget();
      return new Error(`Timed out after ${ms} ms waiting for ${re}; output so far:\n${this.#text}`);
    });
  }

  /**
   * Resolves when the text matches `re`, with no time limit of its own (for a race with something that is bounded).
   *
   * @param re the pattern
   * @returns the match, and how to stop waiting
   */
  when(re: RegExp): { found: Promise<RegExpMatchArray>; forget: () => void } {
    const m = this.#text.match(re);
    if (m) return { found: Promise.resolve(m), forget: () => {} };
    const waiter = { re, resolve: (_: RegExpMatchArray) => {} };
    const found = new Promise<RegExpMatchArray>((resolve) => (waiter.resolve = resolve));
    this.#waiters.push(waiter);
    return { found, forget: () => void (this.#waiters = this.#waiters.filter((w) => w !== waiter)) };
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

/**
 * A script running as a real subprocess (`deno run -A scripts/NAME.ts`), or
 * a task of deno.json (`deno task NAME`) in its own process group, as a
 * terminal runs it: then {@linkcode kill} signals the whole group, as Ctrl+C does.
 */
export class ScriptProcess implements AsyncDisposable {
  /** Its stdout so far. */
  readonly out = new TextSink();
  /** Its stderr so far. */
  readonly err = new TextSink();
  readonly #child: Deno.ChildProcess;
  readonly #pumps: Promise<void>[];
  readonly #group: boolean;
  #stdin: WritableStreamDefaultWriter<Uint8Array> | undefined;

  /**
   * Starts `scripts/<script>` with `args`.
   *
   * @param script file name under scripts/, e.g. `subscriber.ts`; with `via: "task"`, a task name, e.g. `server`
   * @param args its arguments
   * @param env extra environment variables
   * @param stdin "piped" to write to it with {@linkcode write}
   * @param via "task" to run it through `deno task` in a process group of its own
   */
  constructor(
    script: string,
    args: string[],
    env: Record<string, string> = {},
    stdin: "piped" | "null" = "null",
    via: "run" | "task" = "run",
  ) {
    this.#group = via === "task";
    this.#child = new Deno.Command(Deno.execPath(), {
      args: this.#group
        ? ["task", script, ...args]
        : ["run", "-A", new URL(`../scripts/${script}`, import.meta.url).pathname, ...args],
      cwd: this.#group ? new URL("..", import.meta.url).pathname : undefined, // where deno.json is
      env: { NO_COLOR: "1", ...env },
      stdin,
      stdout: "piped",
      stderr: "piped",
      detached: this.#group,
    }).spawn();
    if (stdin === "piped") this.#stdin = this.#child.stdin.getWriter();
    this.#pumps = [pump(this.#child.stdout, this.out), pump(this.#child.stderr, this.err)];
  }

  /** Its process id (the deno process running the script; with `via: "task"`, `deno task`). */
  get pid(): number {
    return this.#child.pid;
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

  /** Sends a signal (SIGINT by default, as Ctrl+C): to the whole process group of a task. */
  kill(signal: Deno.Signal = "SIGINT"): void {
    try {
      if (this.#group) Deno.kill(-this.#child.pid, signal);
      else this.#child.kill(signal);
    } catch {
      // already exited
    }
  }

  /** Resolves with its exit code when it ends (no time limit: see {@linkcode ScriptProcess.exit}). */
  get ended(): Promise<number> {
    return this.#child.status.then((s) => s.code);
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
  redis[Symbol.asyncDispose] = () => closeClient(redis);
  return redis;
}

/**
 * Closes an ioredis client whatever state it is in, and waits until it has
 * ended. It never calls `disconnect()` on a client that has already ended:
 * ioredis would arm a `disconnectTimeout` timer (2 s by default) on the closed
 * socket that nothing clears, which the leak sanitizer reports — the race when
 * a test has stopped its server before its clients are disposed.
 *
 * @param redis the client
 */
export async function closeClient(redis: Redis): Promise<void> {
  if (redis.status === "end") return;
  if (redis.status === "reconnecting") {
    // Its socket is closed already: disconnect() arms that timer and never emits "end"; wait the timer out.
    redis.disconnect();
    await delay((redis.options.disconnectTimeout ?? 2000) + 50);
    return;
  }
  const ended = new Promise<void>((resolve) => redis.once("end", () => resolve()));
  if (redis.status === "ready") {
    await withTimeout(redis.quit(), 1000, () => new Error("QUIT unanswered")).catch(() => {});
  }
  if ((redis.status as string) !== "end") redis.disconnect();
  await withTimeout(ended, 5000, () => new Error(`ioredis client still ${redis.status} 5 s after it was closed`));
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
  const started = { ...replica, prefix: primary.prefix };
  return {
    primary,
    replica: started,
    [Symbol.asyncDispose]: async () => {
      await started[Symbol.asyncDispose]();
      await primary[Symbol.asyncDispose]();
    },
  };
}

/**
 * Two nodes where a write on one reaches the other, for lab 3: `REDIS_URL` and
 * `REDIS_URL_REPLICA` when both are set (compose's KeyDB active replicas, both
 * writable), else a {@linkcode replicaPair} of the test's own (read-only
 * replica). Register the test with {@linkcode twoNodeTest}.
 *
 * @param replicaOptions `notifications` for the second node (other fields only for a pair of its own)
 * @returns the two nodes, sharing one key prefix; `await using` stops or cleans up both
 */
export async function twoNodes(replicaOptions: LocalServerOptions = {}): Promise<ReplicaPair> {
  if (!SHARED_URL || !SHARED_REPLICA_URL) return await replicaPair(replicaOptions);
  await announce();
  const prefix = uniquePrefix();
  const primary = await sharedServer(SHARED_URL, prefix);
  const replica = await sharedServer(SHARED_REPLICA_URL, prefix, replicaOptions.notifications).catch(async (err) => {
    await primary[Symbol.asyncDispose]();
    throw err;
  });
  return {
    primary,
    replica,
    [Symbol.asyncDispose]: async () => {
      await replica[Symbol.asyncDispose]();
      await primary[Symbol.asyncDispose]();
    },
  };
}

/**
 * Where a script started with `--metrics-port 0` serves its health and metrics: the address it says it listens on.
 * A port picked free here first could be taken by another process before the script listens on it (a `/readyz` test
 * waited 10 s for an answer once, with two suites on the machine).
 *
 * @param proc the script
 * @returns `http://127.0.0.1:PORT`
 */
export async function metricsBase(proc: ScriptProcess): Promise<string> {
  const at = await proc.err.waitFor(/Health and metrics on (http:\/\/127\.0\.0\.1:\d+)/, 30_000);
  return at[1]!;
}

/**
 * Polls `check` every 50 ms until it holds, for what no event announces (a
 * process outside the test ending, a directory it removes); bounded by `ms`.
 *
 * @param check the condition
 * @param what what is awaited, for the failure message; a function to say it at the time of the failure (a script's
 *   output so far, say: read when the call is made, it would hold only what the script had said by then)
 * @param ms how long to wait at most
 */
export async function eventually(
  check: () => boolean | Promise<boolean>,
  what: string | (() => string),
  ms = 10_000,
): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) {
      throw new Error(`Timed out after ${ms} ms waiting for ${typeof what === "function" ? what() : what}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * Waits for `promise` — an event the code under test announces — bounded only so that a run that never gets it ends
 * with a message instead of hanging: the bound is no budget for a slow machine.
 *
 * @param promise what is awaited
 * @param what what it is, for the failure message
 * @param ms the bound (default 120 s)
 * @returns what it resolves to
 */
export async function within<T>(promise: Promise<T>, what: string, ms = 120_000): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const never = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Never happened within ${ms / 1000} s: ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, never]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Collects every message published on `channel` from now on (its payloads as text, in arrival order) on a
 * subscribed client of its own; dispose to close it.
 *
 * @param url the server
 * @param channel the channel
 * @returns the payloads so far (the array fills as they arrive)
 */
export async function channelMessages(
  url: string,
  channel: string,
): Promise<{ payloads: string[] } & AsyncDisposable> {
  const sub = testClient(url);
  const payloads: string[] = [];
  sub.on("message", (c: string, payload: string) => c === channel && payloads.push(payload));
  await sub.subscribe(channel);
  return { payloads, [Symbol.asyncDispose]: () => sub[Symbol.asyncDispose]() };
}

/**
 * How many connections are subscribed to something now (`CLIENT LIST TYPE pubsub`).
 *
 * @param redis a plain client
 * @returns the count
 */
export async function pubsubClients(redis: Redis): Promise<number> {
  return (await pubsubClientIds(redis)).size;
}

/**
 * Publishes pipelined batches of 500 until the server has dropped every
 * subscriber (bounded: at most 400 batches and 20 s), as a tiny
 * `client-output-buffer-limit pubsub` makes it do with one that stopped reading.
 *
 * @param redis a plain client to publish on
 * @param send adds one message to the pipeline (the `n`th)
 * @returns how many messages were published
 * @throws {Error} when a subscriber is still there at the bound
 */
export async function floodUntilDropped(
  redis: Redis,
  send: (p: ReturnType<Redis["pipeline"]>, n: number) => void,
): Promise<number> {
  const deadline = Date.now() + 20_000;
  let sent = 0;
  for (let batch = 0; batch < 400 && Date.now() < deadline; batch++) {
    const p = redis.pipeline();
    for (let i = 0; i < 500; i++) send(p, sent++);
    await p.exec();
    if (await pubsubClients(redis) === 0) return sent;
  }
  throw new Error(`The server still had a subscriber after ${sent} messages`);
}

/**
 * Publishes `payload` on `channel` until the server has dropped every
 * subscriber that was there when it began (bounded: at most 50 rounds of
 * 2 × 8 × 500 messages and 20 s). The batch is encoded once and written again
 * and again ({@linkcode PublishLane.publishEncoded}) on two sockets, eight
 * batches in flight on each: the server, not this publisher, sets the pace,
 * and no script reads as fast as it writes (encoding each batch anew, one
 * socket, this publisher was the slower one on a quiet machine, and
 * subscriber.ts --quiet kept up with 200,000 messages). Not more sockets: the
 * server reads 16 KB of each client's commands per turn of its event loop,
 * and more than the limit (64 KB) written for a subscriber in one turn drops
 * it before it could fall behind — with nothing for the script to tell it by
 * on a server that does not count such drops (Redis 7.0). A subscriber
 * counts as dropped when its connection id is gone: a script that
 * reconnects at once has a new one.
 *
 * @param redis a plain client of the server (each lane connects as it does)
 * @param channel where to publish
 * @param payload what to publish, each time
 * @returns how many messages were published
 * @throws {Error} when a subscriber is still there at the bound
 */
export async function blastUntilDropped(redis: Redis, channel: string, payload: string): Promise<number> {
  const subscribers = await pubsubClientIds(redis);
  if (subscribers.size === 0) throw new Error("No subscriber to drop: wait until the script has subscribed");
  const lanes = [new PublishLane(redis), new PublishLane(redis)];
  const batch = encodePublishBatch(Array.from({ length: 500 }, () => ({ channel, payload })));
  const deadline = Date.now() + 20_000;
  let sent = 0;
  try {
    for (let round = 0; round < 50 && Date.now() < deadline; round++) {
      await Promise.all(
        lanes.flatMap((lane) => Array.from({ length: 8 }, () => lane.publishEncoded(() => batch, 500))),
      );
      sent += 8 * lanes.length * 500;
      const now = await pubsubClientIds(redis);
      if (![...subscribers].some((id) => now.has(id))) return sent;
    }
  } finally {
    await Promise.all(lanes.map((lane) => lane.close()));
  }
  throw new Error(`The server still had a subscriber after ${sent} messages`);
}

/**
 * The connection ids of the server's pub/sub clients.
 *
 * @param redis a plain client
 * @returns the ids (`CLIENT LIST TYPE pubsub`)
 */
async function pubsubClientIds(redis: Redis): Promise<Set<string>> {
  const list = String(await redis.call("CLIENT", "LIST", "TYPE", "pubsub"));
  return new Set([...list.matchAll(/(?:^|\s)id=(\d+)/g)].map((m) => String(m[1])));
}

/**
 * Repeats `publish` every 200 ms until `seen` resolves (bounded by `ms`): a
 * message sent before a resubscription is lost, so one sent after it proves it.
 *
 * @param publish sends one message
 * @param seen resolves once a message has arrived
 * @param ms how long to keep trying
 */
export async function publishUntilSeen(
  publish: () => Promise<unknown>,
  seen: Promise<unknown>,
  ms = 15_000,
): Promise<void> {
  const stop = new AbortController();
  const waiting = seen.finally(() => stop.abort());
  const deadline = Date.now() + ms;
  while (!stop.signal.aborted && Date.now() < deadline) {
    await publish();
    await delay(200, stop.signal);
  }
  await waiting;
}

/**
 * Starts a script that is given ports of its own (`--port`), on `count` consecutive free ones, and again on others
 * when another process took one between their pick here and the script's bind — it then exits early saying that the
 * port is in use or that its server did not start (seen once with two test suites on the machine): at most 3 tries.
 *
 * @param count how many consecutive ports it needs
 * @param start starts the script with the first of them
 * @param ready what it prints on stderr once it runs
 * @returns the running script, the first port and what `ready` matched
 * @throws {Error} when it does not start after 3 tries, or fails for another reason
 */
export async function startOnFreePorts(
  count: number,
  start: (port: number) => ScriptProcess,
  ready: RegExp,
): Promise<{ p: ScriptProcess; port: number; ready: RegExpMatchArray }> {
  for (let attempt = 1;; attempt++) {
    const port = await consecutiveFreePorts(count);
    const p = start(port);
    const printed = p.err.when(ready);
    const outcome = await withTimeout(
      Promise.race([printed.found.then((match) => ({ match })), p.ended.then((code) => ({ code }))]),
      20_000,
      () => new Error(`Timed out after 20000 ms waiting for ${ready}; output so far:\n${p.err.text}`),
    ).finally(printed.forget);
    if ("match" in outcome) return { p, port, ready: outcome.match };
    await p[Symbol.asyncDispose]();
    const raced = /is in use|did not start on 127\.0\.0\.1:/.test(p.err.text);
    if (!raced || attempt >= 3) {
      throw new Error(`The script exited (code ${outcome.code}) before it ran:\n${p.err.text}`);
    }
  }
}

/**
 * A free port on 127.0.0.1 with the `count - 1` ports after it free too (bounded tries).
 *
 * @param count how many ports in a row
 * @returns the first of them
 */
export async function consecutiveFreePorts(count: number): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const base = await freePort();
    if (base + count > 65535) continue;
    const listeners: Deno.Listener[] = [];
    try {
      for (let k = 1; k < count; k++) listeners.push(Deno.listen({ hostname: "127.0.0.1", port: base + k }));
      return base;
    } catch {
      // one is taken: try another base
    } finally {
      for (const l of listeners) l.close();
    }
  }
  throw new Error(`No ${count} consecutive free ports found in 50 tries`);
}

/**
 * Waits until nothing answers on any of `ports` and `tmp` is empty (a script
 * and the servers it started are gone, with their files), then removes `tmp`.
 *
 * @param ports the servers' ports
 * @param tmp the TMPDIR the script was given
 */
export async function nothingLeft(ports: number[], tmp: string): Promise<void> {
  for (const port of ports) await eventually(async () => !(await answersPing(port)), `the server on ${port} to stop`);
  await eventually(async () => (await Array.fromAsync(Deno.readDir(tmp))).length === 0, `${tmp} to be emptied`);
  await Deno.remove(tmp, { recursive: true });
}

/**
 * Reads a response body as text until `pattern` shows up (bounded), then cancels it.
 *
 * @param res the response (an event stream, say)
 * @param pattern what to wait for
 * @param ms how long at most
 * @returns the text read
 */
export async function readUntil(res: Response, pattern: RegExp, ms = 10_000): Promise<string> {
  let text = "";
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  try {
    await withTimeout(
      (async () => {
        while (!pattern.test(text)) {
          const { value, done } = await reader.read();
          if (done) break;
          text += value;
        }
      })(),
      ms,
      () => new Error(`No ${pattern} within ${ms} ms; got ${JSON.stringify(text.slice(-300))}`),
    );
    return text;
  } finally {
    await reader.cancel();
  }
}
