/**
 * One run of publisher.ts: the lab's demo, one message, the lines of stdin
 * or a templated series, sent through a {@linkcode PublishRoute}, each
 * printed and counted, with a warning the first time one reached nobody.
 *
 * @module
 */
import { ExitCode } from "../core/exit_codes.ts";
import type { Printer, Reporter } from "../core/output.ts";
import { formatNumber } from "../core/stats.ts";
import { delay } from "../core/timing.ts";
import type { Link } from "../endpoint/link.ts";
import { demoMessages } from "../pubsub/demo_messages.ts";
import { compileTemplate } from "../pubsub/message_template.ts";
import { OutageWait } from "./outage_wait.ts";
import { type Delivery, type Outgoing, type Published, publishSeries } from "../pubsub/publish.ts";
import type { PublishRoute } from "./publish_route.ts";
import { PublishTally } from "./publish_tally.ts";
import { printPublished, warnUnheard } from "../pubsub/published_output.ts";
import { readLines } from "../pubsub/stdin_lines.ts";

/** What publisher.ts publishes. */
export type PublishMode =
  | { kind: "demo"; intervalMs?: number }
  | { kind: "one"; message: Outgoing }
  | { kind: "stdin"; channel: string }
  | {
    kind: "repeat";
    channel: string;
    template: string;
    count: number;
    rate?: number;
    intervalMs?: number;
    /** `--retry`: how long to wait for the server when it goes away. */
    retryMs?: number;
  };

/** Where a {@linkcode PublishRun} prints, what stops it, where stdin comes from. */
export interface PublishRunOptions {
  /** Where each message and the summary go. */
  out: Printer;
  /** Where warnings go. */
  status: Reporter;
  /** NDJSON instead of lines. */
  json: boolean;
  /** Only the summary, not each message. */
  quiet: boolean;
  /** Ctrl+C. */
  signal: AbortSignal;
  /** The lines to publish with `stdin` (default: the process's standard input). */
  stdin?: ReadableStream<Uint8Array>;
}

/**
 * Publishes what a {@linkcode PublishMode} says, printing and counting.
 *
 * @example
 * ```ts ignore
 * const run = new PublishRun(link, publishRoute(link, { sharded: false, series: false }), options);
 * await run.play({ kind: "one", message: { channel: "news", payload: "hi" } });
 * run.summarize();
 * ```
 */
export class PublishRun {
  /** What was published so far. */
  readonly tally: PublishTally;
  #outage: OutageWait | undefined;
  #retryMs: number | undefined;
  #warned = false;

  /**
   * @param link the link published over
   * @param route how messages go out on it
   * @param options where to print, Ctrl+C, stdin
   */
  constructor(private readonly link: Link, private readonly route: PublishRoute, readonly options: PublishRunOptions) {
    this.tally = new PublishTally(route);
  }

  /**
   * Publishes everything `mode` says (until Ctrl+C).
   *
   * @param mode what to publish
   * @throws what a send failed with (see {@linkcode stopped})
   */
  async play(mode: PublishMode): Promise<void> {
    const { signal } = this.options;
    const send = this.route.send;
    const client = this.link.redis;
    const series = mode.kind !== "one" && mode.kind !== "demo";
    const report = (p: Published) => this.#report(p, series);
    if (mode.kind === "demo") {
      const messages = demoMessages();
      for (const [i, message] of messages.entries()) {
        if (signal.aborted) break;
        const [delivery] = await send(client, [message]);
        report({ ...message, n: i + 1, ...delivery! });
        if (i < messages.length - 1) await delay(mode.intervalMs ?? 500 + Math.random() * 1000, signal);
      }
    } else if (mode.kind === "one") {
      const [delivery] = await send(client, [mode.message]);
      report({ ...mode.message, n: 1, ...delivery! });
    } else if (mode.kind === "stdin") {
      let n = 0;
      for await (const lines of readLines(this.options.stdin ?? Deno.stdin.readable, signal)) {
        const batch = lines.map((payload) => ({ channel: mode.channel, payload }));
        const deliveries = await send(client, batch);
        batch.forEach((m, i) => report({ ...m, n: ++n, ...deliveries[i]! }));
      }
    } else {
      await this.#repeat(mode, report);
    }
  }

  async #repeat(mode: PublishMode & { kind: "repeat" }, report: (p: Published) => void): Promise<void> {
    const template = compileTemplate(mode.template);
    this.#retryMs = mode.retryMs;
    const outage = mode.retryMs === undefined
      ? undefined
      : new OutageWait(this.link, this.options.signal, mode.retryMs);
    this.#outage = outage;
    const reportBatch = (_first: number, batch: readonly Outgoing[], deliveries: readonly Delivery[]) => {
      this.tally.addBatch(batch, deliveries);
      outage?.published();
      if (!this.route.nodeLocalCount && !this.route.keeps && this.tally.unheard > 0 && !this.#warned) {
        this.#warned = true;
        warnUnheard(this.options.status, mode.channel, true);
      }
    };
    const series = await publishSeries(
      this.link.redis,
      mode.count,
      (n, at) => ({ channel: mode.channel, payload: template(n, at) }),
      // precise: this process only publishes (its replies wait out a sleep of at most 2.5 ms).
      { rate: mode.rate, intervalMs: mode.intervalMs, precise: true },
      report,
      this.options.signal,
      // --quiet prints nothing per message: the tally takes whole batches.
      {
        send: this.route.send,
        ...(outage ? { onFailure: (err: Error) => outage.wait(err) } : {}),
        resend: this.route.resend,
        ...(this.options.quiet ? { onBatch: reportBatch } : {}),
      },
    );
    if (outage) this.tally.series = series;
  }

  #report(p: Published, series: boolean): void {
    this.tally.add(p);
    this.#outage?.published();
    const { out, json, quiet, status } = this.options;
    const nodeLocalCount = this.route.nodeLocalCount;
    if (!quiet) printPublished(out, json, p, nodeLocalCount);
    if (
      !nodeLocalCount && p.receivers === 0 && p.entryId === undefined && p.offset === undefined &&
      this.tally.unheard === 1
    ) {
      warnUnheard(status, p.channel, series);
    }
  }

  /**
   * What a failed {@linkcode play} ends with: a refusal is thrown on (worded by the route, else as it came); an outage
   * is said in one line.
   *
   * @param err what `play` threw
   * @returns the failure exit code, once the outage was said
   * @throws the refusal
   */
  stopped(err: unknown): number {
    const refusal = this.route.refusal(err);
    if (refusal) throw refusal;
    if (!this.link.isOutage(err)) throw err;
    const server = this.link.outageSubject;
    const why = this.#retryMs === undefined
      ? `${server} went away (--retry DURATION waits for it)`
      : `${server} did not come back within ${this.#retryMs / 1000} s (--retry)`;
    this.options.status.error(`Publishing stopped after ${formatNumber(this.tally.sent)} message(s): ${why}.`);
    return ExitCode.Failure;
  }

  /** Prints the summary. */
  summarize(): void {
    this.tally.print(this.options.out, this.options.status, this.options.json);
  }
}
