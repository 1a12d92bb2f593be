/**
 * Which `Host` an HTTP server of ours answers to, on every route: a page of
 * another site whose name was re-pointed to this machine (DNS rebinding) is
 * same-origin with its own name, so the browser lets it read whatever the
 * server answers; only the `Host` it sends gives it away. As development
 * servers do (Vite's `server.allowedHosts`, webpack-dev-server's
 * `allowedHosts`), a request is answered when its host name is `localhost`
 * or a name under `.localhost`, an IP address (v4 or v6: no name, nothing to
 * re-point), the name given to `--host`, this machine's own name, or one
 * given with `--allowed-host`; the port is not looked at. Other names get 403
 * and a line saying which flag allows them. A request without `Host` (HTTP/1.0,
 * a hand-written one) is answered: browsers always send it.
 *
 * @module
 */
import type { OptionSpec } from "../core/cli.ts";
import { UsageError } from "../core/exit_codes.ts";
import type { Logger } from "../core/log.ts";

/** `--allowed-host`, the same in every script that serves HTTP. */
export const ALLOWED_HOST_OPTION: Record<string, OptionSpec> = {
  "allowed-host": {
    type: "string",
    multiple: true,
    arg: "NAME",
    help: "also answer requests for this host name; .NAME: it and its subdomains (by default only localhost, IP " +
      "addresses and this machine's name; others get 403: no DNS rebinding)",
  },
};

/** At most this many refused host names are logged (once each). */
const LOGGED_NAMES = 20;

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;
const NAME = /^[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*$/;

/** A host name as the WHATWG URL parser leaves it (lower-cased, IDN in punycode), without a final dot. */
function normalize(name: string): string | undefined {
  try {
    return new URL(`http://${name}/`).hostname.replace(/\.$/, "");
  } catch {
    return undefined;
  }
}

/**
 * The host names a server answers to.
 *
 * @example
 * ```ts
 * import { HostRule } from "./host_rule.ts";
 * import assert from "node:assert/strict";
 * const rule = new HostRule("127.0.0.1", ["lab.example"]);
 * assert.ok(rule.allows("localhost"));
 * assert.ok(rule.allows("[::1]"));
 * assert.ok(rule.allows("LAB.example"));
 * assert.ok(!rule.allows("evil.example"));
 * const refused = rule.refusal(new Request("http://evil.example:8000/kv", { headers: { host: "evil.example:8000" } }));
 * assert.equal(refused?.status, 403);
 * ```
 */
export class HostRule {
  readonly #exact = new Set<string>(["localhost"]);
  readonly #domains: string[] = [];
  readonly #logged = new Set<string>();

  /**
   * Creates a HostRule.
   *
   * @param listenHost the address or name the server listens on (`--host`)
   * @param allowed the names given with `--allowed-host`; a leading dot allows the name and its subdomains
   * @param log where each refused host name is said, once
   * @throws {UsageError} for an `--allowed-host` that is not a host name
   */
  constructor(listenHost: string, allowed: readonly string[] = [], private readonly log?: Pick<Logger, "warn">) {
    for (const given of allowed) {
      const domain = given.startsWith(".");
      const name = /[/\\:@?#\[\]\s]/.test(given) ? undefined : normalize(domain ? given.slice(1) : given);
      if (name === undefined || !NAME.test(name)) {
        throw new UsageError(
          `--allowed-host "${given}" is not a host name: give a name such as lab.example (or .lab.example for it and ` +
            "its subdomains), without scheme, port or path",
        );
      }
      if (domain) this.#domains.push(name);
      else this.#exact.add(name);
    }
    for (const own of [listenHost, machineName()]) {
      const name = own === undefined ? undefined : normalize(own);
      if (name !== undefined) this.#exact.add(name);
    }
  }

  /**
   * Whether a request for this host name is answered.
   *
   * @param hostname the host name of the request's URL (no port; IPv6 in brackets)
   * @returns true for localhost, an IP address, the listen name, this machine's name and the allowed names
   */
  allows(hostname: string): boolean {
    const name = normalize(hostname);
    if (name === undefined) return false;
    if (IPV4.test(name) || name.startsWith("[")) return true;
    if (this.#exact.has(name) || name.endsWith(".localhost")) return true;
    return this.#domains.some((d) => name === d || name.endsWith(`.${d}`));
  }

  /**
   * The 403 for a request whose `Host` is not allowed, or undefined to answer it.
   *
   * @param request the request
   * @returns a plain-text 403 saying what to do, or undefined
   */
  refusal(request: Request): Response | undefined {
    if (request.headers.get("host") === null) return undefined;
    const url = new URL(request.url);
    if (this.allows(url.hostname)) return undefined;
    const name = url.hostname.replace(/\.$/, "");
    if (this.#logged.size < LOGGED_NAMES && !this.#logged.has(name)) {
      this.#logged.add(name);
      this.log?.warn(
        `Refused a request for host "${name}" (403): not this server's address. If that name is yours, start it ` +
          `with --allowed-host ${name} (said once per name).`,
      );
    }
    const body = `Host "${name}" is not allowed: this server answers under its own address (localhost, an IP ` +
      `address) and names given with --allowed-host. To reach it as ${name}, start it with --allowed-host ${name}.\n`;
    return new Response(body, {
      status: 403,
      headers: { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" },
    });
  }
}

/** This machine's name (`hostname`), or undefined when it cannot be read. */
function machineName(): string | undefined {
  try {
    return Deno.hostname();
  } catch {
    return undefined;
  }
}
