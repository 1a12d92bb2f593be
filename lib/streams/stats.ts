/**
 * The streams consumer's figures per stream: the pub/sub subscriber's
 * (received, processed, failed, malformed, handler times) plus claimed,
 * retried and dead-lettered counts, and — asked of the server — pending and
 * lag.
 *
 * @module
 */
import { type ExtraColumn, formatStatsTable, TopicStats, type TopicStatsSnapshot } from "../events/stats.ts";
import { formatNumber } from "../core/stats.ts";

/** One stream's figures at one moment. */
export interface StreamStatsSnapshot extends TopicStatsSnapshot {
  /** Entries taken over with XAUTOCLAIM after they sat unacknowledged for the claim time. */
  claimed: number;
  /** Deliveries of an entry that had been delivered before (after a failure or a crash). */
  retried: number;
  /** Entries moved to the dead-letter stream. */
  dead_lettered: number;
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
 * import { StreamStats } from "./stats.ts";
 * const stats = new StreamStats("orders");
 * stats.claimed++;
 * console.assert(stats.snapshot({ pending: 3, lag: null }).claimed === 1);
 * ```
 */
export class StreamStats extends TopicStats {
  /** Entries taken over with XAUTOCLAIM. */
  claimed = 0;
  /** Deliveries of entries delivered before. */
  retried = 0;
  /** Entries moved to the dead-letter stream. */
  deadLettered = 0;

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
 * import { formatStreamStatsTable, StreamStats } from "./stats.ts";
 * const [header, row] = formatStreamStatsTable([new StreamStats("orders").snapshot({ pending: 0, lag: null })]);
 * console.assert(header!.includes("dead") && row!.includes("unknown"));
 * ```
 */
export function formatStreamStatsTable(snapshots: readonly StreamStatsSnapshot[]): string[] {
  return formatStatsTable(snapshots, COLUMNS);
}
