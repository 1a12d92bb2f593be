/**
 * A leveled logger for long-running services: `debug < info < warn < error`,
 * one line per record on stderr with an ISO time and the level, or NDJSON
 * with `--json` (`{"event":"log","time":…,"level":…,"message":…}`, the
 * envelope of json_event.ts).
 *
 * @module
 */
import { UsageError } from "./exit_codes.ts";
import type { EventFields } from "./json_event.ts";
import { nullWriter, Printer, Reporter, type Writer } from "./output.ts";

/** The log levels, least severe first. */
export const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;

/** One of {@linkcode LOG_LEVELS}. */
export type LogLevel = typeof LOG_LEVELS[number];

/**
 * Reads a `--log-level` value.
 *
 * @param raw the flag's value (default `info`)
 * @returns the level
 * @throws {UsageError} for anything but debug, info, warn (warning) or error
 * @example
 * ```ts
 * import { parseLogLevel } from "./log.ts";
 * import assert from "node:assert/strict";
 * assert.equal(parseLogLevel("WARNING"), "warn");
 * ```
 */
export function parseLogLevel(raw = "info"): LogLevel {
  const level = raw.toLowerCase() === "warning" ? "warn" : raw.toLowerCase();
  if (!(LOG_LEVELS as readonly string[]).includes(level)) {
    throw new UsageError(`--log-level expects debug, info, warn or error, got "${raw}"`);
  }
  return level as LogLevel;
}

const LABELS: Record<LogLevel, string> = { debug: "DEBUG", info: "INFO ", warn: "WARN ", error: "ERROR" };

/**
 * Writes log records at or above a level.
 *
 * @example
 * ```ts
 * import { Logger } from "./log.ts";
 * const log = new Logger(Deno.stderr, "info");
 * log.debug("not shown");
 * log.warn("rejected message", { reason: "bad_time" });
 * ```
 */
export class Logger {
  readonly #printer: Printer;
  readonly #min: number;

  /**
   * Creates a Logger.
   *
   * @param writer where records go (stderr)
   * @param level the least severe level written
   * @param json write NDJSON records instead of text lines
   */
  constructor(writer: Writer, readonly level: LogLevel = "info", private readonly json = false) {
    this.#printer = new Printer(writer);
    this.#min = LOG_LEVELS.indexOf(level);
  }

  /** Whether records of `level` are written (skip building costly messages when not). */
  enabled(level: LogLevel): boolean {
    return LOG_LEVELS.indexOf(level) >= this.#min;
  }

  /** Details, e.g. each key written. */
  debug(message: string, fields?: EventFields): void {
    this.write("debug", message, fields);
  }
  /** Start, stop, results. */
  info(message: string, fields?: EventFields): void {
    this.write("info", message, fields);
  }
  /** Something was refused or lost, the service goes on. */
  warn(message: string, fields?: EventFields): void {
    this.write("warn", message, fields);
  }
  /** Something failed. */
  error(message: string, fields?: EventFields): void {
    this.write("error", message, fields);
  }

  /**
   * Writes one record if its level is enabled.
   *
   * @param level how severe
   * @param message the text
   * @param fields more fields for `--json` (text lines show only the message)
   * @param event the record's `event` in `--json`: `log`, or e.g. `stats` for a record that is mostly figures
   */
  write(level: LogLevel, message: string, fields?: EventFields, event = "log"): void {
    if (!this.enabled(level)) return;
    if (this.json) {
      this.#printer.event(event, { level, message, ...fields });
      return;
    }
    const time = new Date().toISOString();
    const p = this.#printer;
    const label = level === "error"
      ? p.red(LABELS[level])
      : level === "warn"
      ? p.yellow(LABELS[level])
      : level === "debug"
      ? p.dim(LABELS[level])
      : LABELS[level];
    p.line(`${p.dim(time)} ${label} ${message}`);
  }

  /**
   * A {@linkcode Reporter} whose lines go through this logger, for
   * `Connection.open` (outages are warnings, reconnections info).
   *
   * @param label put before each line, e.g. `"writes: "`
   * @param warnNote computes text added to warnings (outages), e.g. what is kept until the server is back
   * @returns the reporter
   */
  reporter(label = "", warnNote?: () => string): Reporter {
    return new LogReporter(this, label, warnNote);
  }
}

class LogReporter extends Reporter {
  constructor(private readonly log: Logger, private readonly label: string, private readonly note?: () => string) {
    super(nullWriter);
  }
  override info(text: string): void {
    this.log.info(this.label + text);
  }
  override ok(text: string): void {
    this.log.info(this.label + text);
  }
  override warn(text: string): void {
    const note = this.note?.();
    this.log.warn(this.label + text + (note ? ` ${note}` : ""));
  }
  override error(text: string): void {
    this.log.error(this.label + text);
  }
}
