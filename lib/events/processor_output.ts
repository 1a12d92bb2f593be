/**
 * What the event processor prints in pub/sub mode — each event, the periodic
 * statistics, the summary — as text or `--json`; and how a result reads,
 * shared with the durable mode.
 *
 * @module
 */
import { toSeconds } from "../core/json_event.ts";
import { clock, escapeControl, type Printer } from "../core/output.ts";
import { formatNumber } from "../core/stats.ts";
import type { Subscriber } from "../endpoint/subscriber.ts";
import type { RecoveringSubscriber } from "../recover/recovering_subscriber.ts";
import type { CreatedEvent } from "./envelope.ts";
import type { ProcessedEvent } from "./processing.ts";
import type { ProcessorStatsOptions } from "./processor_stats.ts";
import type { Ops } from "../ops/ops.ts";
import { formatStatsTable, type TopicStatsSnapshot } from "./stats.ts";
import type { EventSubscriber } from "./subscriber.ts";

/** What both modes of the processor are told by the command line. */
export interface ProcessorRunOptions {
  /** `--concurrency`. */
  concurrency: number;
  /** `--stats-interval` in ms (0: only at exit). */
  statsEveryMs: number;
  /** `--shutdown-timeout` in ms. */
  shutdownMs: number;
  /** `--json`. */
  json: boolean;
  /** `--quiet`. */
  quiet: boolean;
  /** `--publish-stats` and `--stats-channel`: where and how often `processor_stats` go (undefined: off). */
  publishStats?: Pick<ProcessorStatsOptions, "channel" | "everyMs">;
  /** `--metrics-port`: counts and handler times per topic (with --durable the group's figures too), readiness. */
  ops?: Pick<Ops, "metrics" | "readiness">;
}

/**
 * How a result reads in the per-event line.
 *
 * @param result a `key_processed` or `profile_processed` event
 * @returns e.g. `valid, 6 chars, token "Token1"`
 * @example
 * ```ts
 * import { describeResult } from "./processor_output.ts";
 * import assert from "node:assert/strict";
 * const result = { event_type: "key_processed", timestamp: "", id: "x", source: "s",
 *   result: { valid: true, length: 6, token_name: null } };
 * assert.equal(describeResult(result), "valid, 6 chars, no token");
 * ```
 */
export function describeResult(result: CreatedEvent): string {
  const r = result.result as Record<string, unknown>;
  if (result.event_type === "key_processed") {
    const token = r.token_name === null ? "no token" : `token "${escapeControl(String(r.token_name))}"`;
    return `${r.valid ? "valid" : `invalid (${r.reason})`}, ${r.length} chars, ${token}`;
  }
  const fields = (r.fields as string[]).length ? ` (fields: ${escapeControl((r.fields as string[]).join(", "))})` : "";
  return `${r.action} profile ${escapeControl(String(r.profile_id))}${fields}`;
}

/**
 * Prints one event handled, and its result.
 *
 * @param out where to print
 * @param json `--json`
 * @param p the event and its result
 */
export function printProcessed(out: Printer, json: boolean, p: ProcessedEvent): void {
  if (json) {
    out.event("processed", {
      channel: p.topic,
      event_type: p.original.event_type,
      id: p.original.id ?? null,
      result_type: p.result.event_type,
      result_id: p.result.id,
      result: p.result.result,
      receivers: p.receivers,
      ...(p.offset !== undefined ? { offset: p.offset } : {}),
      ...(p.recovered ? { recovered: true } : {}),
    });
    return;
  }
  const receivers = `${p.receivers} receiver${p.receivers === 1 ? "" : "s"}`;
  const id = p.original.id ? p.original.id.slice(0, 8) : "(no id)";
  const kept = p.offset === undefined
    ? ""
    : `  ${out.dim(`#${p.offset}`)}${p.recovered ? ` ${out.yellow("recovered")}` : ""}`;
  out.line(
    `${out.dim(clock())} ${out.cyan(p.topic)} ${escapeControl(p.original.event_type)} ${out.dim(id)} → ` +
      `${p.result.event_type}: ${describeResult(p.result)} ${out.dim(`(${receivers})`)}${kept}`,
  );
}

/**
 * Prints the periodic statistics.
 *
 * @param out where to print
 * @param json `--json`
 * @param subscriber the running subscriber
 */
export function printStats(out: Printer, json: boolean, subscriber: EventSubscriber): void {
  const topics = subscriber.stats();
  if (json) {
    out.event("stats", { in_flight: subscriber.inFlight, queued: subscriber.queued, topics });
    return;
  }
  out.line(`${out.dim(clock())} statistics (${subscriber.inFlight} in flight, ${subscriber.queued} waiting):`);
  for (const line of formatStatsTable(topics)) out.line(line);
}

/**
 * Prints the summary at the end.
 *
 * @param out where to print
 * @param json `--json`
 * @param topics the figures per topic
 * @param elapsedMs how long it ran
 * @param conn the subscriber (its outages)
 * @param drain what the stop achieved
 * @param recovery with `--recover`: what was recovered and lost
 */
export function printSummary(
  out: Printer,
  json: boolean,
  topics: TopicStatsSnapshot[],
  elapsedMs: number,
  conn: Pick<Subscriber, "outageJson" | "outageSummary">,
  drain: { drained: boolean; abandoned: number },
  recovery?: Pick<RecoveringSubscriber, "summaryLines" | "summaryJson">,
): void {
  const processed = topics.reduce((n, t) => n + t.processed, 0);
  if (json) {
    // On a cluster the summary says slot_map_changes, as the durable mode's does (json.md).
    const { topology_changes: changes, shard_moves: _, nodes: __, ...outages } = conn.outageJson();
    out.event("summary", {
      seconds: toSeconds(elapsedMs),
      processed,
      topics,
      drained: drain.drained,
      abandoned: drain.abandoned,
      ...outages,
      ...(changes !== undefined ? { slot_map_changes: changes } : {}),
      ...recovery?.summaryJson(),
    });
    return;
  }
  out.line(`Processed ${formatNumber(processed)} event(s) in ${(elapsedMs / 1000).toFixed(1)} s.`);
  for (const line of formatStatsTable(topics)) out.line(line);
  const outages = conn.outageSummary(
    recovery
      ? "events published then came back from the history where it still had them."
      : "events published then were not received.",
  );
  if (outages) out.line(outages);
  for (const line of recovery?.summaryLines() ?? []) out.line(line);
}
