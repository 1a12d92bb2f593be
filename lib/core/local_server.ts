/**
 * Finds a `keydb-server`, `valkey-server` or `redis-server` on PATH and runs
 * it on a loopback port: for `deno task server`, `deno task demo` and the
 * tests, which share this one implementation.
 *
 * @module
 */
import { readEnv } from "./config.ts";
import { CliError, ExitCode } from "./exit_codes.ts";
import { delay, withTimeout } from "./timing.ts";

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
 * @returns the full path of the binary found, or undefined
 * @throws {CliError} (exit code 2) when `$SERVER` names none of them
 * @example
 * ```ts
 * import { findServerBinary } from "./local_server.ts";
 * console.log(await findServerBinary() ?? "none installed");
 * ```
 */
export async function findServerBinary(): Promise<string | undefined> {
  const dirs = (Deno.env.get("PATH") ?? "").split(Deno.build.os === "windows" ? ";" : ":");
  for (const name of serverChoice()) {
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
 * Finds a free TCP port on 127.0.0.1.
 *
 * @returns a port number nobody was listening on a moment ago
 * @example
 * ```ts
 * import { freePort } from "./local_server.ts";
 * console.assert((await freePort()) > 0);
 * ```
 */
export function freePort(): Promise<number> {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return Promise.resolve(port);
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
  #child: Deno.ChildProcess;

  private constructor(
    child: Deno.ChildProcess,
    readonly binary: string,
    readonly port: number,
    private readonly options: LocalServerOptions,
    private readonly dir: string,
  ) {
    this.#child = child;
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
    const port = options.port ?? await freePort();
    const dir = await Deno.makeTempDir({ prefix: "pubsub-lab-server-" });
    const child = spawnServer(binary, port, options, dir);
    const server = new LocalServer(child, binary, port, options, dir);
    await server.#waitReady();
    return server;
  }

  async #waitReady(): Promise<void> {
    let exited = false;
    const status = this.#child.status.then((s) => {
      exited = true;
      return s;
    });
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && !exited) {
      if (await answersPing(this.port)) return;
      await delay(25);
    }
    if (!exited) this.#child.kill("SIGKILL");
    await status;
    const log = await Deno.readTextFile(`${this.dir}/server.log`).catch(() => "");
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
    const tail = log.trim().split("\n").slice(-5).join("\n");
    throw new CliError(
      ExitCode.Connect,
      `${this.kind} did not start on 127.0.0.1:${this.port}` + (tail ? `:\n${tail}` : ""),
    );
  }

  /** Stops the server (SIGTERM, then SIGKILL after 5 s) and removes its files. */
  async stop(): Promise<void> {
    try {
      this.#child.kill("SIGTERM");
    } catch {
      // already gone
    }
    const exited = await withTimeout(this.#child.status, 5000, () => new Error("still running")).then(
      () => true,
      () => false,
    );
    if (!exited) {
      this.#child.kill("SIGKILL");
      await this.#child.status;
    }
  }

  /** Starts the server again on the same port, after {@linkcode stop}. */
  async start(): Promise<void> {
    this.#child = spawnServer(this.binary, this.port, this.options, this.dir);
    await this.#waitReady();
  }

  /** Resolves when the server process exits; gives its exit code. */
  get exited(): Promise<number> {
    return this.#child.status.then((s) => s.code);
  }

  /** Stops the server and removes its temporary directory. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop();
    await Deno.remove(this.dir, { recursive: true }).catch(() => {});
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
  }).spawn();
}

/**
 * Whether a server on 127.0.0.1:`port` answers PING (or asks for a password).
 *
 * @param port the port to try
 * @returns true when a Redis-protocol server answers
 * @example
 * ```ts
 * import { answersPing } from "./local_server.ts";
 * console.log(await answersPing(6379));
 * ```
 */
export async function answersPing(port: number): Promise<boolean> {
  let conn: Deno.TcpConn | undefined;
  try {
    conn = await Deno.connect({ hostname: "127.0.0.1", port });
    await conn.write(new TextEncoder().encode("PING\r\n"));
    const buf = new Uint8Array(64);
    // Something else may hold the port and never answer: that is "no".
    const n = await withTimeout(conn.read(buf), 1000, () => new Error("no answer"));
    const reply = new TextDecoder().decode(buf.subarray(0, n ?? 0));
    return reply.startsWith("+PONG") || reply.startsWith("-NOAUTH");
  } catch {
    return false;
  } finally {
    conn?.close();
  }
}
