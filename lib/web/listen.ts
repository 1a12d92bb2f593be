/**
 * Starting an HTTP server on `--host` and `--port`, with the failures a user
 * can fix (port taken, an address not of this machine) said in one line.
 *
 * @module
 */
import { CliError, ExitCode, UsageError } from "../core/exit_codes.ts";

/** What --host accepts, for the error when it cannot be used. */
const HOST_HINT = "use an address of this machine: 127.0.0.1 (default), ::1, or 0.0.0.0 for every interface";

/**
 * `Deno.serve`, with its listen errors turned into {@linkcode CliError}s.
 *
 * @param options port, hostname and onListen, as for `Deno.serve`
 * @param handler the request handler
 * @returns the server
 * @throws {CliError} exit 1 when the port is in use; {@linkcode UsageError} for an unusable `--host`
 * @example
 * ```ts
 * import { serveOrExplain } from "./listen.ts";
 * const server = serveOrExplain({ port: 0, hostname: "127.0.0.1", onListen: () => {} }, () => new Response("hi"));
 * await server.shutdown();
 * ```
 */
export function serveOrExplain(
  options: { port: number; hostname: string; onListen: (addr: Deno.NetAddr) => void },
  handler: Deno.ServeHandler,
): Deno.HttpServer {
  const { port, hostname } = options;
  try {
    return Deno.serve(options, handler);
  } catch (err) {
    if (err instanceof Deno.errors.AddrInUse) {
      throw new CliError(ExitCode.Failure, `Port ${port} on ${hostname} is already in use: choose another with --port`);
    }
    if (err instanceof Deno.errors.AddrNotAvailable) {
      throw new UsageError(`--host ${hostname} is not an address of this machine: ${HOST_HINT}`);
    }
    if (err instanceof URIError || /lookup address|invalid host/i.test((err as Error).message)) {
      throw new UsageError(`--host ${hostname} is not a usable address (${(err as Error).message}): ${HOST_HINT}`);
    }
    throw err;
  }
}
