/**
 * publisher.ts's tally: what was published, how many deliveries, what
 * reached nobody — and its summary, a line or a `summary` event.
 *
 * @module
 */
import { flowRate, toSeconds } from "../core/json_event.ts";
import type { Printer, Reporter } from "../core/output.ts";
import { formatNumber, MessageCounter } from "../core/stats.ts";
import type { Delivery, Outgoing, Published, SeriesResult } from "../pubsub/publish.ts";
import type { PublishRoute } from "./publish_route.ts";

/**
 * Counts what was published and what reached nobody.
 *
 * @example
 * ```ts ignore
 * const tally = new PublishTally(route);
 * tally.add({ channel: "news", payload: "hi", n: 1, receivers: 0 });
 * tally.print(out, status, false);
 * ```
 */
export class PublishTally {
  /** Messages that reached no subscriber. */
  unheard = 0;
  /** Subscribers reached, summed over the messages. */
  deliveries = 0;
  /** Messages appended to a stream. */
  appended = 0;
  /** What a series with --retry skipped and delayed (reported only with --retry). */
  series: SeriesResult | undefined;
  readonly #startedAt = performance.now();
  /** When the replies came: the rate is over the time messages were flowing. */
  readonly #flow = new MessageCounter();

  /** @param route the route published through: whether it appends, counts per node, sends again */
  constructor(private readonly route: PublishRoute) {}

  /** How many messages were confirmed. */
  get sent(): number {
    return this.#flow.total;
  }

  /**
   * Adds one confirmed message.
   *
   * @param p what became of it
   */
  add(p: Published): void {
    this.#flow.record(p.channel);
    this.deliveries += p.receivers;
    if (p.entryId !== undefined) this.appended++;
    else if (p.receivers === 0) this.unheard++;
  }

  /**
   * Adds a confirmed batch at once: what {@linkcode add} does for each of its messages, with one clock reading.
   *
   * @param batch the messages
   * @param deliveries what became of each
   */
  addBatch(batch: readonly Outgoing[], deliveries: readonly Delivery[]): void {
    const at = Date.now();
    let run = 0;
    for (let i = 0; i < batch.length; i++) {
      const d = deliveries[i]!;
      this.deliveries += d.receivers;
      if (d.entryId !== undefined) this.appended++;
      else if (d.receivers === 0) this.unheard++;
      run++;
      const channel = batch[i]!.channel;
      if (i + 1 === batch.length || batch[i + 1]!.channel !== channel) {
        this.#flow.recordMany(channel, run, at);
        run = 0;
      }
    }
  }

  /**
   * Prints the summary: what the outages cost on stderr, then the counts.
   *
   * @param out where the summary goes
   * @param status where its warnings go
   * @param json one `summary` event instead of a line
   */
  print(out: Printer, status: Reporter, json: boolean): void {
    const ms = performance.now() - this.#startedAt;
    const rate = flowRate(this.sent, this.#flow.flowingMs);
    const { resent, nodeLocalCount } = this.route;
    if (resent && this.series) resent.warnings(this.series).forEach((w) => status.warn(w));
    else if (this.series && (this.series.skipped > 0 || this.series.delayed > 0)) {
      status.warn(
        `While the server was away: ${formatNumber(this.series.skipped)} message(s) skipped (sent as it went away, ` +
          `unconfirmed, not sent again so none arrives twice), ${formatNumber(this.series.delayed)} delayed ` +
          "(sent once it was back).",
      );
    }
    if (json) {
      out.event("summary", {
        published: this.sent,
        deliveries: this.deliveries,
        unheard: this.unheard,
        ...(this.route.appends ? { appended: this.appended } : {}),
        seconds: toSeconds(ms),
        flowing_seconds: toSeconds(this.#flow.flowingMs),
        ...(rate !== undefined ? { rate_per_second: rate } : {}),
        ...(this.series ? { skipped: this.series.skipped, delayed: this.series.delayed } : {}),
        ...(resent ? resent.fields() : {}),
      });
      return;
    }
    if (this.sent === 1) return;
    const pace = rate !== undefined ? ` (${formatNumber(rate)}/s)` : "";
    const seconds = (ms / 1000).toFixed(2);
    if (this.appended > 0) {
      out.line(`Appended ${formatNumber(this.appended)} message(s) in ${seconds} s${pace}.`);
      return;
    }
    out.line(
      `Published ${formatNumber(this.sent)} message(s) in ${seconds} s${pace}; ` +
        `${formatNumber(this.deliveries)} deliveries` + (nodeLocalCount ? " on the nodes that took them." : "."),
    );
    if (this.unheard > 0 && this.sent > 1 && !nodeLocalCount) {
      status.warn(
        `${formatNumber(this.unheard)} message(s) reached no subscriber` +
          (this.route.keeps ? " live (kept in the history for subscriber.ts --recover)." : " and are gone."),
      );
    }
  }
}
