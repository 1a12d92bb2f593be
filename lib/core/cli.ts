/**
 * Command-line plumbing shared by every script: strict flags over
 * `node:util` parseArgs, `--help` text, typed flag values, and the wrapper
 * that turns errors into messages and exit codes.
 *
 * @module
 */
// First: it checks the permissions and starts listening for Ctrl+C before the slow modules are evaluated.
import "./startup.ts";
import { parseArgs } from "node:util";
import { CliError, ExitCode, exitCodeHelp, UsageError } from "./exit_codes.ts";
import { type Io, Printer, Reporter } from "./output.ts";
import { unreadableReply } from "./server_faults.ts";
import { processStopSignal, shutdownHandled } from "./shutdown.ts";
import { INSECURE_WARNING, resolveTls, withTls } from "./tls.ts";

/** One flag a script accepts. */
export interface OptionSpec {
  /** `string` flags take a value, `boolean` flags do not. */
  type: "string" | "boolean";
  /** One-letter alias, without the dash. */
  short?: string;
  /** The flag may be given several times. */
  multiple?: boolean;
  /** Name of the value in the help text, e.g. `N` or `URL`. */
  arg?: string;
  /** One line of help. */
  help: string;
  /** Boolean flags that default to true; `--no-NAME` turns them off. */
  negatable?: boolean;
}

/** What a script accepts and how its help reads. */
export interface ScriptSpec {
  /** File name, e.g. `subscriber.ts`. */
  name: string;
  /** One sentence: what it does. */
  summary: string;
  /** Usage lines after `deno run -A scripts/NAME`. */
  usage: string[];
  /** Flags by long name. */
  options: Record<string, OptionSpec>;
  /** Example command lines, each with a comment. */
  examples: string[];
  /** Whether positional arguments are accepted. */
  positionals?: boolean;
  /** The help's exit-code lines, for a script that does not follow the project's table (`check.ts`). */
  exitCodes?: string[];
}

/** `--url`, the TLS flags, `--json` and `--help`, which every script has. */
export const COMMON_OPTIONS: Record<string, OptionSpec> = {
  url: {
    type: "string",
    arg: "URL",
    help: "server URL (default: $REDIS_URL, else redis://localhost:6379)",
  },
  "tls-ca": {
    type: "string",
    arg: "FILE",
    help: "rediss://: trust the CA certificate(s) in this PEM file (default: $REDIS_TLS_CA)",
  },
  "tls-insecure": { type: "boolean", help: "rediss://: accept any certificate, unchecked (lab servers only)" },
  json: { type: "boolean", help: "print NDJSON, one object per event" },
  help: { type: "boolean", short: "h", help: "show this help" },
};

/**
 * Parsed flags with typed, validated accessors.
 *
 * @example
 * ```ts
 * import { parseFlags } from "./cli.ts";
 * import assert from "node:assert/strict";
 * const flags = parseFlags({
 *   name: "x.ts", summary: "", usage: [], examples: [],
 *   options: { count: { type: "string", help: "" } },
 * }, ["--count", "3"]);
 * assert.equal(flags.int("count"), 3);
 * ```
 */
export class Flags {
  /**
   * Creates a Flags.
   *
   * @param values the values parseArgs returned
   * @param positionals the positional arguments
   */
  constructor(
    private readonly values: Record<string, unknown>,
    readonly positionals: string[],
  ) {}

  /** The value of a string flag (the last one when repeated). */
  string(name: string): string | undefined {
    const v = this.values[name];
    return Array.isArray(v) ? v.at(-1) : typeof v === "string" ? v : undefined;
  }

  /** Whether a boolean flag is on. */
  boolean(name: string): boolean {
    return this.values[name] === true;
  }

  /** Whether a negatable flag (default on) is still on. */
  enabled(name: string): boolean {
    return this.values[name] !== false;
  }

  /** All values of a repeatable string flag. */
  list(name: string): string[] {
    const v = this.values[name];
    return Array.isArray(v) ? v : typeof v === "string" ? [v] : [];
  }

  /** An integer flag, checked against bounds. */
  int(name: string, bounds: { min?: number; max?: number } = {}): number | undefined {
    return this.number(name, bounds, true);
  }

  /** A number flag, checked against bounds. */
  number(
    name: string,
    bounds: { min?: number; max?: number } = {},
    integer = false,
  ): number | undefined {
    const raw = this.string(name);
    if (raw === undefined) return undefined;
    const n = Number(raw);
    const { min = -Infinity, max = Infinity } = bounds;
    if (raw.trim() === "" || !Number.isFinite(n) || (integer && !Number.isInteger(n))) {
      throw new UsageError(`--${name} expects ${integer ? "a whole number" : "a number"}, got "${raw}"`);
    }
    if (n < min || n > max) {
      const range = max === Infinity ? `at least ${min}` : `between ${min} and ${max}`;
      throw new UsageError(`--${name} must be ${range}, got ${raw}`);
    }
    return n;
  }

  /** A duration flag in milliseconds: `500ms`, `2s`, `1.5m`, or bare seconds. */
  duration(name: string): number | undefined {
    const raw = this.string(name);
    return raw === undefined ? undefined : parseDuration(raw, `--${name}`);
  }
}

/** The longest delay a JavaScript timer can wait (longer ones fire at once). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Parses a duration: `250ms`, `2s`, `1.5m`, `1h`, or a bare number of seconds.
 *
 * @param raw the text to parse
 * @param what what it is, for the error message
 * @returns milliseconds
 * @throws {UsageError} when the text is not a duration
 * @example
 * ```ts
 * import { parseDuration } from "./cli.ts";
 * import assert from "node:assert/strict";
 * assert.equal(parseDuration("1.5s", "--timeout"), 1500);
 * ```
 */
export function parseDuration(raw: string, what: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(raw);
  if (!m) {
    throw new UsageError(`${what} expects a duration such as 500ms, 2s, 1.5m or 10 (seconds), got "${raw}"`);
  }
  const scale = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] ?? "s"] ?? 1000;
  const ms = Number(m[1]) * scale;
  if (ms > MAX_TIMER_MS) throw new UsageError(`${what} must be at most 24 days (${MAX_TIMER_MS} ms), got "${raw}"`);
  return ms;
}

/**
 * Parses `args` strictly against a script's spec: an unknown flag or a
 * missing value is a {@linkcode UsageError} that names the flag.
 *
 * @param spec the script's flags
 * @param args the command-line arguments
 * @returns the parsed flags
 * @throws {UsageError} on any flag the spec does not allow
 * @example
 * ```ts
 * import { COMMON_OPTIONS, parseFlags } from "./cli.ts";
 * import assert from "node:assert/strict";
 * const spec = { name: "x.ts", summary: "", usage: [], examples: [], options: COMMON_OPTIONS };
 * assert.ok(parseFlags(spec, ["--json"]).boolean("json"));
 * ```
 */
export function parseFlags(spec: ScriptSpec, args: string[]): Flags {
  const options: Record<string, { type: "string" | "boolean"; short?: string; multiple?: boolean }> = {};
  for (const [name, o] of Object.entries(spec.options)) {
    options[name] = { type: o.type, ...(o.short ? { short: o.short } : {}), ...(o.multiple ? { multiple: true } : {}) };
  }
  try {
    const { values, positionals } = parseArgs({
      args: withNegativeValues(spec, args),
      options,
      strict: true,
      allowPositionals: true,
      allowNegative: true,
    });
    for (const [name, value] of Object.entries(values)) {
      if (value === false && !spec.options[name]?.negatable) {
        throw new UsageError(`Unknown option '--no-${name}'`);
      }
    }
    if (positionals.length > 0 && !spec.positionals && !values.help) {
      throw new UsageError(`Unexpected argument "${positionals[0]}"`);
    }
    return new Flags(values as Record<string, unknown>, positionals);
  } catch (err) {
    if (err instanceof UsageError) throw err;
    throw new UsageError(cleanParseError(spec, err));
  }
}

/** A negative number: what `--rate -5` means, and what parseArgs would take for a flag. */
const NEGATIVE_NUMBER = /^-(\d|\.\d)/;

/**
 * `--rate -5` as `--rate=-5` (`-r -5` as `-r-5`): a negative number after a flag that takes a value is that value,
 * so that it is checked as one ("--rate must be at least 0, got -5") instead of parseArgs's "argument is ambiguous".
 */
function withNegativeValues(spec: ScriptSpec, args: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const next = args[i + 1];
    if (arg === "--") return [...out, ...args.slice(i)];
    const option = arg.startsWith("--")
      ? spec.options[arg.slice(2)]
      : /^-[^-]$/.test(arg)
      ? Object.values(spec.options).find((o) => o.short === arg[1])
      : undefined;
    if (option?.type === "string" && next !== undefined && NEGATIVE_NUMBER.test(next)) {
      out.push(arg.startsWith("--") ? `${arg}=${next}` : `${arg}${next}`);
      i++;
    } else {
      out.push(arg);
    }
  }
  return out;
}

/** parseArgs's message as one line for our users: the nearest flag for an unknown one, the way to pass a dash. */
function cleanParseError(spec: ScriptSpec, err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  const code = (err as { code?: unknown } | null)?.code;
  const flag = /^Unknown option '(-{1,2}[^']+)'/.exec(message)?.[1];
  if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION" && flag) {
    const near = nearestFlag(spec, flag);
    return `Unknown option '${flag}'${near ? ` (did you mean ${near}?)` : ""}`;
  }
  const ambiguous = /^Option '([^']+)' argument is ambiguous/.exec(message)?.[1];
  if (code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE" && ambiguous) {
    const name = ambiguous.replace(/ <value>$/, "");
    return `${name} needs a value, and the next argument starts with a dash: give it as ${name}=VALUE`;
  }
  // parseArgs adds advice about '--' that does not fit our scripts.
  return message.split(/\. To specify a positional argument/)[0]!.replace(/\.$/, "");
}

/**
 * The script's flag nearest to an unknown one (`--chanel` → `--channel`, `--jsno` → `--json`): at most a third of
 * its letters apart (at least 2), or one it begins or ends; undefined when none is near.
 */
function nearestFlag(spec: ScriptSpec, unknown: string): string | undefined {
  const typed = unknown.replace(/^-+/, "").replace(/=.*$/, "");
  if (typed.length < 2) return undefined;
  const names = Object.keys(spec.options).flatMap((n) => spec.options[n]!.negatable ? [n, `no-${n}`] : [n]);
  let best: { name: string; distance: number } | undefined;
  for (const name of names) {
    const distance = editDistance(typed, name);
    if (best === undefined || distance < best.distance) best = { name, distance };
  }
  if (best && best.distance <= Math.max(2, Math.floor(typed.length / 3))) return `--${best.name}`;
  const affix = names.find((n) => n.startsWith(typed) || typed.startsWith(n));
  return affix === undefined ? undefined : `--${affix}`;
}

/** Levenshtein distance: the fewest letters inserted, removed or replaced to turn `a` into `b`. */
function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) {
      next[j] = Math.min(next[j - 1]! + 1, row[j]! + 1, row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    row = next;
  }
  return row[b.length]!;
}

/**
 * The `--help` text of a script: USAGE, OPTIONS and EXAMPLES.
 *
 * @param spec the script's spec
 * @returns the help text
 * @example
 * ```ts
 * import { COMMON_OPTIONS, helpText } from "./cli.ts";
 * import assert from "node:assert/strict";
 * const text = helpText({ name: "x.ts", summary: "Does x.", usage: [""], examples: [], options: COMMON_OPTIONS });
 * assert.ok(text.includes("OPTIONS"));
 * ```
 */
export function helpText(spec: ScriptSpec): string {
  const rows = Object.entries(spec.options).map(([name, o]) => {
    const short = o.short ? `-${o.short}, ` : "    ";
    const long = o.negatable ? `--[no-]${name}` : `--${name}`;
    const arg = o.type === "string" ? ` ${o.arg ?? "VALUE"}` : "";
    return [`  ${short}${long}${arg}`, o.help + (o.multiple ? " (repeatable)" : "")] as const;
  });
  const width = Math.max(...rows.map(([left]) => left.length)) + 2;
  return [
    `${spec.name} — ${spec.summary}`,
    "",
    "USAGE",
    ...spec.usage.map((u) => `  deno run -A scripts/${spec.name}${u ? " " + u : ""}`),
    "",
    "OPTIONS",
    ...rows.map(([left, help]) => left.padEnd(width) + help),
    "",
    "EXAMPLES",
    ...spec.examples.map((e) => `  ${e}`),
    "",
    ...(spec.exitCodes ?? exitCodeHelp()),
    "",
  ].join("\n");
}

/**
 * Runs a script's body with parsed flags: prints `--help`, applies the TLS
 * flags to every connection the body opens (warning about `--tls-insecure`),
 * turns {@linkcode CliError}s into a message on stderr and their exit code
 * (a plain line for code 0, e.g. stopped while connecting), a reply that
 * could not be read into exit code 7, and any other error into exit code 1
 * (with the stack only when `DEBUG` is set). A stop request (Ctrl+C) that
 * came before the body started, or while no step of the body listens for one
 * (no `onShutdown` open, shutdown.ts), ends the script with exit code 0 and a line
 * saying so.
 *
 * @param spec the script's spec
 * @param args the command-line arguments
 * @param io where output goes
 * @param body the script's work; returns the exit code
 * @returns the exit code
 * @example
 * ```ts
 * import { COMMON_OPTIONS, runScript } from "./cli.ts";
 * import { nullWriter } from "./output.ts";
 * import assert from "node:assert/strict";
 * const spec = { name: "x.ts", summary: "", usage: [], examples: [], options: COMMON_OPTIONS };
 * const silent = { stdout: nullWriter, stderr: nullWriter };
 * const code = await runScript(spec, ["--bogus"], silent, () => Promise.resolve(0));
 * assert.equal(code, 2);
 * ```
 */
export async function runScript(
  spec: ScriptSpec,
  args: string[],
  io: Io,
  body: (flags: Flags) => Promise<number>,
): Promise<number> {
  const err = new Printer(io.stderr);
  try {
    const flags = parseFlags(spec, args);
    if (flags.boolean("help")) {
      new Printer(io.stdout).line(helpText(spec));
      return ExitCode.Ok;
    }
    if (processStopSignal().aborted) throw new CliError(ExitCode.Ok, "Stopped before it started.");
    if (!("tls-ca" in spec.options)) return await unlessStoppedUnheard(body(flags));
    const tls = resolveTls(flags.string("tls-ca"), flags.boolean("tls-insecure"));
    if (tls.insecure) new Reporter(io.stderr).warn(INSECURE_WARNING);
    return await unlessStoppedUnheard(withTls(tls, () => body(flags)));
  } catch (e) {
    if (e instanceof CliError && e.exitCode === ExitCode.Ok) {
      err.line(e.message);
      return ExitCode.Ok;
    }
    if (e instanceof CliError) {
      err.line(`${err.red("error:")} ${e.message}`);
      if (e.exitCode === ExitCode.Usage) err.line(`Run "deno run -A scripts/${spec.name} --help" for usage.`);
      return e.exitCode;
    }
    const fault = unreadableReply(e);
    if (fault) {
      err.line(`${err.red("error:")} ${fault.what}.\n${fault.fix}`);
      return fault.exitCode;
    }
    const message = e instanceof Error ? e.message : String(e);
    err.line(`${err.red("error:")} unexpected failure: ${message}`);
    if (e instanceof Error && e.stack && readDebug()) err.line(e.stack);
    return ExitCode.Failure;
  }
}

/**
 * Waits for the script's work, or ends it (exit code 0) when a stop request comes while none of its steps listens for
 * one (no `onShutdown` open, shutdown.ts: between two steps, or in a step that runs to its end on its own).
 */
async function unlessStoppedUnheard(work: Promise<number>): Promise<number> {
  const stop = processStopSignal();
  const unheard = Promise.withResolvers<"stopped">();
  const onStop = () => {
    if (!shutdownHandled()) unheard.resolve("stopped");
  };
  stop.addEventListener("abort", onStop, { once: true });
  try {
    const result = await Promise.race([work, unheard.promise]);
    if (result !== "stopped") return result;
    work.catch(() => {});
    throw new CliError(ExitCode.Ok, "Stopped.");
  } finally {
    stop.removeEventListener("abort", onStop);
  }
}

function readDebug(): boolean {
  try {
    return Boolean(Deno.env.get("DEBUG"));
  } catch {
    return false;
  }
}
