/**
 * `--recover` and `--recover-state FILE`, the flags of every subscriber that
 * gets back what it missed (subscriber.ts, event_processor.ts): their help,
 * and reading them.
 *
 * @module
 */
import type { Flags, OptionSpec } from "../core/cli.ts";
import { UsageError } from "../core/exit_codes.ts";

/**
 * The two flags, their help naming how the channels are published with history.
 *
 * @param publishedWith what publishes with history, e.g. `publisher.ts --history`
 * @param what what is delivered, e.g. `messages`
 * @returns the option specs of `--recover` and `--recover-state`
 * @example
 * ```ts
 * import { recoverOptions } from "./recover_flags.ts";
 * import assert from "node:assert/strict";
 * assert.ok(recoverOptions("publisher.ts --history").recover!.help.includes("publisher.ts --history"));
 * ```
 */
export function recoverOptions(publishedWith: string): Record<string, OptionSpec> {
  return {
    recover: {
      type: "boolean",
      help: `on channels published with ${publishedWith}: after an outage, get what was missed from the ` +
        "history, in order and once, marked recovered; the summary says recovered N, lost M and why",
    },
    "recover-state": {
      type: "string",
      arg: "FILE",
      help:
        "with --recover: save where each channel was left to FILE at exit, and carry on from there at the next start",
    },
  };
}

/**
 * Reads `--recover` and its state file.
 *
 * @param flags the parsed command line
 * @returns the state file's path (undefined: none), or undefined without `--recover`
 * @throws {UsageError} for `--recover-state` without `--recover`
 */
export function parseRecoverFlags(flags: Flags): { statePath: string | undefined } | undefined {
  const statePath = flags.string("recover-state");
  if (!flags.boolean("recover")) {
    if (statePath !== undefined) throw new UsageError("--recover-state goes with --recover");
    return undefined;
  }
  return { statePath };
}
