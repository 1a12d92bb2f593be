/**
 * What subscriber.ts prints: each subscription confirmed, each message (a
 * line, or a `message`, `pmessage` or `smessage` event), and the summary.
 *
 * @module
 */
import type { RecoverySummary } from "../recover/recovering_subscriber.ts";
import { slotOf } from "../cluster/topology.ts";
import { flowRate, preciseNow, toSeconds } from "../core/json_event.ts";
import { clock, escapeControl, type Printer, showPayload } from "../core/output.ts";
import { formatNumber, type MessageCounter } from "../core/stats.ts";
import type { Subscriber } from "../endpoint/subscriber.ts";
import type { Confirmation, PubSubMessage } from "../pubsub/subscribe.ts";

const CONFIRMATION_EVENT = { channel: "subscribe", pattern: "psubscribe", shard: "ssubscribe" } as const;

/**
 * Prints that a subscription is confirmed (on a cluster, with the node and slot of a sharded channel).
 *
 * @param out where it goes
 * @param c the confirmation
 * @param json an event instead of a line
 */
export function printConfirmation(out: Printer, c: Confirmation, json: boolean): void {
  if (json) {
    const name = c.kind === "pattern" ? { pattern: c.name } : { channel: c.name };
    const where = c.node !== undefined ? { node: c.node, slot: slotOf(c.name) } : {};
    out.event(CONFIRMATION_EVENT[c.kind], { ...name, active: c.active, ...where });
  } else {
    const what = c.kind === "shard" ? "sharded channel" : c.kind;
    const where = c.node !== undefined ? ` on ${out.bold(c.node)} ${out.dim(`(slot ${slotOf(c.name)})`)}` : "";
    out.line(`${out.green("✓")} subscribed to ${what} ${out.bold(escapeControl(c.name))}${where} (${c.active} active)`);
  }
}

/**
 * How each message is printed.
 *
 * @param out where it goes
 * @param json events (`time` to the microsecond) instead of lines
 * @returns the printer of one message
 */
export function messagePrinter(out: Printer, json: boolean): (m: PubSubMessage) => void {
  return json ? printJson(out) : printText(out);
}

function printText(out: Printer): (m: PubSubMessage) => void {
  return (m) => {
    const body = showPayload(m.payload).text;
    const channel = out.cyan(escapeControl(m.channel));
    const where = m.pattern !== undefined
      ? `${out.dim("pmessage")} ${out.magenta(escapeControl(m.pattern))} ${out.dim("matched")} ${channel}`
      : m.sharded
      ? `${out.dim("smessage")} ${channel}`
      : `${out.dim("message ")} ${channel}`;
    const from = m.node !== undefined ? `  ${out.dim(`(from ${m.node})`)}` : "";
    const kept = m.offset === undefined
      ? ""
      : `  ${out.dim(`#${m.offset}`)}${m.recovered ? ` ${out.yellow("recovered")}` : ""}`;
    out.line(`${out.dim(clock())} ${where}: ${body}${from}${kept}`);
  };
}

function printJson(out: Printer): (m: PubSubMessage) => void {
  return (m) => {
    const at = preciseNow(); // `time` to the microsecond: minus a `{{ts}}` in the payload, a one-way latency
    const payload = {
      ...showPayload(m.payload).json,
      ...(m.offset !== undefined ? { offset: m.offset } : {}),
      ...(m.recovered ? { recovered: true } : {}),
    };
    if (m.pattern !== undefined) out.event("pmessage", { pattern: m.pattern, channel: m.channel, ...payload }, at);
    else if (m.sharded) {
      const node = m.node !== undefined ? { node: m.node } : {};
      out.event("smessage", { channel: m.channel, ...payload, ...node }, at);
    } else out.event("message", { channel: m.channel, ...payload }, at);
  };
}

/**
 * Prints the summary: messages, rate, count per channel, outages.
 *
 * @param out where it goes
 * @param json one `summary` event instead of lines
 * @param counter what was received
 * @param elapsedMs how long it listened
 * @param conn the subscriber (its outages)
 * @param recovery with `--recover`: what was recovered and lost
 */
export function printSubscriberSummary(
  out: Printer,
  json: boolean,
  counter: MessageCounter,
  elapsedMs: number,
  conn: Subscriber,
  recovery?: RecoverySummary,
): void {
  const rate = flowRate(counter.total, counter.flowingMs);
  if (json) {
    out.event("summary", {
      messages: counter.total,
      seconds: toSeconds(elapsedMs),
      flowing_seconds: toSeconds(counter.flowingMs),
      ...(rate !== undefined ? { rate_per_second: rate } : {}),
      channels: Object.fromEntries(counter.byName),
      ...conn.outageJson(),
      ...recovery?.summaryJson(),
    });
    return;
  }
  out.line(
    `Received ${formatNumber(counter.total)} message(s) in ${(elapsedMs / 1000).toFixed(1)} s` +
      (rate !== undefined ? ` (${formatNumber(rate)}/s while messages were flowing)` : "") + ".",
  );
  const width = Math.max(0, ...[...counter.byName.keys()].map((k) => escapeControl(k).length));
  for (const [channel, n] of counter.byName) out.line(`  ${escapeControl(channel).padEnd(width)}  ${formatNumber(n)}`);
  const cost = recovery
    ? "messages published then came back from the history where it still had them."
    : "messages published then were not received.";
  const outages = conn.outageSummary(cost);
  if (outages) out.line(outages);
  for (const line of recovery?.summaryLines() ?? []) out.line(line);
}
