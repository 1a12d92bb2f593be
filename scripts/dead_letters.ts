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
import { CliError, ExitCode, UsageError } from "../lib/core/exit_codes.ts";
import { parseIsoTime } from "../lib/core/iso_time.ts";
import { defaultIo, escapeControl, type Io, Printer, Reporter } from "../lib/core/output.ts";
import { onShutdown } from "../lib/core/shutdown.ts";
import { formatNumber } from "../lib/core/stats.ts";
import { endpointFor, type Link } from "../lib/endpoint/mod.ts";
import {
  type DeadEntry,
  deadLetterHistory,
  type DeadRecord,
  readDeadLetters,
  redrive,
  redriveRecord,
} from "../lib/streams/dead_letters.ts";
import { deadLetterStream } from "../lib/streams/entry.ts";

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
      if (ask.command === "show") return await show(link, ask, out, json);
      if (ask.command === "list") return await list(link, ask, out, json);
      return await redriveAll(link, ask, flags.boolean("dry-run"), out, json);
    } finally {
      await link.close();
    }
  });
}

async function list(link: Link, ask: Ask, out: Printer, json: boolean): Promise<number> {
  const dead = deadLetterStream(ask.stream);
  let shown = 0;
  for await (const d of readDeadLetters(link.redis, ask.stream, ask)) {
    const rounds = (await deadLetterHistory(link.redis, ask.stream, d)).length;
    shown++;
    if (json) out.event("dead_letter", { ...deadJson(d), earlier_rounds: rounds });
    else {
      const earlier = rounds > 0 ? out.dim(`  (redriven ${rounds} time(s) before)`) : "";
      out.line(
        `${d.dead_id}  ${d.failed_at}  ${d.attempts} attempt(s)  original ${d.original_id}  ` +
          `${escapeControl(d.reason)}${earlier}`,
      );
    }
  }
  const total = await link.redis.xlen(dead);
  if (json) out.event("summary", { stream: ask.stream, dead_letters: total, listed: shown });
  else {out.line(
      `${dead}: ${formatNumber(total)} entr${total === 1 ? "y" : "ies"}${shown < total ? `, ${shown} listed` : ""}.`,
    );}
  return ExitCode.Ok;
}

async function show(link: Link, ask: Ask, out: Printer, json: boolean): Promise<number> {
  const [found] = await Array.fromAsync(readDeadLetters(link.redis, ask.stream, ask));
  const record: DeadRecord | undefined = found ?? await redriveRecord(link.redis, ask.stream, ask.start);
  if (!record) {
    throw new CliError(
      ExitCode.Failure,
      `No dead letter ${ask.start} in ${deadLetterStream(ask.stream)}, nor redriven from it`,
    );
  }
  const history = await deadLetterHistory(link.redis, ask.stream, record);
  if (json) {
    const fields = found
      ? { ...deadJson(found), redriven_id: null, redriven_at: null }
      : { ...recordJson(record), payload: null };
    out.event("dead_letter", { ...fields, history: history.map(recordJson) });
    return ExitCode.Ok;
  }
  const rows: [string, string][] = [
    ["dead id", record.dead_id],
    ["original id", record.original_id],
    ["reason", escapeControl(record.reason)],
    ["attempts", String(record.attempts)],
    ["group", `${record.group} (consumer ${record.consumer})`],
    ["failed at", record.failed_at],
    ...(found ? [["payload", escapeControl(found.payload ?? "(none)")] as [string, string]] : []),
    ...(record.redriven_id
      ? [["redriven", `as ${record.redriven_id} at ${record.redriven_at}`] as [string, string]]
      : []),
  ];
  for (const [name, value] of rows) out.line(`${out.dim(name.padEnd(12))}${value}`);
  for (const [i, r] of history.entries()) {
    out.line(
      `${out.dim(`round -${i + 1}`.padEnd(12))}${r.failed_at}  ${r.attempts} attempt(s) as ${r.original_id}: ` +
        `${escapeControl(r.reason)} → redriven as ${r.redriven_id}`,
    );
  }
  return ExitCode.Ok;
}

async function redriveAll(link: Link, ask: Ask, dryRun: boolean, out: Printer, json: boolean): Promise<number> {
  const counts = { redriven: 0, already: 0, would: 0, skipped: 0 };
  const single = ask.start === ask.end && ask.start !== "-" && ask.start !== "+";
  const seen = await Array.fromAsync(readDeadLetters(link.redis, ask.stream, ask));
  if (single && seen.length === 0) {
    // Not (or no longer) in <stream>:dead: redriven already, or never there.
    const record = await redriveRecord(link.redis, ask.stream, ask.start);
    if (!record) {
      throw new CliError(
        ExitCode.Failure,
        `No dead letter ${ask.start} in ${deadLetterStream(ask.stream)}, nor redriven from it`,
      );
    }
    counts.already++;
    report(out, json, { kind: "already", deadId: ask.start, record });
  }
  for (const dead of seen) {
    const outcome = await redrive(link.redis, ask.stream, dead, { dryRun });
    counts[outcome.kind]++;
    report(out, json, outcome);
  }
  if (json) out.event("summary", { stream: ask.stream, ...counts, dry_run: dryRun });
  else {
    const parts = dryRun ? [`${counts.would} would be redriven`] : [`${counts.redriven} redriven to ${ask.stream}`];
    if (counts.already) parts.push(`${counts.already} redriven before (not appended again)`);
    if (counts.skipped) parts.push(`${counts.skipped} skipped`);
    out.line(`${dryRun ? "Dry run: " : ""}${parts.join(", ")}${dryRun ? "; nothing appended" : ""}.`);
  }
  return ExitCode.Ok;
}

function report(out: Printer, json: boolean, o: Awaited<ReturnType<typeof redrive>>): void {
  switch (o.kind) {
    case "redriven":
      if (json) {
        out.event("redriven", { entry_id: o.dead.dead_id, redriven_id: o.redrivenId, original_id: o.dead.original_id });
      } else {out.line(
          `${
            out.green("→")
          } ${o.dead.dead_id} redriven as ${o.redrivenId} (original ${o.dead.original_id}, ${o.dead.attempts} attempt(s): ${
            escapeControl(o.dead.reason)
          })`,
        );}
      return;
    case "already":
      if (json) {
        out.event("already_redriven", {
          entry_id: o.deadId,
          redriven_id: o.record.redriven_id ?? null,
          redriven_at: o.record.redriven_at ?? null,
        });
      } else {out.line(
          `= ${o.deadId} was redriven as ${o.record.redriven_id} at ${o.record.redriven_at}: not appended again`,
        );}
      return;
    case "would":
      if (json) out.event("would_redrive", { entry_id: o.dead.dead_id, original_id: o.dead.original_id });
      else {out.line(
          `  would redrive ${o.dead.dead_id} (original ${o.dead.original_id}, ${o.dead.attempts} attempt(s): ${
            escapeControl(o.dead.reason)
          })`,
        );}
      return;
    case "skipped":
      if (json) out.event("skipped", { entry_id: o.deadId, reason: o.reason });
      else out.line(`${out.yellow("!")} ${o.deadId} skipped: ${o.reason}`);
  }
}

function deadJson(d: DeadEntry) {
  return {
    entry_id: d.dead_id,
    original_id: d.original_id,
    reason: d.reason,
    attempts: d.attempts,
    group: d.group,
    consumer: d.consumer,
    failed_at: d.failed_at,
    payload: d.payload ?? null,
  };
}

function recordJson(r: DeadRecord) {
  return {
    entry_id: r.dead_id,
    original_id: r.original_id,
    reason: r.reason,
    attempts: r.attempts,
    group: r.group,
    consumer: r.consumer,
    failed_at: r.failed_at,
    redriven_id: r.redriven_id ?? null,
    redriven_at: r.redriven_at ?? null,
  };
}

if (import.meta.main) Deno.exit(await main(Deno.args));
