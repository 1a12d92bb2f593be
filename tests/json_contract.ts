/**
 * README's `--json` tables (docs/reference/json.md since the README was split into pages) as data, and the check that holds a script's output to them and to the envelope's rules:
 * shared by the contract tests on one server (tests/core/) and on a cluster (tests/cluster/).
 *
 * @module
 */
import assert from "node:assert/strict";
import type { CapturedIo } from "./harness.ts";

/** Where a row's lines are written. */
export type Stream = "stdout" | "stderr";

/** One row of README's tables: a script's event on a stream and its fields (`?` in README: optional). */
export interface Row {
  /** The script and its mode as README names them, e.g. `event_processor.ts --durable`. */
  script: string;
  /** The script's file, e.g. `event_processor.ts`. */
  file: string;
  /** null for a script without `--json` (`—` in README). */
  stream: Stream | null;
  event: string | null;
  required: string[];
  optional: string[];
}

const README = new URL("../docs/reference/json.md", import.meta.url);

/** The rows of README's `--json` tables: the scripts' own, their streams modes', their cluster modes'. */
function readContract(): Row[] {
  const lines = Deno.readTextFileSync(README).split("\n");
  const headers = lines.flatMap((l, i) =>
    /^\|\s*script\s*\|\s*stream\s*\|\s*event\s*\|\s*fields\s*\|$/.test(l) ? [i] : []
  );
  assert.equal(headers.length, 3, "README has three tables headed | script | stream | event | fields |");
  const tableLines = headers.flatMap((h) => {
    const after = lines.slice(h + 2);
    const end = after.findIndex((l) => !l.startsWith("|"));
    return end < 0 ? after : after.slice(0, end);
  });
  const rows: Row[] = [];
  for (const line of tableLines) {
    const [script, stream, event, fields] = line.split("|").slice(1, -1).map((c) => c.trim().replaceAll("`", ""));
    const none = event === "—";
    const names = none ? [] : [...line.split("|")[4]!.matchAll(/`([a-z][a-z0-9_]*)(\?)?`/g)];
    rows.push({
      script: script!,
      file: script!.split(" ")[0]!,
      stream: none ? null : stream as Stream,
      event: none ? null : event!,
      required: names.filter((m) => !m[2]).map((m) => m[1]!),
      optional: names.filter((m) => m[2]).map((m) => m[1]!),
    });
    assert.ok(none || fields, `README's row for ${script} ${event} lists no fields`);
  }
  return rows;
}

/** Every row of README's tables. */
export const CONTRACT: Row[] = readContract();
/** The rows some script wrote in this test file, by {@linkcode rowKey}. */
export const SEEN: Set<string> = new Set<string>();
/** A row's key in {@linkcode SEEN}. */
export const rowKey = (script: string, stream: Stream | null, event: string | null): string =>
  `${script} ${stream} ${event}`;

// To the millisecond; subscriber.ts's messages to the microsecond.
const ISO_MS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}(\d{3})?Z$/;
/** Fields whose content is the user's data (payloads, values, results, entry fields, channel names as keys), not ours to name. */
const USER_DATA = new Set(["payload", "value", "result", "channels", "rejected_by_reason", "fields", "lost_by_reason"]);

const hasDecimals = (v: number, digits: number) => Math.round(v * 10 ** digits) / 10 ** digits === v;

/** What is wrong with one field's value under the envelope's rules, by its name (nested objects too). */
export function valueProblems(name: string, value: unknown, where: string): string[] {
  if (USER_DATA.has(name)) return [];
  if (Array.isArray(value)) return value.flatMap((v, i) => valueProblems(name, v, `${where}[${i}]`));
  if (value !== null && typeof value === "object") {
    return Object.entries(value).flatMap(([k, v]) =>
      valueProblems(name.endsWith("_ms") ? name : k, v, `${where}.${k}`)
    );
  }
  if (name === "seconds" || name.endsWith("_seconds")) {
    return typeof value === "number" && value >= 0 && hasDecimals(value, 3)
      ? []
      : [`${where} is a duration: seconds rounded to the millisecond, got ${value}`];
  }
  if (name.endsWith("_ms")) {
    return value === null || (typeof value === "number" && hasDecimals(value, 3))
      ? []
      : [`${where} is a latency: ms rounded to the microsecond (or null), got ${value}`];
  }
  if (name === "rate_per_second") {
    return typeof value === "number" && value > 0 && hasDecimals(value, 1)
      ? []
      : [`${where} is a rate: per second rounded to 0.1, got ${value}`];
  }
  return [];
}

/**
 * The row of an event: the script's own (as README names it, mode and all); for a mode (`… --cluster`, `… --recover`)
 * that has no row of its own for the event, the row of the same script without that mode's flag.
 */
function findRow(script: string, stream: Stream, event: unknown): Row | undefined {
  const own = CONTRACT.find((r) => r.script === script && r.stream === stream && r.event === event);
  const mode = script.match(/ --[a-z-]+$/);
  if (own || !mode) return own;
  return findRow(script.slice(0, -mode[0].length), stream, event);
}

/** What is wrong with one line a script wrote, against README's table and the envelope; marks its row as seen. */
function lineProblems(script: string, stream: Stream, line: string): string[] {
  let object: Record<string, unknown>;
  try {
    object = JSON.parse(line);
  } catch {
    return [`${script} ${stream}: not JSON: ${line}`];
  }
  const keys = Object.keys(object);
  const at = `${script} ${stream} ${String(object.event)}`;
  if (keys[0] !== "event" || keys[1] !== "time") return [`${at}: must start with "event" and "time": ${line}`];
  const problems: string[] = [];
  if (typeof object.time !== "string" || !ISO_MS.test(object.time)) {
    problems.push(`${at}: time must be ISO-8601 UTC with milliseconds, got ${object.time}`);
  }
  const row = findRow(script, stream, object.event);
  if (!row) return [...problems, `${at}: README's --json table has no such event for ${script} on ${stream}`];
  SEEN.add(rowKey(row.script, stream, row.event));
  const listed = new Set([...row.required, ...row.optional]);
  for (const key of keys.slice(2)) {
    if (!listed.has(key)) problems.push(`${at}: field "${key}" is not in README's table`);
    problems.push(...valueProblems(key, object[key], `${at}.${key}`));
  }
  for (const key of row.required) if (!(key in object)) problems.push(`${at}: field "${key}" is missing`);
  return problems;
}

/**
 * Holds everything a script (with its mode, as README's rows name it) wrote to its table: stdout always, stderr when
 * the table has stderr events for it.
 */
export function hold(script: string, io: Pick<CapturedIo, "out" | "err">): void {
  const streams: Stream[] = ["stdout"];
  const base = script.replace(/ --cluster$/, "");
  if (CONTRACT.some((r) => (r.script === script || r.script === base) && r.stream === "stderr")) streams.push("stderr");
  const problems: string[] = [];
  for (const stream of streams) {
    const text = (stream === "stdout" ? io.out : io.err).text;
    assert.ok(text.trim() !== "", `${script} wrote nothing on ${stream}`);
    for (const line of text.split("\n").filter((l) => l !== "")) problems.push(...lineProblems(script, stream, line));
  }
  assert.deepEqual(problems, [], `${script} --json breaks README's table:\n${problems.join("\n")}`);
}
