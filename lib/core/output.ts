/**
 * Where output goes and how it looks: readable lines (colour only on a
 * terminal, never with NO_COLOR) or NDJSON in the envelope of json_event.ts,
 * written at once so `| jq` works live; payloads shown binary-safe.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { type EventFields, jsonEvent } from "./json_event.ts";

/** Something output can be written to: `Deno.stdout`, `Deno.stderr`, or a test capture. */
export interface Writer {
  /** Writes some of `p`, returns how many bytes were written. */
  writeSync(p: Uint8Array): number;
  /** Whether this is a terminal (colour, live status lines). */
  isTerminal(): boolean;
}

/**
 * A {@linkcode Writer} that discards everything, e.g. for a Reporter whose
 * words nobody should see.
 *
 * @example
 * ```ts
 * import { nullWriter, Reporter } from "./output.ts";
 * new Reporter(nullWriter).warn("never shown");
 * ```
 */
export const nullWriter: Writer = { writeSync: (p) => p.length, isTerminal: () => false };

/** The streams and stop signal a script runs with; tests pass their own. */
export interface Io {
  /** Events and results. */
  stdout: Writer;
  /** Status, warnings and errors. */
  stderr: Writer;
  /** Aborted to stop the script as Ctrl+C would (tests use it). */
  signal?: AbortSignal;
}

/**
 * The process's own stdout and stderr.
 *
 * @returns an {@linkcode Io} over `Deno.stdout` and `Deno.stderr`
 * @example
 * ```ts
 * import { defaultIo, Printer } from "./output.ts";
 * new Printer(defaultIo().stderr).line("hello");
 * ```
 */
export function defaultIo(): Io {
  return { stdout: Deno.stdout, stderr: Deno.stderr };
}

const encoder = new TextEncoder();

function noColorRequested(): boolean {
  try {
    return Deno.env.get("NO_COLOR") !== undefined && Deno.env.get("NO_COLOR") !== "";
  } catch {
    return false;
  }
}

/**
 * Writes whole lines to a {@linkcode Writer} at once, with optional colour.
 *
 * @example
 * ```ts
 * import { Printer } from "./output.ts";
 * const p = new Printer(Deno.stderr);
 * p.line(`${p.green("✓")} connected`);
 * ```
 */
export class Printer {
  /** Whether colour codes are written. */
  readonly color: boolean;

  /**
   * Creates a Printer.
   *
   * @param writer where the lines go
   */
  constructor(readonly writer: Writer) {
    this.color = writer.isTerminal() && !noColorRequested();
  }

  /** Writes `text` and a newline. */
  line(text: string): void {
    this.write(text + "\n");
  }

  /** Writes `text` as it is, all of it. */
  write(text: string): void {
    writeAll(this.writer, encoder.encode(text));
  }

  /**
   * Writes one NDJSON line in the envelope every script shares (see json_event.ts): `event`, `time`, then the fields.
   *
   * @param event what the object is, e.g. `message`, `summary`
   * @param fields the rest
   * @param at when it happened: a Date (`time` to the millisecond), or epoch ms with a fraction from
   *   {@linkcode preciseNow} (`time` to the microsecond); default now, to the millisecond
   */
  event(event: string, fields?: EventFields, at?: Date | number): void {
    this.line(JSON.stringify(jsonEvent(event, fields, at)));
  }

  /** Text in green, on a colour terminal. */
  green(text: string): string {
    return this.paint(32, text);
  }
  /** Text in red, on a colour terminal. */
  red(text: string): string {
    return this.paint(31, text);
  }
  /** Text in yellow, on a colour terminal. */
  yellow(text: string): string {
    return this.paint(33, text);
  }
  /** Text in cyan, on a colour terminal. */
  cyan(text: string): string {
    return this.paint(36, text);
  }
  /** Text in magenta, on a colour terminal. */
  magenta(text: string): string {
    return this.paint(35, text);
  }
  /** Dimmed text, on a colour terminal. */
  dim(text: string): string {
    return this.paint(2, text);
  }
  /** Bold text, on a colour terminal. */
  bold(text: string): string {
    return this.paint(1, text);
  }

  /** Wraps text in an ANSI SGR code. */
  private paint(code: number, text: string): string {
    return this.color ? `\x1b[${code}m${text}\x1b[0m` : text;
  }
}

function writeAll(writer: Writer, bytes: Uint8Array): void {
  let offset = 0;
  try {
    while (offset < bytes.length) offset += writer.writeSync(bytes.subarray(offset));
  } catch (err) {
    // The reader went away (`| head`, a closed jq): nothing more can be shown, so end quietly.
    if (err instanceof Deno.errors.BrokenPipe) Deno.exit(0);
    throw err;
  }
}

/**
 * Status lines on stderr: warnings, outages, progress. Kept off stdout so
 * stdout stays clean for `--json` consumers.
 *
 * @example
 * ```ts
 * import { Reporter } from "./output.ts";
 * new Reporter(Deno.stderr).warn("connection lost");
 * ```
 */
export class Reporter {
  /** The printer behind it. */
  readonly printer: Printer;

  /**
   * Creates a Reporter.
   *
   * @param stderr where status lines go
   */
  constructor(stderr: Writer) {
    this.printer = new Printer(stderr);
  }

  /** A neutral status line. */
  info(text: string): void {
    this.printer.line(text);
  }
  /** Something went right (reconnected, enabled). */
  ok(text: string): void {
    this.printer.line(`${this.printer.green("✓")} ${text}`);
  }
  /** Something the user should know (data loss, a change made). */
  warn(text: string): void {
    this.printer.line(`${this.printer.yellow("!")} ${text}`);
  }
  /** Something failed. */
  error(text: string): void {
    this.printer.line(`${this.printer.red("✗")} ${text}`);
  }
}

/** A payload as text and as JSON fields. */
export interface ShownPayload {
  /** For text output: UTF-8 with control characters and invalid bytes escaped. */
  text: string;
  /** For JSON output: the string, or base64 when it is not valid UTF-8. */
  json: { payload: string; encoding?: "base64" };
}

const strictDecoder = new TextDecoder("utf-8", { fatal: true });

/**
 * Shows a payload binary-safe: valid UTF-8 is shown as text (control
 * characters escaped so they cannot drive the terminal); anything else is
 * escaped byte by byte in text and base64-encoded in JSON.
 *
 * @param bytes the payload
 * @returns its text and JSON forms
 * @example
 * ```ts
 * import { showPayload } from "./output.ts";
 * import assert from "node:assert/strict";
 * const shown = showPayload(new Uint8Array([0xff, 0x41]));
 * assert.equal(shown.text, "\\xffA");
 * assert.equal(shown.json.encoding, "base64");
 * ```
 */
export function showPayload(bytes: Uint8Array): ShownPayload {
  let decoded: string;
  try {
    decoded = strictDecoder.decode(bytes);
  } catch {
    let text = "";
    for (const b of bytes) {
      text += b >= 0x20 && b < 0x7f && b !== 0x5c
        ? String.fromCharCode(b)
        : b === 0x5c
        ? "\\\\"
        : `\\x${b.toString(16).padStart(2, "0")}`;
    }
    return { text, json: { payload: Buffer.from(bytes).toString("base64"), encoding: "base64" } };
  }
  return { text: escapeControl(decoded), json: { payload: decoded } };
}

/**
 * Escapes control characters (newlines, escape sequences, bidirectional
 * overrides) for one-line text output, so untrusted text cannot drive the
 * terminal or forge lines.
 *
 * @param text any text
 * @returns the text with control characters as `\n`, `\t`, `\xNN`
 * @example
 * ```ts
 * import { escapeControl } from "./output.ts";
 * import assert from "node:assert/strict";
 * assert.equal(escapeControl("a\nb"), "a\\nb");
 * ```
 */
export function escapeControl(text: string): string {
  // C0 and C1 controls, DEL, and the bidirectional overrides that can reorder what a terminal shows.
  // deno-lint-ignore no-control-regex
  return text.replace(/[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/g, (c) => {
    if (c === "\n") return "\\n";
    if (c === "\r") return "\\r";
    if (c === "\t") return "\\t";
    const code = c.charCodeAt(0);
    return code > 0xff ? `\\u${code.toString(16).padStart(4, "0")}` : `\\x${code.toString(16).padStart(2, "0")}`;
  });
}

/**
 * The time of day as `HH:MM:SS.mmm`, local time.
 *
 * @param date the time (default: now)
 * @returns the formatted time
 * @example
 * ```ts
 * import { clock } from "./output.ts";
 * import assert from "node:assert/strict";
 * assert.ok(/^\d\d:\d\d:\d\d\.\d{3}$/.test(clock()));
 * ```
 */
export function clock(date: Date = new Date()): string {
  const p = (n: number, w = 2) => String(n).padStart(w, "0");
  return `${p(date.getHours())}:${p(date.getMinutes())}:${p(date.getSeconds())}.${p(date.getMilliseconds(), 3)}`;
}

/**
 * A writer that puts `prefix` before every line and tells `onLine` about
 * each line (without the prefix): for running two scripts in one terminal.
 *
 * @param writer where the prefixed lines go
 * @param prefix put before each line
 * @param onLine called with each complete line
 * @returns the prefixing writer
 * @example
 * ```ts
 * import { prefixedWriter, Printer } from "./output.ts";
 * new Printer(prefixedWriter(Deno.stdout, "[sub] ")).line("hello"); // [sub] hello
 * ```
 */
export function prefixedWriter(writer: Writer, prefix: string, onLine?: (line: string) => void): Writer {
  const decoder = new TextDecoder();
  let partial = "";
  return {
    writeSync(p: Uint8Array): number {
      const lines = (partial + decoder.decode(p, { stream: true })).split("\n");
      partial = lines.pop() ?? "";
      for (const line of lines) {
        writeAll(writer, encoder.encode(`${prefix}${line}\n`));
        onLine?.(line);
      }
      return p.length;
    },
    isTerminal: () => writer.isTerminal(),
  };
}
