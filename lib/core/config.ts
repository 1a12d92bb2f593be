/**
 * Where the server address comes from (`--url` > `REDIS_URL` > default) and
 * how it is shown: a password never reaches the terminal.
 *
 * @module
 */
import { UsageError } from "./exit_codes.ts";

/** The address used when neither `--url` nor `REDIS_URL` is given. */
export const DEFAULT_URL = "redis://localhost:6379";

/**
 * Reads an environment variable, or `undefined` when it is unset or when the
 * script was not given `--allow-env`.
 *
 * @param name the variable's name
 * @returns its value, or undefined
 * @example
 * ```ts
 * import { readEnv } from "./config.ts";
 * const url = readEnv("REDIS_URL") ?? "redis://localhost:6379";
 * ```
 */
export function readEnv(name: string): string | undefined {
  try {
    return Deno.env.get(name) || undefined;
  } catch {
    return undefined;
  }
}

/**
 * Chooses the server URL: the `--url` flag, else `REDIS_URL`, else
 * {@linkcode DEFAULT_URL}; checks that it is a `redis://` or `rediss://` URL.
 *
 * @param flag the value of `--url`, if given
 * @returns the URL to connect to
 * @throws {UsageError} when the URL is not a valid redis URL
 * @example
 * ```ts
 * import { resolveUrl } from "./config.ts";
 * console.assert(resolveUrl("redis://127.0.0.1:6380") === "redis://127.0.0.1:6380");
 * ```
 */
export function resolveUrl(flag?: string): string {
  if (flag !== undefined) return checkUrl(flag, "--url");
  const env = readEnv("REDIS_URL");
  return env ? checkUrl(env, "REDIS_URL") : DEFAULT_URL;
}

/**
 * Checks that a URL is a `redis://` or `rediss://` URL with a numeric
 * database, naming where it came from when it is not.
 *
 * @param url the URL
 * @param source where it came from, e.g. `--write-url`
 * @returns the URL, unchanged
 * @throws {UsageError} when the URL is not a valid redis URL
 * @example
 * ```ts
 * import { checkUrl } from "./config.ts";
 * console.assert(checkUrl("redis://primary:6379", "--write-url") === "redis://primary:6379");
 * ```
 */
export function checkUrl(url: string, source: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError(
      `Invalid server URL in ${source}: "${redactUrl(url)}". ` +
        `Use redis://[user:password@]host[:port][/db], e.g. ${DEFAULT_URL}`,
    );
  }
  if (parsed.protocol !== "redis:" && parsed.protocol !== "rediss:") {
    throw new UsageError(
      `Invalid server URL in ${source}: "${redactUrl(url)}" must start with redis:// or rediss://`,
    );
  }
  const db = parsed.pathname.replace(/^\//, "");
  if (db !== "" && !/^\d+$/.test(db)) {
    throw new UsageError(
      `Invalid server URL in ${source}: database "${db}" must be a number, as in ${DEFAULT_URL}/0`,
    );
  }
  return url;
}

/** Query parameters that carry a password (ioredis reads URL query parameters as options). */
const SECRET_PARAMS = /^pass(word)?$/i;

/**
 * Hides the password of a URL — in the user-info part and in a `password`
 * query parameter: `redis://user:***@host:6379/0`. A string that does not
 * parse as a URL loses everything between the first `:` after the user name
 * and the last `@`, and its query.
 *
 * @param url a server URL
 * @returns the URL with its password replaced by `***`
 * @example
 * ```ts
 * import { redactUrl } from "./config.ts";
 * console.assert(redactUrl("redis://u:secret@h:6379/0") === "redis://u:***@h:6379/0");
 * console.assert(redactUrl("redis://h:6379/0?password=secret") === "redis://h:6379/0?password=***");
 * ```
 */
export function redactUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@]*):.*@/i, "$1:***@").replace(/\?.*$/, "?***");
  }
  if (parsed.password) parsed.password = "***";
  for (const key of [...parsed.searchParams.keys()]) {
    if (SECRET_PARAMS.test(key)) parsed.searchParams.set(key, "***");
  }
  return parsed.href.replace(/:%2A%2A%2A@/, ":***@").replace(/=%2A%2A%2A/g, "=***");
}

/** The passwords a URL carries, decoded, as the client library would send them. */
function secretsOf(url: string): string[] {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    const m = /^[a-z][a-z0-9+.-]*:\/\/[^:/@]*:(.*)@/i.exec(url);
    return m?.[1] ? [m[1]] : [];
  }
  const secrets = [...parsed.searchParams].filter(([k]) => SECRET_PARAMS.test(k)).map(([, v]) => v);
  if (parsed.password) {
    secrets.push(parsed.password);
    try {
      secrets.push(decodeURIComponent(parsed.password));
    } catch {
      // not valid percent-encoding: the raw form is enough
    }
  }
  return secrets.filter((x) => x.length > 0);
}

/**
 * Removes the URL's password from any text (an error message from the
 * client library, say), in every form the URL carries it.
 *
 * @param text any text that may contain the password
 * @param url the URL whose password must not appear
 * @returns the text with the password replaced by `***`
 * @example
 * ```ts
 * import { scrubSecret } from "./config.ts";
 * console.assert(scrubSecret("bad pw hunter2", "redis://:hunter2@h") === "bad pw ***");
 * ```
 */
export function scrubSecret(text: string, url: string): string {
  let scrubbed = text;
  for (const secret of secretsOf(url).sort((a, b) => b.length - a.length)) {
    scrubbed = scrubbed.split(secret).join("***");
  }
  return scrubbed.includes(url) ? scrubbed.split(url).join(redactUrl(url)) : scrubbed;
}
