/**
 * What a long-running script wires once: its {@linkcode ServiceMetrics},
 * its {@linkcode Readiness} — tied to every connection the process opens
 * ({@linkcode ConnectionBook}) and to the stop — and, with `--metrics-port`,
 * the ops server with the process's own metrics.
 *
 * @module
 */
import type { Flags } from "../core/cli.ts";
import { ConnectionBook } from "./connections.ts";
import { metricsFlags } from "./flags.ts";
import { Readiness } from "./readiness.ts";
import { OpsRegistry } from "./registry.ts";
import { serveOps } from "./server.ts";
import { ServiceMetrics } from "./service_metrics.ts";
import { onAbort } from "../core/timing.ts";

/** Where {@linkcode startOps} says what it does. */
export interface OpsLog {
  /** A status line (where the metrics are served). */
  info(text: string): void;
  /** A warning (a label past its cap, a refused host name). */
  warn(text: string): void;
}

/** A script's metrics and readiness, served while it runs when `--metrics-port` is given. */
export interface Ops extends AsyncDisposable {
  /** The shared metrics. */
  readonly metrics: ServiceMetrics;
  /** Whether the script does its job now. */
  readonly readiness: Readiness;
  /** The registry, for metrics of the script's own. */
  readonly registry: OpsRegistry;
  /** `http://host:port` of the ops server, or undefined without `--metrics-port`. */
  readonly url: string | undefined;
  /** Stops the ops server and the event-loop sampling. */
  close(): Promise<void>;
}

/** How {@linkcode startOps} starts. */
export interface OpsOptions {
  /** Where it says what it does. */
  log: OpsLog;
  /** What the script does before it is ready (default `starting`). */
  starting?: string;
  /** Aborted when the script is asked to stop (SIGTERM, Ctrl+C): not ready from then on. */
  signal?: AbortSignal;
}

/**
 * Makes a script's metrics and readiness from its flags
 * ({@linkcode METRICS_OPTIONS}) and, with a metrics port, serves them with the
 * process's own metrics and `pubsub_lab_ready`.
 *
 * @param flags the parsed flags
 * @param options where to say things, and what the script does before it is ready
 * @returns the ops of the script; close it (or `await using`) at the end
 * @throws {CliError} when the port is taken; {@linkcode UsageError} for bad flags
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseFlags } from "../core/cli.ts";
 * import { METRICS_OPTIONS } from "./flags.ts";
 * import { startOps } from "./ops.ts";
 * const spec = { name: "x.ts", summary: "", usage: [], examples: [], options: METRICS_OPTIONS };
 * await using ops = startOps(parseFlags(spec, ["--metrics-port", "0"]), { log: { info() {}, warn() {} } });
 * ops.readiness.started();
 * const res = await fetch(`${ops.url}/readyz`);
 * assert.equal(await res.text(), "ready\n");
 * ```
 */
export function startOps(flags: Flags, options: OpsOptions): Ops {
  const { log } = options;
  const listen = metricsFlags(flags, log);
  const registry = new OpsRegistry({ warn: (text) => log.warn(text) });
  const metrics = new ServiceMetrics(registry);
  const readiness = new Readiness(options.starting);
  const book = new ConnectionBook(metrics, readiness);
  const stop = () => readiness.stopping("stopping (asked to stop)");
  onAbort(options.signal, stop);
  let server: Deno.HttpServer | undefined;
  let url: string | undefined;
  if (listen) {
    registry.readGauge("ready", "1 while the service does its job (GET /readyz answers 200), else 0.", [], () => [
      [{}, readiness.state.ready ? 1 : 0],
    ]);
    registry.processMetrics();
    try {
      server = serveOps(listen, registry, readiness);
    } catch (err) {
      registry.close();
      book[Symbol.dispose]();
      throw err;
    }
    const { hostname, port } = server.addr as Deno.NetAddr;
    url = `http://${hostname.includes(":") ? `[${hostname}]` : hostname}:${port}`;
    log.info(`Health and metrics on ${url}: /livez, /readyz, /metrics.`);
  }
  let closing: Promise<void> | undefined;
  const close = () =>
    closing ??= (async () => {
      readiness.stopping();
      options.signal?.removeEventListener("abort", stop);
      book[Symbol.dispose]();
      registry.close();
      await server?.shutdown();
    })();
  return { metrics, readiness, registry, url, close, [Symbol.asyncDispose]: close };
}
