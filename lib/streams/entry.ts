/**
 * What a stream entry of this project looks like, and where a reader or a
 * new group starts: the payload field, the dead-letter stream's name, the
 * replies of XRANGE / XREADGROUP / XAUTOCLAIM as entries, and `--from`.
 *
 * An event is one entry with one field, `payload`, holding the event's JSON
 * (the same text pub/sub would publish). A dead-letter entry keeps that
 * payload and adds `reason`, `attempts`, `original_id`, `stream`, `group`,
 * `consumer` and `failed_at`.
 *
 * @module
 */
import { parseDuration } from "../core/cli.ts";
import { UsageError } from "../core/exit_codes.ts";
import { parseIsoTime } from "../core/iso_time.ts";

/** The field that holds an entry's payload. */
export const PAYLOAD_FIELD = "payload";

/** The suffix of a stream's dead-letter stream. */
export const DEAD_SUFFIX = ":dead";

/**
 * The dead-letter stream of a stream.
 *
 * @param stream the stream
 * @returns `<stream>:dead`
 * @example
 * ```ts
 * import { deadLetterStream } from "./entry.ts";
 * import assert from "node:assert/strict";
 * assert.equal(deadLetterStream("key_submission"), "key_submission:dead");
 * ```
 */
export function deadLetterStream(stream: string): string {
  return stream + DEAD_SUFFIX;
}

/** One stream entry: its id and its fields (null when the entry was deleted but is still pending). */
export interface StreamEntry {
  /** The entry id, `<ms>-<seq>`. */
  id: string;
  /** Field → value; null for an entry that was trimmed or deleted while pending. */
  fields: Record<string, string> | null;
}

/**
 * Reads the `[id, [field, value, …]]` pairs ioredis returns for XRANGE,
 * XREADGROUP and XAUTOCLAIM.
 *
 * @param raw the reply's list of entries
 * @returns the entries
 * @example
 * ```ts
 * import { toEntries } from "./entry.ts";
 * import assert from "node:assert/strict";
 * const [entry] = toEntries([["1-0", ["payload", "{}"]], ["2-0", null]]);
 * assert.equal(entry!.fields!.payload, "{}");
 * assert.equal(toEntries([["2-0", null]])[0]!.fields, null);
 * ```
 */
export function toEntries(raw: unknown): StreamEntry[] {
  if (!Array.isArray(raw)) return [];
  return raw.map((item) => {
    const [id, list] = item as [string, string[] | null];
    if (!Array.isArray(list)) return { id: String(id), fields: null };
    const fields: Record<string, string> = {};
    for (let i = 0; i + 1 < list.length; i += 2) fields[String(list[i])] = String(list[i + 1]);
    return { id: String(id), fields };
  });
}

/** Where reading starts: `start` (the oldest entry), `new` (only entries added from now on), an id, or a time. */
export type StartPosition =
  | { kind: "start" }
  | { kind: "new" }
  | { kind: "id"; id: string }
  | { kind: "time"; ms: number };

const ENTRY_ID = /^\d+-\d+$/;

/**
 * Reads `--from`: `start` (or `0`), `new` (or `$`), an entry id such as
 * `1700000000000-0`, an ISO-8601 time, or a duration meaning that long ago
 * (`10m`, `2h`).
 *
 * @param text what the user wrote
 * @param now the current time in ms (tests fix it)
 * @returns the position
 * @throws {UsageError} when it is none of these
 * @example
 * ```ts
 * import { parseStartPosition } from "./entry.ts";
 * import assert from "node:assert/strict";
 * assert.equal(parseStartPosition("start").kind, "start");
 * assert.equal(parseStartPosition("10m", 3_600_000).kind, "time");
 * assert.equal((parseStartPosition("1970-01-01T00:00:01Z") as { ms: number }).ms, 1000);
 * ```
 */
export function parseStartPosition(text: string, now: number = Date.now()): StartPosition {
  const t = text.trim();
  if (t === "start" || t === "0" || t === "0-0" || t === "-") return { kind: "start" };
  if (t === "new" || t === "$") return { kind: "new" };
  if (ENTRY_ID.test(t)) return { kind: "id", id: t };
  const iso = parseIsoTime(t);
  if (iso !== undefined) return { kind: "time", ms: iso };
  try {
    return { kind: "time", ms: Math.max(0, now - parseDuration(t, "--from")) };
  } catch {
    throw new UsageError(
      `--from expects start, new, an entry id (1700000000000-0), an ISO-8601 time or how long ago (10m), got "${text}"`,
    );
  }
}

/**
 * The id a new group is created at (`XGROUP CREATE … <id>`): it then
 * delivers the entries after it, so a time becomes the last id before that
 * millisecond.
 *
 * @param from where the group starts
 * @returns the id for XGROUP CREATE
 * @example
 * ```ts
 * import { groupStartId } from "./entry.ts";
 * import assert from "node:assert/strict";
 * assert.equal(groupStartId({ kind: "time", ms: 1000 }), "999-18446744073709551615");
 * assert.equal(groupStartId({ kind: "new" }), "$");
 * ```
 */
export function groupStartId(from: StartPosition): string {
  switch (from.kind) {
    case "start":
      return "0";
    case "new":
      return "$";
    case "id":
      return from.id;
    case "time":
      return from.ms <= 0 ? "0" : `${from.ms - 1}-18446744073709551615`;
  }
}

/**
 * The first id an XRANGE reads from (inclusive), or undefined for `new`.
 *
 * @param from where reading starts
 * @returns the XRANGE start, or undefined when only new entries are wanted
 * @example
 * ```ts
 * import { rangeStartId } from "./entry.ts";
 * import assert from "node:assert/strict";
 * assert.equal(rangeStartId({ kind: "start" }), "-");
 * assert.equal(rangeStartId({ kind: "time", ms: 1000 }), "1000-0");
 * ```
 */
export function rangeStartId(from: StartPosition): string | undefined {
  switch (from.kind) {
    case "start":
      return "-";
    case "new":
      return undefined;
    case "id":
      return from.id;
    case "time":
      return `${from.ms}-0`;
  }
}

/**
 * The time in an entry id (its milliseconds part).
 *
 * @param id an entry id
 * @returns epoch ms
 * @example
 * ```ts
 * import { entryTime } from "./entry.ts";
 * import assert from "node:assert/strict";
 * assert.equal(entryTime("1000-3"), 1000);
 * ```
 */
export function entryTime(id: string): number {
  return Number(id.split("-")[0]);
}
