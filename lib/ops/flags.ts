/**
 * `--metrics-port` and `--metrics-host`, declared once for every
 * long-running script to spread into its options, with `--allowed-host`
 * (the same Host rule as the web pages).
 *
 * @module
 */
import type { Flags, OptionSpec } from "../core/cli.ts";
import { readEnv } from "../core/config.ts";
import { UsageError } from "../core/exit_codes.ts";
import { ALLOWED_HOST_OPTION, HostRule } from "../web/host_rule.ts";

/** The environment variable that gives `--metrics-port` when the flag is not given. */
export const METRICS_PORT_ENV = "PUBSUB_LAB_METRICS_PORT";

/** The address the metrics port listens on unless `--metrics-host` says otherwise: this machine only. */
export const DEFAULT_METRICS_HOST = "127.0.0.1";

/** `--metrics-port`, `--metrics-host` and `--allowed-host`: spread them into a long-running script's options. */
export const METRICS_OPTIONS: Record<string, OptionSpec> = {
  "metrics-port": {
    type: "string",
    arg: "PORT",
    help: `serve /livez, /readyz and /metrics (Prometheus) on this port (default: $${METRICS_PORT_ENV}, else none; ` +
      "0: any free port)",
  },
  "metrics-host": {
    type: "string",
    arg: "ADDRESS",
    help: `address the metrics port listens on (default: ${DEFAULT_METRICS_HOST}, this machine only; 0.0.0.0 ` +
      "exposes it to other machines, e.g. from a container)",
  },
  ...ALLOWED_HOST_OPTION,
};

/** Where the metrics port listens and which host names it answers to. */
export interface MetricsListen {
  /** The port (0: any free one). */
  port: number;
  /** The address. */
  hostname: string;
  /** The host names answered to: the address, localhost, IP addresses, this machine, `--allowed-host`. */
  hosts: HostRule;
}

/**
 * The metrics port from {@linkcode METRICS_OPTIONS} (else `$PUBSUB_LAB_METRICS_PORT`), or undefined when none is given.
 *
 * @param flags the parsed flags
 * @param log where refused host names are said
 * @returns where to listen, or undefined: no metrics port
 * @throws {UsageError} for a port that is not one, `--metrics-host` without a port, or a bad `--allowed-host`
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseFlags } from "../core/cli.ts";
 * import { METRICS_OPTIONS, metricsFlags } from "./flags.ts";
 * const spec = { name: "x.ts", summary: "", usage: [], examples: [], options: METRICS_OPTIONS };
 * const listen = metricsFlags(parseFlags(spec, ["--metrics-port", "9464"]));
 * assert.equal(listen?.port, 9464);
 * assert.equal(listen?.hostname, "127.0.0.1");
 * ```
 */
export function metricsFlags(flags: Flags, log?: { warn(text: string): void }): MetricsListen | undefined {
  const host = flags.string("metrics-host");
  const port = flags.int("metrics-port", { min: 0, max: 65535 }) ?? envPort();
  if (port === undefined) {
    if (host !== undefined) {
      throw new UsageError(`--metrics-host goes with --metrics-port (or $${METRICS_PORT_ENV}): give a port too`);
    }
    return undefined;
  }
  const hostname = host ?? DEFAULT_METRICS_HOST;
  return { port, hostname, hosts: new HostRule(hostname, flags.list("allowed-host"), log) };
}

function envPort(): number | undefined {
  const raw = readEnv(METRICS_PORT_ENV);
  if (raw === undefined) return undefined;
  const port = Number(raw.trim());
  if (raw.trim() === "" || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new UsageError(`$${METRICS_PORT_ENV} must be a port number (0 to 65535), got "${raw}"`);
  }
  return port;
}
