/**
 * What stream_tail.ts prints: entries as they are read, and a stream's
 * consumer groups with their consumers, pending counts, idle times, lag and
 * dead letters — as text or `--json`.
 *
 * @module
 */
import { CliError, ExitCode } from "../core/exit_codes.ts";
import { escapeControl, type Printer } from "../core/output.ts";
import { formatNumber } from "../core/stats.ts";
import type { Link } from "../endpoint/link.ts";
import { deadLetterStream, entryTime, type StreamEntry } from "./entry.ts";
import { groupConsumers, streamGroups } from "./groups.ts";

/**
 * What a failed read of `stream` means: a key that is not a stream says so (exit code 1); anything else as it is.
 *
 * @param err what the read failed with
 * @param stream the stream read
 * @returns the error to stop with
 */
export function explainStreamError(err: unknown, stream: string): Error {
  const message = err instanceof Error ? err.message : String(err);
  if (/WRONGTYPE/.test(message)) return new CliError(ExitCode.Failure, `"${stream}" is not a stream (${message})`);
  return err instanceof Error ? err : new Error(message);
}

/**
 * Prints one entry: its id, time and fields (the payload alone when it is the only field), or a JSON `entry`.
 *
 * @param out where to print
 * @param json `--json`
 * @param stream the stream it is from
 * @param entry the entry
 */
export function printEntry(out: Printer, json: boolean, stream: string, entry: StreamEntry): void {
  const time = new Date(entryTime(entry.id)).toISOString();
  if (json) {
    out.event("entry", { channel: stream, entry_id: entry.id, entry_time: time, fields: entry.fields });
    return;
  }
  const fields = entry.fields ?? {};
  const names = Object.keys(fields);
  const body = names.length === 1 && names[0] === "payload"
    ? escapeControl(fields.payload!)
    : names.map((n) => `${escapeControl(n)}=${escapeControl(fields[n]!)}`).join(" ");
  out.line(`${out.bold(entry.id)}  ${out.dim(time)}  ${body}`);
}

/**
 * Prints a stream's length, dead letters and consumer groups with their consumers, or a JSON `groups`.
 *
 * @param conn a link (its node serving the stream is named on a cluster)
 * @param out where to print
 * @param json `--json`
 * @param stream the stream
 * @throws {CliError} when the key is not a stream
 */
export async function printGroups(
  conn: Pick<Link, "redis" | "nodeOf">,
  out: Printer,
  json: boolean,
  stream: string,
): Promise<void> {
  const redis = conn.redis;
  let length: number;
  let deadLength: number;
  let groups;
  try {
    [length, deadLength, groups] = await Promise.all([
      redis.xlen(stream),
      redis.xlen(deadLetterStream(stream)),
      streamGroups(redis, stream),
    ]);
  } catch (err) {
    throw explainStreamError(err, stream);
  }
  const withConsumers = await Promise.all(
    groups.map(async (g) => ({ ...g, consumerList: await groupConsumers(redis, stream, g.name) })),
  );
  const node = conn.nodeOf(stream);
  if (json) {
    out.event("groups", {
      channel: stream,
      ...(node ? { node } : {}),
      length,
      dead_letters: deadLength,
      groups: withConsumers.map((g) => ({
        name: g.name,
        pending: g.pending,
        lag: g.lag,
        last_delivered_id: g.lastDeliveredId,
        consumers: g.consumerList.map((c) => ({ name: c.name, pending: c.pending, idle_ms: c.idleMs })),
      })),
    });
    return;
  }
  const dead = deadLength > 0 ? `; ${formatNumber(deadLength)} in ${deadLetterStream(stream)}` : "";
  out.line(`${out.bold(stream)}${node ? ` (on ${node})` : ""}: ${formatNumber(length)} entries${dead}`);
  if (withConsumers.length === 0) out.line("  no consumer groups");
  for (const g of withConsumers) {
    const lag = g.lag === null ? "unknown" : formatNumber(g.lag);
    out.line(
      `  group ${out.bold(g.name)}: ${g.consumerList.length} consumer(s), ${formatNumber(g.pending)} pending, ` +
        `lag ${lag}, last delivered ${g.lastDeliveredId}`,
    );
    const width = Math.max(0, ...g.consumerList.map((c) => c.name.length));
    for (const c of g.consumerList) {
      out.line(
        `    ${escapeControl(c.name).padEnd(width)}  ${formatNumber(c.pending).padStart(6)} pending  ` +
          `idle ${formatIdle(c.idleMs)}`,
      );
    }
  }
}

function formatIdle(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  if (ms < 120_000) return `${(ms / 1000).toFixed(1)} s`;
  return `${(ms / 60_000).toFixed(1)} min`;
}
