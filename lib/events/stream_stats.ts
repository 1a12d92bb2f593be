/**
 * The streams consumer's figures per stream: the pub/sub subscriber's
 * (received, processed, failed, malformed, handler times) plus claimed,
 * retried, dead-lettered and damaged-in-transit counts, and — asked of the
 * server — pending and lag.
 *
 * @module
 */
import { type ExtraColumn, formatStatsTable, TopicStats, type TopicStatsSnapshot } from "./stats.ts";
import { formatNumber } from "../core/stats.ts";

/** One stream's figures at one moment. */
export interface StreamStatsSnapshot extends TopicStatsSnapshot {
  /** Entries taken over with XAUTOCLAIM after they sat unacknowledged for the claim time. */
  claimed: number;
  /** Deliveries of an entry that had been delivered before (after a failure or a crash). */
  retried: number;
  /** Entries moved to the dead-letter stream. */
  dead_lettered: number;
  /** Entries delivered unreadable whose stored copy, read again by id, was intact: handled from that copy instead. */
  damaged_in_transit: number;
  /** Entries of the group delivered and not yet acknowledged (null when not asked or not known). */
  pending: number | null;
  /** Entries not yet delivered to the group; null where the server does not say (before Redis 7, KeyDB). */
  lag: number | null;
}

/**
 * The running counts for one stream.
 *
 * @example
 * ```ts
 * import { StreamStats } from "./stream_stats.ts";
 * import assert from "node:assert/strict";
 * const stats = new StreamStats("orders");
 * stats.claimed++;
 * assert.equal(stats.snapshot({ pending: 3, lag: null }).claimed, 1);
 * ```
 */
export class StreamStats extends TopicStats {
  /** Entries taken over with XAUTOCLAIM. */
  claimed = 0;
  /** Deliveries of entries delivered before. */
  retried = 0;
  /** Entries moved to the dead-letter stream. */
  deadLettered = 0;
  /** Entries delivered damaged (stored intact). */
  damagedInTransit = 0;

  /**
   * The figures now.
   *
   * @param server pending and lag as the server reported them (null: unknown)
   * @returns the snapshot
   */
  override snapshot(
    server: { pending: number | null; lag: number | null } = { pending: null, lag: null },
  ): StreamStatsSnapshot {
    return {
      ...super.snapshot(),
      claimed: this.claimed,
      retried: this.retried,
      dead_lettered: this.deadLettered,
      damaged_in_transit: this.damagedInTransit,
      pending: server.pending,
      lag: server.lag,
    };
  }
}

const COLUMNS: readonly ExtraColumn<StreamStatsSnapshot>[] = [
  ["retried", (s) => formatNumber(s.retried)],
  ["claimed", (s) => formatNumber(s.claimed)],
  ["dead", (s) => formatNumber(s.dead_lettered)],
  ["pending", (s) => s.pending === null ? "?" : formatNumber(s.pending)],
  ["lag", (s) => s.lag === null ? "unknown" : formatNumber(s.lag)],
];

/**
 * Lays out stream snapshots as the pub/sub table plus retried, claimed,
 * dead, pending and lag columns.
 *
 * @param snapshots the figures
 * @returns the lines, header first
 * @example
 * ```ts
 * import { formatStreamStatsTable, StreamStats } from "./stream_stats.ts";
 * import assert from "node:assert/strict";
 * const [header, row] = formatStreamStatsTable([new StreamStats("orders").snapshot({ pending: 0, lag: null })]);
 * assert.ok(header!.includes("dead"));
 * assert.ok(row!.includes("unknown"));
 * ```
 */
export function formatStreamStatsTable(snapshots: readonly StreamStatsSnapshot[]): string[] {
  return formatStatsTable(snapshots, COLUMNS);
}

/**
 * The line said under a stream table when entries arrived damaged: how many
 * were read again and handled from their stored copy.
 *
 * @param snapshots the figures
 * @returns the line, or undefined when none arrived damaged
 * @example
 * ```ts
 * import { formatTransitNote, StreamStats } from "./stream_stats.ts";
 * import assert from "node:assert/strict";
 * const stats = new StreamStats("orders");
 * assert.equal(formatTransitNote([stats.snapshot()]), undefined);
 * stats.damagedInTransit = 2;
 * assert.ok(formatTransitNote([stats.snapshot()])!.startsWith("Re-read 2 entr(ies) damaged in transit"));
 * ```
 */
export function formatTransitNote(snapshots: readonly StreamStatsSnapshot[]): string | undefined {
  const damaged = snapshots.reduce((n, s) => n + s.damaged_in_transit, 0);
  if (damaged === 0) return undefined;
  const where = snapshots.filter((s) => s.damaged_in_transit > 0)
    .map((s) => `${s.topic} ${formatNumber(s.damaged_in_transit)}`).join(", ");
  return `Re-read ${formatNumber(damaged)} entr(ies) damaged in transit (${where}): each arrived unreadable but ` +
    "was intact in its stream, and was handled from the stored copy instead of being dead-lettered.";
}
