/**
 * Dead letters back for another try: reading `<stream>:dead`, and sending an
 * entry back to its stream once, however many times that is asked.
 *
 * A redrive appends the dead entry's payload to the stream (with a
 * `redriven_from` field naming the dead entry) and writes to the stream's
 * redrive ledger — a hash in the stream's own hash slot — `dead:<dead id>`
 * (the dead entry's record: why and how often it failed, and the id it was
 * redriven as) and `entry:<new id>` (the dead id), in one Lua script: the
 * append happens only when the ledger has no `dead:<dead id>` yet, so a dead
 * entry redriven twice, or by two people at once, is appended once. Then the
 * dead entry is deleted from `<stream>:dead` (another slot on a cluster, so
 * another command: a redrive stopped between the two finds the ledger's
 * record the next time and only deletes). `<stream>:dead` thus holds what
 * still waits for someone, and the attempt history stays: an entry that dies
 * again names its new id as `original_id`, which the ledger leads back to the
 * earlier round, and so on.
 *
 * @module
 */
import type { Commands } from "../endpoint/link.ts";
import { slotOf } from "../cluster/topology.ts";
import { UsageError } from "../core/exit_codes.ts";
import { deadLetterStream, PAYLOAD_FIELD, type StreamEntry, toEntries } from "./entry.ts";

/** The field of a redriven entry that names the dead entry it came from. */
export const REDRIVEN_FROM_FIELD = "redriven_from";

/** How many earlier rounds {@linkcode deadLetterHistory} follows at most. */
export const MAX_ROUNDS = 100;

/** A page of XRANGE. */
const PAGE = 100;

/** One round of failures of an event: what the consumer wrote to `<stream>:dead`. */
export interface DeadRecord {
  /** The dead entry's id in `<stream>:dead`. */
  dead_id: string;
  /** The id of the failing entry in its stream. */
  original_id: string;
  /** Why it was dead-lettered. */
  reason: string;
  /** How many times it was delivered. */
  attempts: number;
  /** The group and consumer that gave up on it. */
  group: string;
  /** The consumer. */
  consumer: string;
  /** When (ISO-8601). */
  failed_at: string;
  /** The id it was redriven as, once it was. */
  redriven_id?: string;
  /** When it was redriven (ISO-8601). */
  redriven_at?: string;
}

/** A dead entry as `<stream>:dead` holds it. */
export interface DeadEntry extends DeadRecord {
  /** The payload (what a redrive appends again). */
  payload: string | undefined;
}

/** What a redrive did with one dead entry. */
export type RedriveOutcome =
  | { kind: "redriven"; dead: DeadEntry; redrivenId: string }
  | { kind: "already"; deadId: string; record: DeadRecord }
  | { kind: "would"; dead: DeadEntry }
  | { kind: "skipped"; deadId: string; reason: string };

/**
 * The redrive ledger of a stream: a hash in the stream's own hash slot, so
 * that one Lua script may append to the stream and write the ledger.
 *
 * @param stream the stream
 * @returns `{<stream>}:redriven`, or `<stream>:redriven` when the stream's name has a hash tag of its own
 * @throws {UsageError} for a name with a `}` whose slot no such name shares (e.g. `a}b`)
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { redriveLedger } from "./dead_letters.ts";
 * assert.equal(redriveLedger("key_submission"), "{key_submission}:redriven");
 * assert.equal(redriveLedger("{shop}orders"), "{shop}orders:redriven");
 * ```
 */
export function redriveLedger(stream: string): string {
  const slot = slotOf(stream);
  for (const name of [`${stream}:redriven`, `{${stream}}:redriven`]) if (slotOf(name) === slot) return name;
  throw new UsageError(
    `The stream "${stream}" has a "}" but no hash tag: its redrive ledger cannot share its hash slot. Rename it, ` +
      `or give it a hash tag, e.g. "{${stream.replaceAll(/[{}]/g, "")}}"`,
  );
}

/**
 * The dead entry of a `<stream>:dead` entry.
 *
 * @param entry the entry read from `<stream>:dead`
 * @returns what it says
 */
export function toDeadLetter(entry: StreamEntry): DeadEntry {
  const f = entry.fields ?? {};
  return {
    dead_id: entry.id,
    payload: f[PAYLOAD_FIELD],
    original_id: f.original_id ?? "",
    reason: f.reason ?? "",
    attempts: Number(f.attempts ?? 0),
    group: f.group ?? "",
    consumer: f.consumer ?? "",
    failed_at: f.failed_at ?? "",
  };
}

/**
 * The entries of `<stream>:dead` from `start` to `end` (inclusive, as XRANGE), oldest first.
 *
 * @param redis a link's commands
 * @param stream the stream (not its dead-letter stream)
 * @param range first and last id (`-` and `+` for all), and at most how many
 * @yields each dead entry
 */
export async function* readDeadLetters(
  redis: Commands,
  stream: string,
  range: { start: string; end: string; limit?: number },
): AsyncGenerator<DeadEntry> {
  const dead = deadLetterStream(stream);
  let start = range.start;
  let left = range.limit ?? Infinity;
  while (left > 0) {
    const page = toEntries(await redis.xrange(dead, start, range.end, "COUNT", Math.min(PAGE, left)));
    for (const entry of page) yield toDeadLetter(entry);
    left -= page.length;
    if (page.length < PAGE) return;
    start = nextId(page.at(-1)!.id);
  }
}

/**
 * The id just after `id` (XRANGE's exclusive start, which Redis before 6.2 lacks).
 *
 * @param id an entry id
 * @returns `<ms>-<seq + 1>`
 * @example
 * ```ts
 * import { nextId } from "./dead_letters.ts";
 * import assert from "node:assert/strict";
 * assert.equal(nextId("5-18446744073709551615"), "6-0");
 * assert.equal(nextId("5-1"), "5-2");
 * ```
 */
export function nextId(id: string): string {
  const [ms, seq] = id.split("-").map(BigInt) as [bigint, bigint];
  return seq === 18446744073709551615n ? `${ms + 1n}-0` : `${ms}-${seq + 1n}`;
}

/**
 * The redrive record of a dead entry, when it was redriven.
 *
 * @param redis a link's commands
 * @param stream the stream
 * @param deadId the dead entry's id
 * @returns its record (with `redriven_id`), or undefined when it was never redriven
 */
export async function redriveRecord(redis: Commands, stream: string, deadId: string): Promise<DeadRecord | undefined> {
  const text = await redis.hget(redriveLedger(stream), `dead:${deadId}`);
  return text === null ? undefined : JSON.parse(text) as DeadRecord;
}

/**
 * The earlier rounds of a dead entry, most recent first: each time the same
 * event was dead-lettered, then redriven (at most {@linkcode MAX_ROUNDS}).
 *
 * @param redis a link's commands
 * @param stream the stream
 * @param dead the dead entry (or a record of one)
 * @returns the rounds before it
 */
export async function deadLetterHistory(redis: Commands, stream: string, dead: DeadRecord): Promise<DeadRecord[]> {
  const ledger = redriveLedger(stream);
  const rounds: DeadRecord[] = [];
  let originalId = dead.original_id;
  while (rounds.length < MAX_ROUNDS && originalId !== "") {
    const earlierDead = await redis.hget(ledger, `entry:${originalId}`);
    if (earlierDead === null) break;
    const record = await redriveRecord(redis, stream, earlierDead);
    if (!record) break;
    rounds.push(record);
    originalId = record.original_id;
  }
  return rounds;
}

// KEYS[1] the stream, KEYS[2] its ledger; ARGV[1] the dead id, ARGV[2] the payload, ARGV[3] the record as a JSON
// object without redriven_id. Appends only when the ledger has no record of the dead id yet.
const REDRIVE = `
local done = redis.call('HGET', KEYS[2], 'dead:' .. ARGV[1])
if done then return {0, done} end
local id = redis.call('XADD', KEYS[1], '*', '${PAYLOAD_FIELD}', ARGV[2], '${REDRIVEN_FROM_FIELD}', ARGV[1])
local record = '{"redriven_id":"' .. id .. '",' .. string.sub(ARGV[3], 2)
redis.call('HSET', KEYS[2], 'dead:' .. ARGV[1], record, 'entry:' .. id, ARGV[1])
return {1, record}`;

/**
 * Sends one dead entry back to its stream, once: appended (unless `dryRun`)
 * and recorded in the ledger together, then deleted from `<stream>:dead`.
 *
 * @param redis a link's commands
 * @param stream the stream
 * @param dead the dead entry, as read from `<stream>:dead`
 * @param options `dryRun`: say what would be done, do nothing
 * @returns what was done
 */
export async function redrive(
  redis: Commands,
  stream: string,
  dead: DeadEntry,
  options: { dryRun?: boolean } = {},
): Promise<RedriveOutcome> {
  const earlier = await redriveRecord(redis, stream, dead.dead_id);
  if (earlier) {
    if (!options.dryRun) await redis.xdel(deadLetterStream(stream), dead.dead_id);
    return { kind: "already", deadId: dead.dead_id, record: earlier };
  }
  if (dead.payload === undefined) return { kind: "skipped", deadId: dead.dead_id, reason: "it has no payload" };
  if (options.dryRun) return { kind: "would", dead };
  const { payload: _, ...record } = dead;
  const at = new Date().toISOString();
  const [appended, text] = await redis.eval(
    REDRIVE,
    2,
    stream,
    redriveLedger(stream),
    dead.dead_id,
    dead.payload,
    JSON.stringify({ ...record, redriven_at: at }),
  ) as [number, string];
  await redis.xdel(deadLetterStream(stream), dead.dead_id);
  const stored = JSON.parse(text) as DeadRecord;
  if (appended !== 1) return { kind: "already", deadId: dead.dead_id, record: stored };
  return { kind: "redriven", dead, redrivenId: stored.redriven_id! };
}
