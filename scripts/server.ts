#!/usr/bin/env -S deno run -A
/**
 * `deno task server`: runs a local server for the labs in the foreground,
 * from a keydb-server, valkey-server or redis-server found on PATH, with
 * keyspace notifications on. Ctrl+C stops it; nothing is kept on disk.
 *
 * @module
 */
import { runScript, type ScriptSpec } from "../lib/core/cli.ts";
import { CliError, ExitCode } from "../lib/core/exit_codes.ts";
import { answersPing, INSTALL_HINT, LocalServer } from "../lib/core/local_server.ts";
import { defaultIo, type Io, Reporter } from "../lib/core/output.ts";
import { onShutdown } from "../lib/core/shutdown.ts";

/** The notification flags the labs need: every class, keyspace and keyevent channels. */
export const LAB_NOTIFICATIONS = "KEA";

const SPEC: ScriptSpec = {
  name: "server.ts",
  summary: "run a local server for the labs (keyspace notifications on) until Ctrl+C.",
  usage: ["[--port PORT]"],
  options: {
    port: { type: "string", arg: "PORT", help: "port on 127.0.0.1 (default 6379)" },
    help: { type: "boolean", short: "h", help: "show this help" },
  },
  examples: [
    "deno task server                  # 127.0.0.1:6379",
    "deno task server --port 6380      # then: export REDIS_URL=redis://localhost:6380",
  ],
};

/**
 * Runs the server until Ctrl+C.
 *
 * @param args command-line arguments
 * @param io output streams and an optional stop signal
 * @returns the exit code
 */
export function main(args: string[], io: Io = defaultIo()): Promise<number> {
  return runScript(SPEC, args, io, async (flags) => {
    const port = flags.int("port", { min: 1, max: 65535 }) ?? 6379;
    const status = new Reporter(io.stderr);
    if (await answersPing(port)) {
      status.ok(`A server already answers on 127.0.0.1:${port}: the labs can use it as it is.`);
      status.info(`Check it with: deno run -A scripts/ping.ts --url redis://localhost:${port}`);
      return ExitCode.Ok;
    }
    using shutdown = onShutdown(io.signal);
    let server: LocalServer;
    try {
      server = await LocalServer.start({ port, notifications: LAB_NOTIFICATIONS, foreground: true });
    } catch (err) {
      if (err instanceof CliError && err.message === INSTALL_HINT) {
        throw new CliError(
          ExitCode.Connect,
          `${INSTALL_HINT}\nWith Docker, the labs' KeyDB: docker compose up -d --wait`,
        );
      }
      throw err;
    }
    status.ok(
      `${server.kind} is running on ${server.url} with keyspace notifications (${LAB_NOTIFICATIONS}). Ctrl+C stops it.`,
    );
    const exited = server.exited;
    const how = await Promise.race([shutdown.requested.then(() => "stopped"), exited.then(() => "exited")]);
    if (how === "exited") {
      status.error(`${server.kind} exited with code ${await exited}; see its log above.`);
      await server[Symbol.asyncDispose]();
      return ExitCode.Failure;
    }
    await server[Symbol.asyncDispose]();
    status.ok(`${server.kind} stopped.`);
    return ExitCode.Ok;
  });
}

if (import.meta.main) Deno.exit(await main(Deno.args));
