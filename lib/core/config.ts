/**
 * Where the server address comes from (`--url` > `REDIS_URL` > default), the
 * database it names, and how it is shown: a password never reaches the terminal.
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
 * import assert from "node:assert/strict";
 * assert.equal(resolveUrl("redis://127.0.0.1:6380"), "redis://127.0.0.1:6380");
 * ```
 */
export function resolveUrl(flag?: string): string {
  if (flag !== undefined) return checkUrl(flag, "--url");
  const env = readEnv("REDIS_URL");
  return env ? checkUrl(env, "REDIS_URL") : DEFAULT_URL;
}

/**
 * Checks that a URL is a `redis://` or `rediss://` URL with a numeric
 * database, naming where it came from when it is not. Spaces and line breaks
 * around it (a pasted or `echo`ed value) are trimmed; blanks or control
 * characters inside it are refused, since parsers disagree on them and the
 * client library would then echo the raw string, password and all.
 *
 * @param url the URL
 * @param source where it came from, e.g. `--write-url`
 * @returns the URL, trimmed
 * @throws {UsageError} when the URL is not a valid redis URL
 * @example
 * ```ts
 * import { checkUrl } from "./config.ts";
 * import assert from "node:assert/strict";
 * assert.equal(checkUrl("redis://primary:6379", "--write-url"), "redis://primary:6379");
 * assert.equal(checkUrl(" redis://primary:6379\n", "REDIS_URL"), "redis://primary:6379");
 * ```
 */
export function checkUrl(url: string, source: string): string {
  const trimmed = url.trim();
  // deno-lint-ignore no-control-regex
  if (/[\s\x00-\x1f\x7f]/.test(trimmed)) {
    throw new UsageError(
      `Invalid server URL in ${source}: "${redactUrl(trimmed)}" contains a blank or a control character; ` +
        `percent-encode it (a space is %20), e.g. redis://user:pass%20word@host:6379`,
    );
  }
  let parsed: URL;
  try {
    parsed = new URL(trimmed);
  } catch {
    throw new UsageError(
      `Invalid server URL in ${source}: "${redactUrl(trimmed)}". ` +
        `Use redis://[user:password@]host[:port][/db], e.g. ${DEFAULT_URL}`,
    );
  }
  if (parsed.protocol !== "redis:" && parsed.protocol !== "rediss:") {
    throw new UsageError(
      `Invalid server URL in ${source}: "${redactUrl(trimmed)}" must start with redis:// or rediss://`,
    );
  }
  const db = parsed.pathname.replace(/^\//, "");
  if (db !== "" && !/^\d+$/.test(db)) {
    throw new UsageError(
      `Invalid server URL in ${source}: database "${db}" must be a number, as in ${DEFAULT_URL}/0`,
    );
  }
  return trimmed;
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
 * import assert from "node:assert/strict";
 * assert.equal(redactUrl("redis://u:secret@h:6379/0"), "redis://u:***@h:6379/0");
 * assert.equal(redactUrl("redis://h:6379/0?password=secret"), "redis://h:6379/0?password=***");
 * ```
 */
export function redactUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return url.replace(/^(\s*[a-z][a-z0-9+.-]*:\/\/[^:/@]*):.*@/is, "$1:***@").replace(/\?.*$/s, "?***");
  }
  if (parsed.password) parsed.password = "***";
  for (const key of [...parsed.searchParams.keys()]) {
    if (SECRET_PARAMS.test(key)) parsed.searchParams.set(key, "***");
  }
  return parsed.href.replace(/:%2A%2A%2A@/, ":***@").replace(/=%2A%2A%2A/g, "=***");
}

/** The passwords a URL carries: as written (blanks and all) and as the client library would send them. */
function secretsOf(url: string): string[] {
  const raw = /^\s*[a-z][a-z0-9+.-]*:\/\/[^:/@]*:(.*)@/is.exec(url)?.[1];
  const secrets = raw ? [raw, raw.trim()] : [];
  let parsed: URL | undefined;
  try {
    parsed = new URL(url);
  } catch {
    // not a URL: the raw form is all there is
  }
  if (parsed) {
    secrets.push(...[...parsed.searchParams].filter(([k]) => SECRET_PARAMS.test(k)).map(([, v]) => v));
    if (parsed.password) secrets.push(parsed.password);
  }
  for (const s of [...secrets]) {
    try {
      secrets.push(decodeURIComponent(s));
    } catch {
      // not valid percent-encoding: the raw form is enough
    }
  }
  return secrets.filter((x) => x.length > 0);
}

/**
 * Removes the URL's password from any text (an error message from the
 * client library or from Deno, say), in every form the text may carry it:
 * as given, decoded, percent-encoded, and the whole URL as given, trimmed,
 * percent-encoded or taken for a Unix-socket path.
 *
 * @param text any text that may contain the password
 * @param url the URL whose password must not appear
 * @returns the text with the password replaced by `***`
 * @example
 * ```ts
 * import { scrubSecret } from "./config.ts";
 * import assert from "node:assert/strict";
 * assert.equal(scrubSecret("bad pw hunter2", "redis://:hunter2@h"), "bad pw ***");
 * assert.equal(scrubSecret("ENOENT /redis://:x%20y@h", " redis://:x%20y@h"), "ENOENT /redis://:***@h");
 * ```
 */
export function scrubSecret(text: string, url: string): string {
  let scrubbed = text;
  for (const form of urlForms(url)) scrubbed = scrubbed.split(form).join(redactUrl(url.trim()));
  const forms = secretsOf(url).flatMap((s) => [s, encodeURIComponent(s), encodeURI(s)]);
  for (const secret of [...new Set(forms)].sort((a, b) => b.length - a.length)) {
    scrubbed = scrubbed.split(secret).join("***");
  }
  return scrubbed;
}

/** The URL as the text of a message may quote it, longest first. */
function urlForms(url: string): string[] {
  const forms = [url, url.trim(), encodeURI(url), encodeURIComponent(url), encodeURI(url.trim())];
  return [...new Set(forms)].filter((f) => f.length > 0).sort((a, b) => b.length - a.length);
}

/**
 * The URL with its database path set to `db`, so that the client SELECTs it.
 *
 * @param url a `redis://` URL
 * @param db the database number
 * @returns the URL ending in `/<db>`
 * @example
 * ```ts
 * import { urlForDb } from "./config.ts";
 * import assert from "node:assert/strict";
 * assert.equal(urlForDb("redis://127.0.0.1:6379", 2), "redis://127.0.0.1:6379/2");
 * ```
 */
export function urlForDb(url: string, db: number): string {
  const parsed = new URL(url);
  parsed.pathname = `/${db}`;
  return parsed.toString();
}

/**
 * The database a script works on: `--db` if given, else the URL's path, else 0.
 *
 * @param flag the value of `--db`, if given
 * @param url the server URL
 * @returns the database number
 * @example
 * ```ts
 * import { chooseDb } from "./config.ts";
 * import assert from "node:assert/strict";
 * assert.equal(chooseDb(undefined, "redis://h:6379/3"), 3);
 * assert.equal(chooseDb(1, "redis://h/3"), 1);
 * ```
 */
export function chooseDb(flag: number | undefined, url: string): number {
  if (flag !== undefined) return flag;
  const path = new URL(url).pathname.replace(/^\//, "");
  return path === "" ? 0 : Number(path);
}
