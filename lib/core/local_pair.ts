/**
 * Two local nodes for lab 3 without Docker (`deno task server --pair`):
 * KeyDB active replicas of each other when the binary is `keydb-server`,
 * otherwise a primary and a read-only replica of it.
 *
 * @module
 */
import { CliError, ExitCode } from "./exit_codes.ts";
import { askServer, findServerBinary, freePort, INSTALL_HINT, LocalServer } from "./local_server.ts";
import { delay } from "./timing.ts";

/** How to start a {@linkcode LocalPair}. */
export interface LocalPairOptions {
  /** The two ports on 127.0.0.1 (default: two free ones). */
  ports?: [number, number];
  /** `notify-keyspace-events` on both nodes. */
  notifications?: string;
  /** The binary (default: the first server binary on PATH). */
  binary?: string;
  /** How long to wait for the replication links, in ms (default 10 s). */
  linkTimeoutMs?: number;
}

/**
 * Two nodes that replicate: `first` takes the writer, `second` the listener.
 * With KeyDB both take writes (`active`); otherwise `second` is a read-only
 * replica of `first`, so the listener there writes its handshake to `first`.
 *
 * @example
 * ```ts ignore
 * import { LocalPair } from "./local_pair.ts";
 * await using pair = await LocalPair.start({ notifications: "KEA" });
 * console.log(pair.active, pair.first.url, pair.second.url);
 * ```
 */
export class LocalPair implements AsyncDisposable {
  private constructor(
    /** The node the writer writes to (the primary when not `active`). */
    readonly first: LocalServer,
    /** The node the listener listens on (a read-only replica when not `active`). */
    readonly second: LocalServer,
  ) {}

  /** true for KeyDB active replicas: both nodes take writes and replicate them to the other. */
  get active(): boolean {
    return isKeyDb(this.first.binary);
  }

  /**
   * Starts both nodes and waits until each replication link is up.
   *
   * @param options ports, notifications, binary
   * @returns the running pair
   * @throws {CliError} (exit code 3) when no binary is installed, a node does not start or a link does not come up
   */
  static async start(options: LocalPairOptions = {}): Promise<LocalPair> {
    const binary = options.binary ?? await findServerBinary();
    if (!binary) throw new CliError(ExitCode.Connect, INSTALL_HINT);
    const [one, two] = options.ports ?? await twoFreePorts();
    const common = ["--repl-diskless-sync-delay", "0"];
    const replicaOf = (port: number) => ["--replicaof", "127.0.0.1", String(port)];
    const active = isKeyDb(binary) ? ["--active-replica", "yes"] : [];
    const start = (port: number, args: string[]) =>
      LocalServer.start({ binary, port, notifications: options.notifications, args: [...common, ...args] });
    const first = await start(one, active.length ? [...active, ...replicaOf(two)] : []);
    let second: LocalServer | undefined;
    try {
      second = await start(two, [...active, ...replicaOf(one)]);
      const pair = new LocalPair(first, second);
      await pair.#waitLinked(options.linkTimeoutMs ?? 10_000);
      return pair;
    } catch (err) {
      await second?.[Symbol.asyncDispose]();
      await first[Symbol.asyncDispose]();
      throw err;
    }
  }

  async #waitLinked(timeoutMs: number): Promise<void> {
    const replicas = this.active ? [this.first, this.second] : [this.second];
    const deadline = Date.now() + timeoutMs;
    for (const node of replicas) {
      while (!(await linkUp(node.port))) {
        if (Date.now() > deadline) {
          const tail = await node.logTail();
          throw new CliError(
            ExitCode.Connect,
            `The replication link of ${node.kind} on ${node.url} did not come up within ${timeoutMs / 1000} s` +
              (tail ? `:\n${tail}` : ""),
          );
        }
        await delay(50);
      }
    }
  }

  /** Resolves when either node exits; gives which one and its exit code. */
  get exited(): Promise<{ node: LocalServer; code: number }> {
    return Promise.race([this.first, this.second].map((node) => node.exited.then((code) => ({ node, code }))));
  }

  /** Stops both nodes and removes their files. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.second[Symbol.asyncDispose]();
    await this.first[Symbol.asyncDispose]();
  }
}

function isKeyDb(binary: string): boolean {
  return (binary.split("/").at(-1) ?? "").startsWith("keydb");
}

/**
 * Whether the node on 127.0.0.1:`port` is a replica whose link to its
 * primary is up (`master_link_status:up` in INFO replication).
 *
 * @param port the node's port
 * @returns true when the link is up
 * @example
 * ```ts
 * import { linkUp } from "./local_pair.ts";
 * import { freePort } from "./local_server.ts";
 * import assert from "node:assert/strict";
 * assert.ok(!(await linkUp(await freePort()))); // nobody listens there
 * ```
 */
export async function linkUp(port: number): Promise<boolean> {
  const info = await askServer(port, "INFO replication");
  return typeof info === "string" && /^master_link_status:up\r?$/m.test(info);
}

async function twoFreePorts(): Promise<[number, number]> {
  const one = await freePort();
  let two = await freePort();
  while (two === one) two = await freePort();
  return [one, two];
}
