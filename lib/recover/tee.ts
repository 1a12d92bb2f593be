/**
 * The history tee: makes a channel that someone else publishes (redis-cli,
 * the seed's Python publisher) recoverable by subscribing to it and
 * publishing each message again, numbered and kept in a history, on a
 * channel of its own (`CHANNEL` + suffix), for subscriber.ts --recover. It
 * cannot recover its own outages: what is published on the source while the
 * tee is away is neither recorded nor numbered, so no subscriber learns of it.
 *
 * @module
 */
import type { Printer, Reporter } from "../core/output.ts";
import { formatNumber } from "../core/stats.ts";
import { whenAborted } from "../core/timing.ts";
import type { Endpoint } from "../endpoint/endpoint.ts";
import type { Outgoing } from "../pubsub/publish.ts";
import type { HistoryLimit } from "./history.ts";
import { historySender } from "./history_publisher.ts";

/** What a tee records. */
export interface TeeOptions {
  /** The server or cluster. */
  endpoint: Endpoint;
  /** The channels published by others. */
  channels: readonly string[];
  /** Appended to each channel's name for the recoverable one. */
  suffix: string;
  /** How much history each recoverable channel keeps. */
  limit: HistoryLimit;
  /** Where each recorded message (`--json`: a `recorded` event) and the summary go. */
  out: Printer;
  /** Where the rest goes. */
  status: Reporter;
  /** `--json`. */
  json: boolean;
  /** `--quiet`: only the summary. */
  quiet: boolean;
  /** Ctrl+C. */
  signal: AbortSignal;
}

/** What the tee's subscriber says when it is away: what the tee cannot recover. */
export const TEE_LOSS_NOTE = "Messages published on the source channel until it is back are not recorded: the tee " +
  "cannot recover its own outages (they get no offset, so subscribers cannot tell they are missing).";

/**
 * Records until Ctrl+C: each message of each channel published again, in order, with history.
 *
 * @param o what to record, and where to print
 * @returns how many were recorded
 * @throws {CliError} when the server cannot be used
 */
export async function runTee(o: TeeOptions): Promise<number> {
  const link = await o.endpoint.link({ reporter: o.status, offlineQueue: true, signal: o.signal });
  let recorded = 0;
  try {
    const sub = await o.endpoint.subscriber({ reporter: o.status, signal: o.signal, lossNote: TEE_LOSS_NOTE });
    const send = historySender(o.limit, false);
    let chain: Promise<void> = Promise.resolve();
    let waiting: Outgoing[] = [];
    const flush = async () => {
      const batch = waiting;
      waiting = [];
      if (batch.length === 0) return;
      const deliveries = await send(link.redis, batch);
      recorded += batch.length;
      if (o.quiet) return;
      batch.forEach((m, i) => {
        const d = deliveries[i]!;
        if (o.json) o.out.event("recorded", { channel: m.channel, offset: d.offset, epoch: d.epoch });
        else o.out.line(`recorded ${m.channel} #${d.offset}`);
      });
    };
    try {
      sub.listen((m) => {
        waiting.push({ channel: m.channel + o.suffix, payload: m.payload });
        if (waiting.length === 1) chain = chain.then(flush).catch((err) => o.status.error(`Not recorded: ${err}`));
      });
      await sub.subscribe(o.channels.map((name) => ({ kind: "channel" as const, name })));
      o.status.info(
        `Recording ${o.channels.map((c) => `${c} → ${c}${o.suffix}`).join(", ")} on ${o.endpoint.address}. ` +
          "Press Ctrl+C to stop.",
      );
      await whenAborted(o.signal);
      await sub.unsubscribe();
      await chain;
      await flush();
    } finally {
      await sub.close();
    }
  } finally {
    await link.close();
  }
  const line = `Recorded ${formatNumber(recorded)} message(s) into the history.`;
  if (o.json) o.out.event("summary", { recorded });
  else o.out.line(line);
  return recorded;
}
