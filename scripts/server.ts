#!/usr/bin/env -S deno run -A
/**
 * `deno task server`: runs a local server for the labs in the foreground,
 * from a keydb-server, valkey-server or redis-server found on PATH, with
 * keyspace notifications on; `--pair` runs lab 3's two nodes. Ctrl+C stops
 * it; nothing is kept on disk.
 *
 * @module
 */
import { runScript, type ScriptSpec } from "../lib/core/cli.ts";
import { CliError, ExitCode, UsageError } from "../lib/core/exit_codes.ts";
import { LAB_NOTIFICATIONS, untilStopped } from "../lib/core/foreground.ts";
import { answersPing, INSTALL_HINT, LocalServer, portFree } from "../lib/core/local_server.ts";
import { LocalPair } from "../lib/core/local_pair.ts";
import { defaultIo, type Io, Reporter } from "../lib/core/output.ts";
import { onShutdown, type Shutdown } from "../lib/core/shutdown.ts";
import { reportExistingServer } from "../lib/keyspace/existing_server.ts";

/** The ports of lab 3's two nodes when none is given: those of compose.yaml. */
const PAIR_PORTS: [number, number] = [6379, 6380];

const SPEC: ScriptSpec = {
  name: "server.ts",
  summary: "run a local server for the labs (keyspace notifications on) until Ctrl+C; --pair for lab 3's two nodes.",
  usage: ["[--port PORT]", "--pair [--port PORT]"],
  options: {
    port: {
      type: "string",
      arg: "PORT",
      help: "port on 127.0.0.1 (default 6379; with --pair, the first node's, the second gets the next one)",
    },
    pair: {
      type: "boolean",
      help: "two nodes for lab 3: KeyDB active replicas, else a primary and a read-only replica (default 6379, 6380)",
    },
    help: { type: "boolean", short: "h", help: "show this help" },
  },
  examples: [
    "deno task server                  # 127.0.0.1:6379",
    "deno task server --port 6380      # then: export REDIS_URL=redis://localhost:6380",
    "deno task server --pair           # lab 3 without Docker: 127.0.0.1:6379 and 127.0.0.1:6380",
  ],
};

/**
 * Runs the server (or the pair) until Ctrl+C.
 *
 * @param args command-line arguments
 * @param io output streams and an optional stop signal
 * @returns the exit code
 */
export function main(args: string[], io: Io = defaultIo()): Promise<number> {
  return runScript(SPEC, args, io, async (flags) => {
    const port = flags.int("port", { min: 1, max: 65535 });
    const status = new Reporter(io.stderr);
    using shutdown = onShutdown(io.signal);
    if (flags.boolean("pair")) return await runPair(port, status, shutdown);
    return await runSingle(port ?? 6379, status, shutdown);
  });
}

async function runSingle(port: number, status: Reporter, shutdown: Shutdown): Promise<number> {
  if (await answersPing(port)) return await reportExistingServer(port, status);
  const server = await withInstallHint(LocalServer.start({ port, notifications: LAB_NOTIFICATIONS, foreground: true }));
  status.ok(
    `${server.kind} is running on ${server.url} with keyspace notifications (${LAB_NOTIFICATIONS}). Ctrl+C stops it.`,
  );
  return await untilStopped(
    shutdown,
    status,
    server.exited.then((code) => ({ node: server, code })),
    server,
    `${server.kind} stopped.`,
  );
}

async function runPair(port: number | undefined, status: Reporter, shutdown: Shutdown): Promise<number> {
  const ports = choosePairPorts(port, status);
  const pair = await withInstallHint(LocalPair.start({ ports, notifications: LAB_NOTIFICATIONS }));
  const { first, second } = pair;
  const listen = `deno run -A scripts/keyspace_listener.ts --url ${second.url}`;
  const write = `deno run -A scripts/keyspace_writer.ts --url ${first.url}`;
  if (pair.active) {
    status.ok(
      `Two ${first.kind} nodes, active replicas of each other, with keyspace notifications (${LAB_NOTIFICATIONS}): ` +
        `${first.url} and ${second.url}. Ctrl+C stops both.`,
    );
    status.info("Lab 3, in two more terminals:");
    status.info(`  listener: ${listen}`);
  } else {
    status.ok(
      `Two ${first.kind} nodes with keyspace notifications (${LAB_NOTIFICATIONS}): primary ${first.url}, ` +
        `read-only replica ${second.url}. Ctrl+C stops both.`,
    );
    status.info("Lab 3, in two more terminals (the listener on the replica writes its handshake to the primary):");
    status.info(`  listener: ${listen} --write-url ${first.url}`);
  }
  status.info(`  writer:   ${write}`);
  return await untilStopped(shutdown, status, pair.exited, pair, "Both nodes stopped.");
}

/** `--port N`: N and N+1, which must be free; none: 6379 and 6380 when free, else two free ports. */
function choosePairPorts(port: number | undefined, status: Reporter): [number, number] | undefined {
  if (port !== undefined) {
    if (port === 65535) throw new UsageError("--port with --pair must leave room for the second node (at most 65534)");
    const ports: [number, number] = [port, port + 1];
    const taken = ports.find((p) => !portFree(p));
    if (taken !== undefined) {
      throw new CliError(
        ExitCode.Failure,
        `Port ${taken} on 127.0.0.1 is in use: the pair needs ${port} and ${port + 1}. Pick others with --port.`,
      );
    }
    return ports;
  }
  const taken = PAIR_PORTS.filter((p) => !portFree(p));
  if (taken.length === 0) return PAIR_PORTS;
  status.info(`Port ${taken.join(" and ")} on 127.0.0.1 is in use, so the pair runs on two free ports.`);
  return undefined;
}

async function withInstallHint<T>(starting: Promise<T>): Promise<T> {
  try {
    return await starting;
  } catch (err) {
    if (err instanceof CliError && err.message === INSTALL_HINT) {
      throw new CliError(
        ExitCode.Connect,
        `${INSTALL_HINT}\nWith Docker, the labs' KeyDB: docker compose up -d --wait`,
      );
    }
    throw err;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
