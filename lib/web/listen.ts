/**
 * Starting an HTTP server on `--host` and `--port`, answering only under its
 * own address and the `--allowed-host` names (see {@link ./host_rule.ts}),
 * with the failures a user can fix (port taken, an address not of this
 * machine) said in one line.
 *
 * @module
 */
import type { Flags, OptionSpec } from "../core/cli.ts";
import { CliError, ExitCode, UsageError } from "../core/exit_codes.ts";
import type { Logger } from "../core/log.ts";
import { ALLOWED_HOST_OPTION, HostRule } from "./host_rule.ts";

/** What --host accepts, for the error when it cannot be used. */
const HOST_HINT = "use an address of this machine: 127.0.0.1 (default), ::1, or 0.0.0.0 for every interface";

/** `--host` and `--allowed-host`, the same in every script that serves HTTP (`--port` has each script's default). */
export const LISTEN_OPTIONS: Record<string, OptionSpec> = {
  host: { type: "string", arg: "ADDRESS", help: "address to listen on (default: 127.0.0.1; 0.0.0.0 in a container)" },
  ...ALLOWED_HOST_OPTION,
};

/**
 * The address to listen on and the host names to answer to, from {@linkcode LISTEN_OPTIONS}.
 *
 * @param flags the parsed flags
 * @param log where refused host names are said
 * @returns `--host` (default 127.0.0.1) and the rule built with `--allowed-host`
 * @throws {UsageError} for an `--allowed-host` that is not a host name
 * @example
 * ```ts
 * import { parseFlags } from "../core/cli.ts";
 * import { LISTEN_OPTIONS, listenFlags } from "./listen.ts";
 * import assert from "node:assert/strict";
 * const spec = { name: "x.ts", summary: "", usage: [], examples: [], options: LISTEN_OPTIONS };
 * const { hostname, hosts } = listenFlags(parseFlags(spec, ["--allowed-host", "lab.example"]));
 * assert.equal(hostname, "127.0.0.1");
 * assert.ok(hosts.allows("lab.example"));
 * assert.ok(!hosts.allows("evil.example"));
 * ```
 */
export function listenFlags(flags: Flags, log?: Logger): { hostname: string; hosts: HostRule } {
  const hostname = flags.string("host") ?? "127.0.0.1";
  return { hostname, hosts: new HostRule(hostname, flags.list("allowed-host"), log) };
}

/**
 * The URL of the root of a server listening at `addr` (an IPv6 address in brackets).
 *
 * @param addr where it listens
 * @returns `http://host:port/`
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { rootUrl } from "./listen.ts";
 * assert.equal(rootUrl({ hostname: "::1", port: 8000 }), "http://[::1]:8000/");
 * ```
 */
export function rootUrl(addr: { hostname: string; port: number }): string {
  const { hostname, port } = addr;
  return `http://${hostname.includes(":") ? `[${hostname}]` : hostname}:${port}/`;
}

/**
 * `Deno.serve`, refusing a request for another host name on every route
 * (403), with its listen errors turned into {@linkcode CliError}s.
 *
 * @param options port, hostname and onListen, as for `Deno.serve`, the host names answered to, and the flags to name
 * @param handler the request handler
 * @returns the server
 * @throws {CliError} exit 1 when the port is in use; {@linkcode UsageError} for an unusable `--host`
 * @example
 * ```ts
 * import { serveOrExplain } from "./listen.ts";
 * import { HostRule } from "./host_rule.ts";
 * const hosts = new HostRule("127.0.0.1");
 * const server = serveOrExplain({ port: 0, hostname: "127.0.0.1", hosts, onListen: () => {} }, () => new Response("hi"));
 * await server.shutdown();
 * ```
 */
export function serveOrExplain(
  options: {
    port: number;
    hostname: string;
    hosts: HostRule;
    onListen: (addr: Deno.NetAddr) => void;
    /** The flags that set port and address, named in the errors (default `--port` and `--host`). */
    flags?: { port: string; host: string };
  },
  handler: Deno.ServeHandler,
): Deno.HttpServer {
  const { port, hostname, hosts, onListen } = options;
  const flag = options.flags ?? { port: "--port", host: "--host" };
  try {
    return Deno.serve(
      { port, hostname, onListen },
      (request, info) => hosts.refusal(request) ?? handler(request, info),
    );
  } catch (err) {
    if (err instanceof Deno.errors.AddrInUse) {
      throw new CliError(
        ExitCode.Failure,
        `Port ${port} on ${hostname} is already in use: choose another with ${flag.port}`,
      );
    }
    if (err instanceof Deno.errors.AddrNotAvailable) {
      throw new UsageError(`${flag.host} ${hostname} is not an address of this machine: ${HOST_HINT}`);
    }
    if (err instanceof URIError || /lookup address|invalid host/i.test((err as Error).message)) {
      throw new UsageError(
        `${flag.host} ${hostname} is not a usable address (${(err as Error).message}): ${HOST_HINT}`,
      );
    }
    throw err;
  }
}
