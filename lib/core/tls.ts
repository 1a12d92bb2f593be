/**
 * TLS for `rediss://` URLs: which certificate authority to trust (`--tls-ca
 * FILE`, else `REDIS_TLS_CA`) or, for lab servers with self-signed
 * certificates, `--tls-insecure`. The settings hold for one script run, and
 * every connection that run opens uses them.
 *
 * @module
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { readEnv } from "./config.ts";
import { UsageError } from "./exit_codes.ts";

/** How `rediss://` connections check the server's certificate. */
export interface TlsSettings {
  /** PEM certificate(s) of the authority that signed the server's certificate. */
  ca?: string;
  /** Where `ca` was read from, for messages. */
  caSource?: string;
  /** Accept any certificate (no check at all): lab servers only. */
  insecure?: boolean;
}

/** The warning every run with `--tls-insecure` prints. */
export const INSECURE_WARNING: string =
  "--tls-insecure: the server's TLS certificate is not checked, so anyone on the way can read and change the traffic. " +
  "Use it for a lab server only; give the server's CA with --tls-ca FILE instead.";

/**
 * Reads the TLS settings from `--tls-ca` (else `REDIS_TLS_CA`) and
 * `--tls-insecure`.
 *
 * @param caFlag the value of `--tls-ca`, if given
 * @param insecure whether `--tls-insecure` was given
 * @returns the settings
 * @throws {UsageError} when the CA file cannot be read or holds no PEM certificate, or both flags are given
 *   (`--tls-insecure` alone overrides `REDIS_TLS_CA`)
 * @example
 * ```ts
 * import { resolveTls } from "./tls.ts";
 * import assert from "node:assert/strict";
 * assert.equal(resolveTls(undefined, true).insecure, true);
 * ```
 */
export function resolveTls(caFlag: string | undefined, insecure: boolean): TlsSettings {
  if (caFlag !== undefined && insecure) {
    throw new UsageError("--tls-ca and --tls-insecure contradict each other: give one of them");
  }
  if (insecure) return { insecure }; // the flag beats REDIS_TLS_CA
  const [file, source] = caFlag !== undefined ? [caFlag, "--tls-ca"] : [readEnv("REDIS_TLS_CA"), "REDIS_TLS_CA"];
  if (file === undefined) return {};
  let ca: string;
  try {
    ca = Deno.readTextFileSync(file);
  } catch (err) {
    throw new UsageError(`Cannot read the CA certificate "${file}" given in ${source}: ${(err as Error).message}`);
  }
  if (!ca.includes("-----BEGIN CERTIFICATE-----")) {
    throw new UsageError(
      `The file "${file}" given in ${source} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`,
    );
  }
  return { ca, caSource: `${source} ${file}` };
}

const current = new AsyncLocalStorage<TlsSettings>();

/**
 * Runs `body` with `settings` as the TLS settings of every connection it opens.
 *
 * @param settings the run's TLS settings
 * @param body the run
 * @returns what `body` returns
 * @example
 * ```ts
 * import { currentTls, withTls } from "./tls.ts";
 * import assert from "node:assert/strict";
 * withTls({ insecure: true }, () => assert.equal(currentTls().insecure, true));
 * ```
 */
export function withTls<T>(settings: TlsSettings, body: () => T): T {
  return current.run(settings, body);
}

/**
 * The TLS settings of the run in progress (none outside {@linkcode withTls}).
 *
 * @returns the settings
 * @example
 * ```ts
 * import { currentTls } from "./tls.ts";
 * import assert from "node:assert/strict";
 * assert.equal(currentTls().ca, undefined);
 * ```
 */
export function currentTls(): TlsSettings {
  return current.getStore() ?? {};
}
