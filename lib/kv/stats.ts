/**
 * The kv_updater's statistics: messages received, stored, rejected by
 * reason, validation results — as one log line or one JSON object.
 *
 * @module
 */
import type { Rejection, RejectReason } from "./message.ts";
import type { Logger } from "../core/log.ts";
import type { EventFields } from "../core/json_event.ts";
import type { WriterStats } from "./writer.ts";
import { formatNumber } from "../core/stats.ts";
import { toSeconds } from "../core/json_event.ts";
import type { ServiceMetrics } from "../ops/service_metrics.ts";

/**
 * Counts what the updater received and refused; the writer counts the rest.
 *
 * @example
 * ```ts
 * import { UpdaterStats } from "./stats.ts";
 * import assert from "node:assert/strict";
 * const s = new UpdaterStats();
 * s.received++;
 * s.reject("bad_time");
 * assert.equal(s.rejected, 1);
 * ```
 */
export class UpdaterStats {
  /** Messages received on the channel. */
  received = 0;
  /** Rejected messages by reason, in the order first seen. */
  readonly byReason = new Map<RejectReason, number>();
  /** When counting started, epoch ms. */
  readonly startedAt: number = Date.now();
  /** Updates not written because the stored one is as new or newer (stream mode only; undefined otherwise). */
  stale: number | undefined;

  /** Counts one rejected message. */
  reject(reason: RejectReason): void {
    this.byReason.set(reason, (this.byReason.get(reason) ?? 0) + 1);
  }

  /**
   * Counts one rejected message and logs why: an error for what is not JSON at all, a warning otherwise.
   *
   * @param rejection what was wrong
   * @param log where the record goes
   * @param fields more fields for the record (e.g. the stream entry's id)
   */
  rejectAndLog(rejection: Rejection, log: Logger, fields: EventFields = {}): void {
    const { reason, detail, excerpt } = rejection;
    this.reject(reason);
    log.write(reason === "invalid_json" ? "error" : "warn", `Rejected message (${reason}): ${detail} — ${excerpt}`, {
      reason,
      ...fields,
    });
  }

  /** All rejected messages. */
  get rejected(): number {
    let n = 0;
    for (const count of this.byReason.values()) n += count;
    return n;
  }

  /**
   * One line: `received 10 · stored 8 · superseded 1 · rejected 1 (bad_time 1) · pending 0`.
   *
   * @param writer the writer's counters
   * @param pending updates not yet confirmed
   * @param validate whether validation counts are shown
   * @returns the line
   */
  text(writer: WriterStats, pending: number, validate: boolean): string {
    const n = formatNumber;
    const reasons = [...this.byReason].map(([r, c]) => `${r} ${n(c)}`).join(", ");
    const parts = [
      `received ${n(this.received)}`,
      `stored ${n(writer.stored)}`,
      `superseded ${n(writer.superseded)}`,
      `rejected ${n(this.rejected)}${reasons ? ` (${reasons})` : ""}`,
    ];
    if (this.stale !== undefined) parts.splice(2, 0, `stale ${n(this.stale)}`);
    if (validate) parts.push(`validation ${n(writer.verified)} ok, ${n(writer.mismatches)} mismatch(es)`);
    if (writer.expiredOnArrival) parts.push(`already expired ${n(writer.expiredOnArrival)}`);
    if (writer.serverErrors) parts.push(`server errors ${n(writer.serverErrors)}`);
    if (writer.abandoned) parts.push(`not stored at exit ${n(writer.abandoned)}`);
    parts.push(`pending ${n(pending)}`);
    return parts.join(" · ");
  }

  /**
   * The same counts as an object, for `--json`.
   *
   * @param writer the writer's counters
   * @param pending updates not yet confirmed
   * @returns the counts
   */
  json(writer: WriterStats, pending: number): Record<string, unknown> {
    return {
      received: this.received,
      stored: writer.stored,
      superseded: writer.superseded,
      ...this.stale !== undefined ? { stale: this.stale } : {},
      rejected: this.rejected,
      rejected_by_reason: Object.fromEntries(this.byReason),
      validated: writer.verified,
      validation_mismatches: writer.mismatches,
      expired_on_arrival: writer.expiredOnArrival,
      server_errors: writer.serverErrors,
      not_stored_at_exit: writer.abandoned,
      pending,
      seconds: toSeconds(Date.now() - this.startedAt),
    };
  }

  /**
   * Reports these counts and the writer's in `metrics` at each scrape, under `label` (the channel or stream):
   * received; handled (stored, superseded by a newer update, or stale); malformed (rejected); failed (refused by the
   * server); dropped (not stored at exit).
   *
   * @param metrics the script's metrics
   * @param label the channel or stream
   * @param writer the writer's counts now
   */
  report(metrics: ServiceMetrics, label: string, writer: () => WriterStats): void {
    metrics.received.follow(label, () => this.received);
    metrics.handled.follow(label, () => writer().stored + writer().superseded + (this.stale ?? 0));
    metrics.malformed.follow(label, () => this.rejected);
    metrics.failed.follow(label, () => writer().serverErrors);
    metrics.dropped.follow(label, () => writer().abandoned);
  }
}
