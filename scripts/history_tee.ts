#!/usr/bin/env -S deno run -A
/**
 * Makes a channel published by someone else recoverable: records each of its
 * messages, numbered, into a history, published again on CHANNEL:rec for
 * subscriber.ts --recover. It cannot recover its own outages.
 *
 *   deno run -A scripts/history_tee.ts news --history 1000
 *   deno run -A scripts/subscriber.ts news:rec --recover
 *
 * @module
 */
import { COMMON_OPTIONS, runScript, type ScriptSpec } from "../lib/core/cli.ts";
import { UsageError } from "../lib/core/exit_codes.ts";
import { defaultIo, type Io, Printer, Reporter } from "../lib/core/output.ts";
import { onShutdown } from "../lib/core/shutdown.ts";
import { CLUSTER_OPTIONS, resolveTarget } from "../lib/cluster/target.ts";
import { endpointFor } from "../lib/endpoint/mod.ts";
import { parseHistoryLimit } from "../lib/recover/history.ts";
import { runTee } from "../lib/recover/tee.ts";

const SPEC: ScriptSpec = {
  name: "history_tee.ts",
  summary:
    "record channels published by others into a history for subscriber.ts --recover (not what is published while the tee itself is away).",
  usage: ["CHANNEL... --history SIZE|AGE [--suffix SUFFIX] [--quiet] [--json]"],
  positionals: true,
  options: {
    history: {
      type: "string",
      arg: "SIZE|AGE",
      help: "how much history to keep: the last SIZE messages (e.g. 1000) or those of the last AGE (e.g. 10m)",
    },
    suffix: {
      type: "string",
      arg: "SUFFIX",
      help: "the recoverable channel is CHANNEL + SUFFIX (default :rec)",
    },
    quiet: { type: "boolean", short: "q", help: "print only the summary, not each message recorded" },
    ...COMMON_OPTIONS,
    ...CLUSTER_OPTIONS,
  },
  examples: [
    "deno run -A scripts/history_tee.ts news --history 1000        # news:rec, recoverable",
    "deno run -A scripts/history_tee.ts system_notifications chat:general --history 10m --quiet",
  ],
};

/**
 * Runs the tee.
 *
 * @param args command-line arguments
 * @param io output streams and an optional stop signal
 * @returns the exit code
 */
export function main(args: string[], io: Io = defaultIo()): Promise<number> {
  return runScript(SPEC, args, io, async (flags) => {
    const channels = flags.positionals;
    const history = flags.string("history");
    if (channels.length === 0) throw new UsageError("Give the CHANNEL(s) to record");
    if (history === undefined) throw new UsageError("--history SIZE|AGE is needed, e.g. --history 1000");
    const suffix = flags.string("suffix") ?? ":rec";
    if (suffix === "") throw new UsageError("--suffix must not be empty: the tee would hear its own messages");
    using shutdown = onShutdown(io.signal);
    await runTee({
      endpoint: endpointFor(resolveTarget(flags.list("url"), flags.boolean("cluster"))),
      channels,
      suffix,
      limit: parseHistoryLimit(history),
      out: new Printer(io.stdout),
      status: new Reporter(io.stderr),
      json: flags.boolean("json"),
      quiet: flags.boolean("quiet"),
      signal: shutdown.signal,
    });
    return 0;
  });
}

if (import.meta.main) Deno.exit(await main(Deno.args));
