#!/usr/bin/env -S deno run -A
/**
 * Dead letters back for another try: lists and shows the entries of a
 * stream's dead-letter stream (`<stream>:dead`), and sends them back to the
 * stream — one id, a range, all, or those dead since a time — each once,
 * however often it is asked (see lib/streams/dead_letters.ts).
 *
 *   deno run -A scripts/dead_letters.ts list key_submission
 *   deno run -A scripts/dead_letters.ts redrive key_submission --all --dry-run
 *
 * @module
 */
import { COMMON_OPTIONS, type Flags, parseDuration, runScript, type ScriptSpec } from "../lib/core/cli.ts";
import { CLUSTER_OPTIONS, resolveTarget } from "../lib/cluster/target.ts";
import { UsageError } from "../lib/core/exit_codes.ts";
import { parseIsoTime } from "../lib/core/iso_time.ts";
import { defaultIo, type Io, Printer, Reporter } from "../lib/core/output.ts";
import { onShutdown } from "../lib/core/shutdown.ts";
import { endpointFor, type Link } from "../lib/endpoint/mod.ts";
import { listDeadLetters, redriveDeadLetters, showDeadLetter } from "../lib/streams/dead_letter_commands.ts";

const SPEC: ScriptSpec = {
  name: "dead_letters.ts",
  summary: "list, show and send back to their stream the entries of a dead-letter stream, each once.",
  usage: [
    "list STREAM [FIRST..LAST | --since WHEN] [--count N] [--json]",
    "show STREAM DEAD_ID [--json]",
    "redrive STREAM (DEAD_ID | FIRST..LAST | --all | --since WHEN) [--dry-run] [--json]",
  ],
  positionals: true,
  options: {
    all: { type: "boolean", help: "redrive: every entry of <STREAM>:dead" },
    since: {
      type: "string",
      arg: "WHEN",
      help: "only entries dead-lettered since WHEN: an ISO-8601 time or how long ago (10m, 2h)",
    },
    "dry-run": { type: "boolean", help: "redrive: say what would be sent back, send nothing" },
    count: { type: "string", short: "n", arg: "N", help: "list: at most N entries" },
    ...COMMON_OPTIONS,
    ...CLUSTER_OPTIONS,
  },
  examples: [
    "deno run -A scripts/dead_letters.ts list key_submission                 # what key_submission:dead holds",
    "deno run -A scripts/dead_letters.ts show key_submission 1796121502306-0 # one entry and its earlier rounds",
    "deno run -A scripts/dead_letters.ts redrive key_submission --all --dry-run",
    "deno run -A scripts/dead_letters.ts redrive key_submission 1796121502306-0",
    "deno run -A scripts/dead_letters.ts redrive key_submission --since 1h",
    "deno run -A scripts/dead_letters.ts redrive key_submission 1796121500000-0..1796121510000-0 --json",
  ],
};

type Command = "list" | "show" | "redrive";

/** What the positionals and flags ask for. */
interface Ask {
  command: Command;
  stream: string;
  start: string;
  end: string;
  limit?: number;
}

const ENTRY_ID = /^\d+(-\d+)?$/;

/** `ID`, `FIRST..LAST` (either side may be `-` or `+`), `--all`, `--since`: the XRANGE to read. */
function parseAsk(flags: Flags): Ask {
  const [command, stream, which, ...extra] = flags.positionals;
  if (command !== "list" && command !== "show" && command !== "redrive") {
    throw new UsageError(
      command === undefined
        ? "Say what to do: list, show or redrive"
        : `Unknown command "${command}": list, show or redrive`,
    );
  }
  if (stream === undefined || stream === "") throw new UsageError(`${command} needs a STREAM, e.g. key_submission`);
  if (extra.length > 0) throw new UsageError(`Unexpected argument "${extra[0]}"`);
  const since = flags.string("since");
  const all = flags.boolean("all");
  if (all && command !== "redrive") throw new UsageError("--all goes with redrive (list shows all by default)");
  if (flags.boolean("dry-run") && command !== "redrive") throw new UsageError("--dry-run goes with redrive");
  const limit = flags.int("count", { min: 1 });
  if (limit !== undefined && command !== "list") throw new UsageError("--count goes with list");
  const chosen = [which !== undefined, all, since !== undefined].filter(Boolean).length;
  if (chosen > 1) throw new UsageError("Give one of an id, a range, --all or --since");
  if (command === "show" && (which === undefined || since !== undefined || which.includes(".."))) {
    throw new UsageError("show needs one DEAD_ID, e.g. 1796121502306-0");
  }
  if (command === "redrive" && chosen === 0) {
    throw new UsageError("Say which entries to redrive: a DEAD_ID, FIRST..LAST, --all or --since WHEN");
  }
  const base = { command: command as Command, stream, ...(limit !== undefined ? { limit } : {}) };
  if (since !== undefined) return { ...base, start: `${parseSince(since)}-0`, end: "+" };
  if (which === undefined) return { ...base, start: "-", end: "+" };
  const [first, last] = which.includes("..") ? which.split("..") as [string, string] : [which, which];
  for (const id of [first, last]) {
    if (!ENTRY_ID.test(id) && id !== "-" && id !== "+") {
      throw new UsageError(`"${id}" is not an entry id: give one such as 1796121502306-0, or FIRST..LAST`);
    }
  }
  return { ...base, start: first, end: last };
}

function parseSince(text: string): number {
  const iso = parseIsoTime(text.trim());
  if (iso !== undefined) return iso;
  try {
    return Math.max(0, Date.now() - parseDuration(text, "--since"));
  } catch {
    throw new UsageError(`--since expects an ISO-8601 time or how long ago (10m, 2h), got "${text}"`);
  }
}

/**
 * Runs a dead-letter command.
 *
 * @param args command-line arguments
 * @param io output streams
 * @returns 0 when done, 1 when the id given is in neither the dead-letter stream nor the ledger
 */
export function main(args: string[], io: Io = defaultIo()): Promise<number> {
  return runScript(SPEC, args, io, async (flags) => {
    const ask = parseAsk(flags);
    const json = flags.boolean("json");
    const out = new Printer(io.stdout);
    const status = new Reporter(io.stderr);
    let link: Link;
    {
      using shutdown = onShutdown(io.signal);
      link = await endpointFor(resolveTarget(flags.list("url"), flags.boolean("cluster"))).link({
        reporter: status,
        reconnect: false,
        signal: shutdown.signal,
      });
    }
    try {
      const view = { out, json };
      if (ask.command === "show") return await showDeadLetter(link.redis, ask.stream, ask.start, view);
      if (ask.command === "list") return await listDeadLetters(link.redis, ask.stream, ask, view);
      return await redriveDeadLetters(link.redis, ask.stream, ask, flags.boolean("dry-run"), view);
    } finally {
      await link.close();
    }
  });
}

if (import.meta.main) Deno.exit(await main(Deno.args));
