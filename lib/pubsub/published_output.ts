/**
 * How publisher.ts shows a message it published — a line, or a
 * `published` event — and the warning when one reached nobody.
 *
 * @module
 */
import { escapeControl, type Printer, type Reporter, showPayload } from "../core/output.ts";
import type { Published } from "./publish.ts";

const encoder = new TextEncoder();

/**
 * Prints one published message: where it went and what became of it.
 *
 * @param out where it goes
 * @param json a `published` event instead of a line
 * @param p the message and its delivery
 * @param nodeLocalCount PUBLISH on a cluster: the receivers are those of the node that took it only
 * @example
 * ```ts
 * import { printPublished } from "./published_output.ts";
 * import { Printer } from "../core/output.ts";
 * import assert from "node:assert/strict";
 * let text = "";
 * const out = new Printer({ writeSync: (b) => (text += new TextDecoder().decode(b), b.length), isTerminal: () => false });
 * printPublished(out, false, { channel: "news", payload: "hi", n: 1, receivers: 2 }, false);
 * assert.equal(text, "→ news: hi  (received by 2 subscribers)\n");
 * ```
 */
export function printPublished(out: Printer, json: boolean, p: Published, nodeLocalCount: boolean): void {
  const bytes = typeof p.payload === "string" ? encoder.encode(p.payload) : p.payload;
  if (json) {
    out.event("published", {
      n: p.n,
      channel: p.channel,
      ...showPayload(bytes).json,
      ...p.entryId !== undefined ? { entry_id: p.entryId } : { receivers: p.receivers },
      ...p.node !== undefined ? { node: p.node } : {},
      ...p.offset !== undefined ? { offset: p.offset, epoch: p.epoch } : {},
    });
    return;
  }
  const who = (p.receivers === 1 ? "1 subscriber" : `${p.receivers} subscribers`) +
    (p.node !== undefined ? ` on ${p.node}` : nodeLocalCount ? " on the node that took it" : "");
  const kept = p.offset !== undefined ? `, kept as offset ${p.offset}` : "";
  const fate = p.entryId !== undefined ? `appended as ${p.entryId}` : `received by ${who}${kept}`;
  out.line(`→ ${out.cyan(escapeControl(p.channel))}: ${showPayload(bytes).text}  ${out.dim(`(${fate})`)}`);
}

/**
 * Says (once per run) that a message reached nobody, and what that means.
 *
 * @param status where the warning goes
 * @param channel the message's channel
 * @param series whether more messages are published (the summary then counts any others)
 */
export function warnUnheard(status: Reporter, channel: string, series: boolean): void {
  status.warn(
    `Nobody is subscribed to "${channel}": that message is gone. ` +
      "Pub/sub delivers at most once, only to subscribers connected right now." +
      (series ? " (The summary counts any others.)" : ""),
  );
}
