/**
 * The checks of a consumer group on a stream: its lag, its pending count,
 * how long its longest-waiting pending entry has waited, and the length of
 * the stream's dead-letter stream.
 *
 * @module
 */
import type { Commands } from "../endpoint/link.ts";
import { nextId } from "../streams/dead_letters.ts";
import { deadLetterStream } from "../streams/entry.ts";
import { type CheckResult, judge, notChecked, type Thresholds } from "./nagios.ts";

/** Pending entries read at most to find the longest-waiting one (pages of 1,000). */
export const IDLE_SCAN_LIMIT = 10_000;

/** Entries counted at most for the lag where the server does not say it (and no threshold bounds it lower). */
export const LAG_COUNT_LIMIT = 10_000;

/** XINFO GROUPS's entry for one group: its last delivered id and lag (null where the server does not say). */
async function groupInfo(
  redis: Commands,
  stream: string,
  group: string,
): Promise<{ lastDelivered: string; lag: number | null } | undefined> {
  let groups: unknown[];
  try {
    groups = await redis.xinfo("GROUPS", stream) as unknown[];
  } catch (err) {
    if (/no such key/i.test((err as Error).message)) return undefined;
    throw err;
  }
  for (const raw of groups) {
    const g: Record<string, unknown> = {};
    const list = raw as unknown[];
    for (let i = 0; i + 1 < list.length; i += 2) g[String(list[i])] = list[i + 1];
    if (String(g.name) !== group) continue;
    const lag = g.lag === undefined || g.lag === null ? null : Number(g.lag);
    return { lastDelivered: String(g["last-delivered-id"] ?? "0-0"), lag };
  }
  return undefined;
}

/** Entries after `after`, counted up to `limit` (for servers that do not report the lag). */
async function countAfter(redis: Commands, stream: string, after: string, limit: number): Promise<number> {
  const page = await redis.xrange(stream, nextId(after), "+", "COUNT", limit) as unknown[];
  return page.length;
}

/** The longest idle time (ms) among the first {@linkcode IDLE_SCAN_LIMIT} pending entries, and its entry. */
async function longestIdle(redis: Commands, stream: string, group: string) {
  let start = "-";
  let longest: { id: string; ms: number } | undefined;
  let scanned = 0;
  while (scanned < IDLE_SCAN_LIMIT) {
    const rows = await redis.xpending(stream, group, start, "+", 1000) as [string, string, number, number][];
    for (const [id, , idle] of rows) if (!longest || Number(idle) > longest.ms) longest = { id, ms: Number(idle) };
    scanned += rows.length;
    if (rows.length < 1000) return { longest, scanned, complete: true };
    start = nextId(rows.at(-1)![0]);
  }
  return { longest, scanned, complete: false };
}

/**
 * Checks a consumer group: lag, pending, longest idle pending entry, dead letters.
 *
 * @param redis a link's commands
 * @param stream the stream
 * @param group the group
 * @param thresholds `lag`, `pending`, `idle` (seconds) and `dead`
 * @returns four lines, or one CRITICAL line when the group does not exist
 */
export async function checkGroup(
  redis: Commands,
  stream: string,
  group: string,
  thresholds: Thresholds,
): Promise<CheckResult[]> {
  const who = `${stream}/${group}`;
  const info = await groupInfo(redis, stream, group);
  if (!info) return [notChecked(who, "CRITICAL", `no group ${group} on stream ${stream}`)];
  const results: CheckResult[] = [];
  if (info.lag !== null) {
    results.push(judge(`${who} lag`, "lag", info.lag, `${info.lag} entries not yet delivered`, thresholds));
  } else {
    // KeyDB and Redis before 7 do not report the lag: count what follows the last delivered id, bounded.
    const { warn, crit } = thresholds.lag ?? {};
    const bound = Math.max(warn ?? -1, crit ?? -1);
    const limit = bound < 0 ? LAG_COUNT_LIMIT : Math.min(LAG_COUNT_LIMIT, Math.floor(bound) + 1);
    const n = await countAfter(redis, stream, info.lastDelivered, limit);
    const words = n >= limit ? `at least ${n} entries` : `${n} entries`;
    results.push(judge(`${who} lag`, "lag", n, `${words} not yet delivered (counted)`, thresholds));
  }
  const [pending] = await redis.xpending(stream, group) as [number, ...unknown[]];
  results.push(judge(`${who} pending`, "pending", Number(pending), `${pending} entries pending`, thresholds));
  const idle = await longestIdle(redis, stream, group);
  const seconds = (idle.longest?.ms ?? 0) / 1000;
  const idleWords = idle.longest
    ? `${seconds.toFixed(1)} s, entry ${idle.longest.id}${idle.complete ? "" : ` (of the first ${idle.scanned})`}`
    : "none pending";
  results.push(judge(`${who} oldest pending idle`, "idle", seconds, idleWords, thresholds));
  const dead = await redis.xlen(deadLetterStream(stream));
  results.push(judge(`${stream} dead letters`, "dead", dead, `${dead} in ${deadLetterStream(stream)}`, thresholds));
  return results;
}
