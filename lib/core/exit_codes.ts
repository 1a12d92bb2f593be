/**
 * The exit codes every pubsub-lab script uses: one table for all of them.
 *
 * @module
 */

/** Exit codes shared by every script. */
export const ExitCode = {
  /** Finished normally (also after Ctrl+C / SIGTERM). */
  Ok: 0,
  /** Failed while running: the server went away for good, a command failed. */
  Failure: 1,
  /** Wrong flags or arguments: nothing was done. */
  Usage: 2,
  /** Cannot connect, or the server refused the password. */
  Connect: 3,
  /** `--timeout` ran out before anything was received. */
  Timeout: 4,
  /** The server refuses CONFIG and the setting the script needs is off. */
  ConfigRefused: 5,
  /** A check found something the labs need missing (`ping.ts`). */
  CheckFailed: 6,
  /** The server broke the protocol: garbage, a reply too deep or never finished, a handshake refused, a close without a word. */
  Protocol: 7,
  /** The server refuses every channel and pattern the script subscribes to (ACL channel rules). */
  NoSubscription: 8,
  /** The installed client library (ioredis) lacks something these scripts rely on: not the version pinned. */
  ClientLibrary: 9,
  /** Started without the permissions the scripts need (`deno run` without `-A`). */
  Permission: 10,
} as const;

/** One of the values of {@linkcode ExitCode}. */
export type ExitCodeValue = typeof ExitCode[keyof typeof ExitCode];

/** Each exit code in a few words, for the end of every `--help` (docs/reference/exit_codes.md says more). */
export const EXIT_CODE_SUMMARY: Record<ExitCodeValue, string> = {
  [ExitCode.Ok]: "ok",
  [ExitCode.Failure]: "failure",
  [ExitCode.Usage]: "usage error",
  [ExitCode.Connect]: "cannot connect or auth failed",
  [ExitCode.Timeout]: "timeout with nothing received",
  [ExitCode.ConfigRefused]: "CONFIG refused",
  [ExitCode.CheckFailed]: "a check failed",
  [ExitCode.Protocol]: "the server broke the protocol (not a Redis-protocol server)",
  [ExitCode.NoSubscription]: "every channel refused",
  [ExitCode.ClientLibrary]: "ioredis not the version pinned",
  [ExitCode.Permission]: "not run with -A",
};

/**
 * The exit-code lines of every `--help`, made from {@linkcode EXIT_CODE_SUMMARY}: `Exit codes: 0 ok, 1 failure, …`,
 * wrapped at `width` columns.
 *
 * @param width the longest line
 * @returns the lines
 * @example
 * ```ts
 * import { exitCodeHelp } from "./exit_codes.ts";
 * import assert from "node:assert/strict";
 * const text = exitCodeHelp().join(" ");
 * assert.ok(text.startsWith("Exit codes: 0 ok"));
 * assert.ok(text.includes("8 every channel refused"));
 * ```
 */
export function exitCodeHelp(width = 80): string[] {
  const head = "Exit codes: ";
  const items = Object.entries(EXIT_CODE_SUMMARY).map(([code, what], i, all) =>
    `${code} ${what}${i === all.length - 1 ? "." : ","}`
  );
  const lines: string[] = [];
  let line = head;
  for (const item of items) {
    if (line.length > head.length && line.length + 1 + item.length > width) {
      lines.push(line);
      line = " ".repeat(head.length);
    }
    line += (line.trim() === "" || line === head ? "" : " ") + item;
  }
  lines.push(line);
  return lines;
}

/**
 * An error that ends a script with a given exit code and a message meant for
 * the user (printed without a stack trace).
 *
 * @example
 * ```ts
 * import { CliError, ExitCode } from "./exit_codes.ts";
 * import assert from "node:assert/strict";
 * const err = new CliError(ExitCode.Usage, "Unknown option '--foo'");
 * assert.equal(err.exitCode, 2);
 * ```
 */
export class CliError extends Error {
  /**
   * Creates a CliError.
   *
   * @param exitCode the code the script exits with
   * @param message what happened and what to do next
   */
  constructor(readonly exitCode: ExitCodeValue, message: string) {
    super(message);
    this.name = "CliError";
  }
}

/**
 * A usage error: wrong flags or arguments (exit code 2).
 *
 * @example
 * ```ts
 * import { UsageError } from "./exit_codes.ts";
 * import assert from "node:assert/strict";
 * assert.equal(new UsageError("bad").exitCode, 2);
 * ```
 */
export class UsageError extends CliError {
  /**
   * Creates an UsageError.
   *
   * @param message which flag or argument is wrong and why
   */
  constructor(message: string) {
    super(ExitCode.Usage, message);
    this.name = "UsageError";
  }
}
