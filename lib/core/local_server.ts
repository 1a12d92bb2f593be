/**
 * Finds a `keydb-server`, `valkey-server` or `redis-server` on PATH and runs
 * it on a loopback port: for `deno task server`, `deno task demo` and the
 * tests, which share this one implementation.
 *
 * A server started here never outlives the script that started it. It runs
 * in its own process group, so a Ctrl+C in the terminal reaches only the
 * script, which stops it in order; and a watchdog (a `sh` waiting for its
 * stdin to close, which happens when the script's process ends in any way:
 * a second Ctrl+C, a closed stdout, SIGKILL, a crash) stops it and removes
 * its directory otherwise.
 *
 * @module
 */
import { readEnv } from "./config.ts";
import { CliError, ExitCode } from "./exit_codes.ts";
import { delay, withTimeout } from "./timing.ts";
import { decodeReply, ErrorReply, type Reply } from "../wire/resp.ts";

/** The server binaries looked for, in order of preference. */
export const SERVER_BINARIES = ["keydb-server", "valkey-server", "redis-server"] as const;

/** What to do when none of {@linkcode SERVER_BINARIES} is installed. */
export const INSTALL_HINT: string = "No keydb-server, valkey-server or redis-server found on PATH.\n" +
  "Install one (Debian/Ubuntu: sudo apt-get install redis-server; macOS: brew install redis),\n" +
  "or run KeyDB in Docker: docker compose up -d --wait";

/**
 * Looks for a server binary on PATH: the one `$SERVER` names (`keydb`,
 * `valkey` or `redis`) when it is set, else the first of
 * {@linkcode SERVER_BINARIES} found.
 *
 * @param among the binaries acceptable to the caller, in order of preference (default: all)
 * @returns the full path of the binary found, or undefined
 * @throws {CliError} (exit code 2) when `$SERVER` names none of them
 * @example
 * ```ts
 * import { findServerBinary } from "./local_server.ts";
 * console.log(await findServerBinary() ?? "none installed");
 * ```
 */
export async function findServerBinary(
  among: readonly string[] = SERVER_BINARIES,
): Promise<string | undefined> {
  const dirs = (Deno.env.get("PATH") ?? "").split(Deno.build.os === "windows" ? ";" : ":");
  for (const name of serverChoice().filter((b) => among.includes(b))) {
    for (const dir of dirs) {
      if (!dir) continue;
      const path = `${dir}/${name}`;
      try {
        const info = await Deno.stat(path);
        if (info.isFile) return path;
      } catch {
        // not here
      }
    }
  }
  return undefined;
}

/** The binaries `$SERVER` allows: one of {@linkcode SERVER_BINARIES}, or all of them when unset. */
function serverChoice(): readonly string[] {
  const wanted = readEnv("SERVER");
  if (wanted === undefined) return SERVER_BINARIES;
  const name = SERVER_BINARIES.find((b) => b === wanted || b === `${wanted}-server`);
  if (!name) throw new CliError(ExitCode.Usage, `SERVER is "${wanted}": use keydb, valkey or redis, or unset it.`);
  return [name];
}

/**
 * Finds a free TCP port on 127.0.0.1, below the range the system gives client connections their own ports from
 * (32768–60999 on Linux): a port handed to a server or a script to bind a moment later is then not taken in between
 * by one of the many connections a test run opens (it was, once in about ten runs with two suites side by side:
 * "Port … is already in use"). Ports are tried at random from 10000 up to that range; when none is free, one the
 * system picks.
 *
 * @returns a port number nobody was listening on a moment ago
 * @example
 * ```ts
 * import { freePort } from "./local_server.ts";
 * import assert from "node:assert/strict";
 * const port = await freePort();
 * assert.ok(port >= 10_000 && port < 65_536);
 * ```
 */
export function freePort(): Promise<number> {
  const below = clientPortsFrom();
  for (let i = 0; i < 100; i++) {
    const port = FREE_PORTS_FROM + Math.floor(Math.random() * (below - FREE_PORTS_FROM));
    if (portFree(port)) return Promise.resolve(port);
  }
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return Promise.resolve(port);
}

/** The lowest port {@linkcode freePort} picks. */
const FREE_PORTS_FROM = 10_000;

/** The first port of the system's range for client connections (Linux's setting; 32768 where it cannot be read). */
function clientPortsFrom(): number {
  try {
    const low = Number(Deno.readTextFileSync("/proc/sys/net/ipv4/ip_local_port_range").trim().split(/\s+/)[0]);
    return Number.isInteger(low) && low > FREE_PORTS_FROM + 1000 ? low : 32_768;
  } catch {
    return 32_768;
  }
}

/**
 * Whether nothing listens on 127.0.0.1:`port` right now.
 *
 * @param port the port to try
 * @returns true when it could be bound
 * @example
 * ```ts
 * import { freePort, portFree } from "./local_server.ts";
 * import assert from "node:assert/strict";
 * assert.ok(portFree(await freePort()));
 * ```
 */
export function portFree(port: number): boolean {
  try {
    Deno.listen({ hostname: "127.0.0.1", port }).close();
    return true;
  } catch {
    return false;
  }
}

/** A server that did not start: it exited (`exited`), or did not answer within 10 s. Exit code 3. */
export class ServerStartError extends CliError {
  /**
   * @param message what happened, with the end of the server's log
   * @param exited whether the server process ended (a port taken, a bad argument) rather than not answering
   */
  constructor(message: string, readonly exited: boolean) {
    super(ExitCode.Connect, message);
    this.name = "ServerStartError";
  }
}

/** How many ports a start tries when the ports are picked here. */
export const START_ATTEMPTS = 3;

/**
 * Whether a start failed as one does when another process took a port between its pick and the server's bind (a
 * client's own port, often, among many connections): the server exited at once. The start is then tried again on
 * other ports; a server that exits for another reason fails the same way each time.
 *
 * @param err what the start threw
 * @returns true for a server that exited while starting
 * @example
 * ```ts
 * import { ServerStartError, startedTooLate } from "./local_server.ts";
 * import assert from "node:assert/strict";
 * assert.equal(startedTooLate(new ServerStartError("did not start", true)), true);
 * assert.equal(startedTooLate(new Error("other")), false);
 * ```
 */
export function startedTooLate(err: unknown): boolean {
  return err instanceof ServerStartError && err.exited;
}

/** How to start a {@linkcode LocalServer}. */
export interface LocalServerOptions {
  /** TCP port on 127.0.0.1 (default: a free one). */
  port?: number;
  /** `notify-keyspace-events` at start (default: off). */
  notifications?: string;
  /** More `--name value` arguments for the server (e.g. `--replicaof`). */
  args?: string[];
  /** The binary (default: {@linkcode findServerBinary}'s choice). */
  binary?: string;
  /** Show the server's log on this terminal instead of writing it to a file. */
  foreground?: boolean;
}

/**
 * A throw-away server process on a loopback port, with nothing kept on disk.
 *
 * @example
 * ```ts ignore
 * import { LocalServer } from "./local_server.ts";
 * await using server = await LocalServer.start({ notifications: "KEA" });
 * console.log(server.url); // redis://127.0.0.1:<port>
 * ```
 */
export class LocalServer implements AsyncDisposable {
  #process: ServerProcess;

  private constructor(
    process: ServerProcess,
    readonly binary: string,
    readonly port: number,
    private readonly options: LocalServerOptions,
    private readonly dir: string,
  ) {
    this.#process = process;
  }

  /** `redis://127.0.0.1:<port>`. */
  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** The binary's short name: `keydb-server`, `valkey-server` or `redis-server`. */
  get kind(): string {
    return this.binary.split("/").at(-1) ?? this.binary;
  }

  /**
   * Starts a server and waits until it answers PING.
   *
   * @param options port, notifications, extra arguments
   * @returns the running server
   * @throws {CliError} (exit code 3) when no binary is installed or it does not start
   */
  static async start(options: LocalServerOptions = {}): Promise<LocalServer> {
    const binary = options.binary ?? await findServerBinary();
    if (!binary) throw new CliError(ExitCode.Connect, INSTALL_HINT);
    for (let attempt = 1;; attempt++) {
      const port = options.port ?? await freePort();
      const dir = await Deno.makeTempDir({ prefix: "pubsub-lab-server-" });
      const server = new LocalServer(new ServerProcess(binary, port, options, dir), binary, port, options, dir);
      try {
        await server.#waitReady();
        return server;
      } catch (err) {
        if (!(options.port === undefined && attempt < START_ATTEMPTS && startedTooLate(err))) throw err;
      }
    }
  }

  async #waitReady(): Promise<void> {
    let exited = false;
    const status = this.#process.child.status.then((s) => {
      exited = true;
      return s;
    });
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && !exited) {
      if (await answersPing(this.port)) return;
      await delay(25);
    }
    await this.#process.halt(0);
    await status;
    const tail = await this.logTail();
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
    throw new ServerStartError(
      `${this.kind} did not start on 127.0.0.1:${this.port}` + (tail ? `:\n${tail}` : ""),
      exited,
    );
  }

  /**
   * The last lines of the server's log file (empty with `foreground`, whose log went to the terminal).
   *
   * @param lines how many lines
   * @returns the lines, or "" when there is no log
   */
  async logTail(lines = 5): Promise<string> {
    const log = await Deno.readTextFile(`${this.dir}/server.log`).catch(() => "");
    return log.trim().split("\n").slice(-lines).join("\n");
  }

  /** Stops the server (SIGTERM, then SIGKILL after 5 s); its files stay for {@linkcode start}. */
  stop(): Promise<void> {
    return this.#process.halt(5000);
  }

  /** Kills the server at once (SIGKILL), as a crash would; its files stay for {@linkcode start}. */
  kill(): Promise<void> {
    return this.#process.halt(0);
  }

  /** Starts the server again on the same port, after {@linkcode stop}. */
  async start(): Promise<void> {
    this.#process = new ServerProcess(this.binary, this.port, this.options, this.dir);
    await this.#waitReady();
  }

  /** Resolves when the server process exits; gives its exit code. */
  get exited(): Promise<number> {
    return this.#process.child.status.then((s) => s.code);
  }

  /** Stops the server and removes its temporary directory. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }
}

/**
 * The watchdog's script. Its first `read` returns 1 when its stdin closes,
 * that is when the process holding the other end (the script) has ended: it
 * then stops the server ($1: SIGTERM, SIGKILL after 5 s). A line on stdin
 * instead says that the server has exited already (its process id may be
 * reused): then it only waits for the end. Either way it removes the
 * server's directory ($2) last.
 */
const WATCHDOG_SCRIPT = 'if read _; then read _; else kill -TERM "$1" 2>/dev/null; n=0; ' +
  'while kill -0 "$1" 2>/dev/null && [ "$n" -lt 50 ]; do sleep 0.1; n=$((n + 1)); done; ' +
  'kill -KILL "$1" 2>/dev/null; fi; rm -rf "$2"';

const POSIX = Deno.build.os !== "windows";

/** One run of a server binary, with the watchdog that stops it if this process ends first. */
class ServerProcess {
  readonly child: Deno.ChildProcess;
  readonly #watchdog: Deno.ChildProcess | undefined;
  #tell: WritableStreamDefaultWriter<Uint8Array> | undefined;

  constructor(binary: string, port: number, options: LocalServerOptions, dir: string) {
    this.child = spawnServer(binary, port, options, dir);
    this.#watchdog = POSIX ? spawnWatchdog(this.child.pid, dir) : undefined;
    this.#tell = this.#watchdog?.stdin.getWriter();
    this.child.status.then(() => this.#tell?.write(new TextEncoder().encode("exited\n")).catch(() => {}));
  }

  /**
   * Stops the watchdog (it is not needed once this process stops the server
   * itself), then the server: SIGTERM, and SIGKILL when it is still there after `graceMs`.
   */
  async halt(graceMs: number): Promise<void> {
    if (this.#watchdog) {
      signal(this.#watchdog, "SIGKILL");
      // Waited for now: unref'd, with the server already gone it kept nothing alive (a start that failed hung).
      this.#watchdog.ref();
      await this.#watchdog.status;
      const tell = this.#tell;
      this.#tell = undefined;
      await tell?.close().catch(() => {});
    }
    signal(this.child, graceMs > 0 ? "SIGTERM" : "SIGKILL");
    const exited = await withTimeout(this.child.status, graceMs, () => new Error("still running")).then(
      () => true,
      () => false,
    );
    if (!exited) {
      signal(this.child, "SIGKILL");
      await this.child.status;
    }
  }
}

function signal(child: Deno.ChildProcess, sig: Deno.Signal): void {
  try {
    child.kill(sig);
  } catch {
    // already gone
  }
}

function spawnServer(binary: string, port: number, options: LocalServerOptions, dir: string): Deno.ChildProcess {
  const args = [
    "--port",
    String(port),
    "--bind",
    "127.0.0.1",
    "--save",
    "",
    "--appendonly",
    "no",
    "--dir",
    dir,
    "--notify-keyspace-events",
    options.notifications ?? "",
    "--logfile",
    options.foreground ? "" : `${dir}/server.log`,
    ...(options.args ?? []),
  ];
  return new Deno.Command(binary, {
    args,
    stdin: "null",
    stdout: options.foreground ? "inherit" : "null",
    stderr: options.foreground ? "inherit" : "null",
    // Its own process group: a Ctrl+C in the terminal goes to the script, which stops the server in order.
    detached: POSIX,
  }).spawn();
}

function spawnWatchdog(pid: number, dir: string): Deno.ChildProcess {
  const watchdog = new Deno.Command("sh", {
    args: ["-c", WATCHDOG_SCRIPT, "pubsub-lab-watchdog", String(pid), dir],
    stdin: "piped", // its end closing says this process has ended; a line, that the server has exited
    stdout: "null",
    stderr: "null",
    detached: true,
  }).spawn();
  watchdog.unref(); // the server keeps the script alive, not its watchdog
  return watchdog;
}

/**
 * Whether a server on 127.0.0.1:`port` answers PING (or asks for a password).
 *
 * @param port the port to try
 * @returns true when a Redis-protocol server answers
 * @example
 * ```ts
 * import { answersPing, freePort } from "./local_server.ts";
 * import assert from "node:assert/strict";
 * assert.ok(!(await answersPing(await freePort()))); // nobody listens there
 * ```
 */
export async function answersPing(port: number): Promise<boolean> {
  const reply = await askServer(port, "PING");
  return reply === "PONG" || (reply instanceof ErrorReply && reply.message.startsWith("NOAUTH"));
}

/** The longest reply {@linkcode askServer} reads. */
const MAX_REPLY_BYTES = 1 << 20;

/**
 * Sends one inline command to 127.0.0.1:`port` on a connection of its own and
 * reads its reply (RESP2, decoded by lib/wire/resp.ts).
 *
 * @param port the port to try
 * @param command an inline command, e.g. `INFO replication`
 * @param timeoutMs how long to wait for the whole reply
 * @returns the reply (`"PONG"`, the text of INFO, an {@linkcode ErrorReply}, an array…), or undefined when nothing
 *   answered in time, or what answered is no Redis-protocol server (or said more than a megabyte)
 * @example
 * ```ts
 * import { askServer, freePort } from "./local_server.ts";
 * import assert from "node:assert/strict";
 * assert.equal(await askServer(await freePort(), "INFO replication"), undefined); // nobody listens there
 * ```
 */
export async function askServer(port: number, command: string, timeoutMs = 1000): Promise<Reply | undefined> {
  let conn: Deno.TcpConn | undefined;
  try {
    conn = await Deno.connect({ hostname: "127.0.0.1", port });
    await conn.write(new TextEncoder().encode(`${command}\r\n`));
    // Something else may hold the port and never answer: that is no answer.
    return await withTimeout(readReply(conn), timeoutMs, () => new Error("no answer"));
  } catch {
    return undefined;
  } finally {
    conn?.close();
  }
}

/** Reads one whole reply; throws when the connection closes first, or the bytes are no RESP. */
async function readReply(conn: Deno.Conn): Promise<Reply> {
  let buf = new Uint8Array(16 * 1024);
  let length = 0;
  for (;;) {
    if (length === buf.length) {
      if (buf.length >= MAX_REPLY_BYTES) throw new Error("reply too long");
      const more = new Uint8Array(buf.length * 2);
      more.set(buf);
      buf = more;
    }
    const n = await conn.read(buf.subarray(length));
    if (n === null) throw new Error("closed before the reply ended");
    length += n;
    const decoded = decodeReply(buf.subarray(0, length));
    if (decoded) return decoded.reply;
  }
}
