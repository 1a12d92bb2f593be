/**
 * What `dead_letters.ts list`, `show` and `redrive` do and print, in text or
 * NDJSON, over the primitives of {@link ./dead_letters.ts}.
 *
 * @module
 */
import { CliError, ExitCode } from "../core/exit_codes.ts";
import { escapeControl, type Printer } from "../core/output.ts";
import { formatNumber } from "../core/stats.ts";
import type { Commands } from "../endpoint/link.ts";
import {
  type DeadEntry,
  deadLetterHistory,
  type DeadRecord,
  readDeadLetters,
  redrive,
  type RedriveOutcome,
  redriveRecord,
} from "./dead_letters.ts";
import { deadLetterStream } from "./entry.ts";

/** Where a command prints, and how. */
export interface DeadLetterView {
  /** stdout. */
  out: Printer;
  /** NDJSON instead of text. */
  json: boolean;
}

/** Which dead entries: an XRANGE of `<stream>:dead`, and at most how many. */
export interface DeadRange {
  /** First id (`-`: the oldest). */
  start: string;
  /** Last id (`+`: the newest). */
  end: string;
  /** At most this many. */
  limit?: number;
}

/**
 * Lists dead entries, each with how many earlier rounds it had, then the dead-letter stream's length.
 *
 * @param redis a link's commands
 * @param stream the stream
 * @param range which entries
 * @param view where and how to print
 * @returns 0
 */
export async function listDeadLetters(
  redis: Commands,
  stream: string,
  range: DeadRange,
  { out, json }: DeadLetterView,
): Promise<number> {
  const dead = deadLetterStream(stream);
  let shown = 0;
  for await (const d of readDeadLetters(redis, stream, range)) {
    const rounds = (await deadLetterHistory(redis, stream, d)).length;
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
  const total = await redis.xlen(dead);
  if (json) out.event("summary", { stream: stream, dead_letters: total, listed: shown });
  else {out.line(
      `${dead}: ${formatNumber(total)} entr${total === 1 ? "y" : "ies"}${shown < total ? `, ${shown} listed` : ""}.`,
    );}
  return ExitCode.Ok;
}

/**
 * Shows one dead entry (or, once redriven, its record) with its earlier rounds.
 *
 * @param redis a link's commands
 * @param stream the stream
 * @param deadId the dead entry's id
 * @param view where and how to print
 * @returns 0
 * @throws {CliError} exit 1 when the id is neither in the dead-letter stream nor in the ledger
 */
export async function showDeadLetter(
  redis: Commands,
  stream: string,
  deadId: string,
  { out, json }: DeadLetterView,
): Promise<number> {
  const [found] = await Array.fromAsync(readDeadLetters(redis, stream, { start: deadId, end: deadId }));
  const record: DeadRecord | undefined = found ?? await redriveRecord(redis, stream, deadId);
  if (!record) {
    throw new CliError(
      ExitCode.Failure,
      `No dead letter ${deadId} in ${deadLetterStream(stream)}, nor redriven from it`,
    );
  }
  const history = await deadLetterHistory(redis, stream, record);
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

/**
 * Redrives the dead entries of a range, each once, and says what became of each, then the counts.
 *
 * @param redis a link's commands
 * @param stream the stream
 * @param range which entries (one id: start and end equal)
 * @param dryRun say what would be done, do nothing
 * @param view where and how to print
 * @returns 0
 * @throws {CliError} exit 1 for one id that is neither in the dead-letter stream nor in the ledger
 */
export async function redriveDeadLetters(
  redis: Commands,
  stream: string,
  range: DeadRange,
  dryRun: boolean,
  { out, json }: DeadLetterView,
): Promise<number> {
  const counts = { redriven: 0, already: 0, would: 0, skipped: 0 };
  const single = range.start === range.end && range.start !== "-" && range.start !== "+";
  const seen = await Array.fromAsync(readDeadLetters(redis, stream, range));
  if (single && seen.length === 0) {
    // Not (or no longer) in <stream>:dead: redriven already, or never there.
    const record = await redriveRecord(redis, stream, range.start);
    if (!record) {
      throw new CliError(
        ExitCode.Failure,
        `No dead letter ${range.start} in ${deadLetterStream(stream)}, nor redriven from it`,
      );
    }
    counts.already++;
    report(out, json, { kind: "already", deadId: range.start, record });
  }
  for (const dead of seen) {
    const outcome = await redrive(redis, stream, dead, { dryRun });
    counts[outcome.kind]++;
    report(out, json, outcome);
  }
  if (json) out.event("summary", { stream: stream, ...counts, dry_run: dryRun });
  else {
    const parts = dryRun ? [`${counts.would} would be redriven`] : [`${counts.redriven} redriven to ${stream}`];
    if (counts.already) parts.push(`${counts.already} redriven before (not appended again)`);
    if (counts.skipped) parts.push(`${counts.skipped} skipped`);
    out.line(`${dryRun ? "Dry run: " : ""}${parts.join(", ")}${dryRun ? "; nothing appended" : ""}.`);
  }
  return ExitCode.Ok;
}

function report(out: Printer, json: boolean, o: RedriveOutcome): void {
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
