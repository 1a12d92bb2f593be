/**
 * `event_processor.ts` on pub/sub: `key_submission` and `profile_events`
 * received on an Endpoint's subscriber (plain or sharded channels, one
 * server or a cluster), each result published on `processing_results`,
 * statistics printed and published, and a graceful stop.
 *
 * @module
 */
import type { Endpoint } from "../endpoint/endpoint.ts";
import type { Link } from "../endpoint/link.ts";
import type { CliError } from "../core/exit_codes.ts";
import { ExitCode } from "../core/exit_codes.ts";
import { type Io, Printer, Reporter } from "../core/output.ts";
import type { Shutdown } from "../core/shutdown.ts";
import { formatNumber } from "../core/stats.ts";
import { EventPublisher } from "./publisher.ts";
import { processorHandlers } from "./processing.ts";
import { ProcessorStatsPublisher } from "./processor_stats.ts";
import { shardedRefusal } from "./processor_flags.ts";
import { printProcessed, printStats, printSummary, type ProcessorRunOptions } from "./processor_output.ts";
import { EventSubscriber } from "./subscriber.ts";
import { recoverAround } from "../recover/recovering_subscriber.ts";

/** What the pub/sub processor is told by its command line. */
export interface PubSubProcessorOptions extends ProcessorRunOptions {
  /** The server or cluster. */
  endpoint: Endpoint;
  /** `--sharded`: the topics are sharded channels (SSUBSCRIBE, SPUBLISH). */
  sharded: boolean;
  /**
   * `--recover [--recover-state FILE]`: events missed during an outage are read back from the topics' histories
   * (published with EventPublisher's `history`) and handled in order, once, before the live ones.
   */
  recover?: { statePath: string | undefined };
}

/**
 * Runs the pub/sub processor until the shutdown is requested or the server refuses every subscription.
 *
 * @param o the parsed options
 * @param io output streams
 * @param shutdown the stop request
 * @returns the exit code
 * @throws {CliError} when the server cannot be used, or refuses every subscription after a reconnect
 */
export async function runPubSubProcessor(o: PubSubProcessorOptions, io: Io, shutdown: Shutdown): Promise<number> {
  const out = new Printer(io.stdout);
  const status = new Reporter(io.stderr);
  let subscriber: EventSubscriber | undefined;
  const subConn = await o.endpoint.subscriber({
    signal: shutdown.signal,
    reporter: status,
    lossNote: o.recover
      ? "Events published until it is back are read from the history then (--recover)."
      : "Events published until it is back are lost: pub/sub keeps nothing for absent subscribers.",
    pending: () => subscriber?.queued ?? 0,
    remedies: [...(o.quiet ? [] : ["--quiet (printing each event is slow)"]), "a higher --concurrency"],
  });
  const startedAt = Date.now();
  const recovering = o.recover
    ? await recoverAround(o.endpoint, subConn, {
      reporter: status,
      signal: shutdown.signal,
      events: o.json ? out : undefined,
      ...o.recover,
    })
    : undefined;
  let pubConn: Link | undefined;
  let published: ProcessorStatsPublisher | undefined;
  let fatal: CliError | undefined;
  try {
    // Results wait in the offline queue during an outage instead of failing the handler; those of one burst of
    // events go out in one write (a write per result took most of the processor's time: tests/bench/event_processor.ts).
    pubConn = await o.endpoint.link({
      reporter: status,
      offlineQueue: true,
      signal: shutdown.signal,
      autoPipelining: true,
    });
    const publisher = new EventPublisher(pubConn.redis, { source: "event_processor", sharded: o.sharded });
    subscriber = new EventSubscriber(recovering ?? subConn, {
      topics: processorHandlers(publisher, o.quiet ? undefined : (p) => printProcessed(out, o.json, p)),
      concurrency: o.concurrency,
      reporter: status,
      sharded: o.sharded,
      ...(o.ops ? { metrics: o.ops.metrics } : {}),
    });
    await subscriber.start((c) => {
      if (o.json) out.event("subscribe", { channel: c.name, active: c.active });
      else out.line(`${out.green("✓")} subscribed to ${out.bold(c.name)} (${c.active} active)`);
    }).catch((err) => {
      throw o.sharded ? shardedRefusal(err, subConn.address) : err;
    });
    const running = subscriber;
    if (o.publishStats) {
      const load = () => ({ topics: running.stats(), inFlight: running.inFlight, queued: running.queued });
      const options = { ...o.publishStats, mode: "pubsub" as const, startedAt, reporter: status };
      published = new ProcessorStatsPublisher(pubConn, load, options);
    }
    status.info(
      `Processing events on ${subConn.address}, up to ${formatNumber(o.concurrency)} at a time; ` +
        `results go to processing_results${published ? `; ${published.description}` : ""}. Press Ctrl+C to stop.`,
    );
    published?.start();
    o.ops?.readiness.started();
    const every = o.statsEveryMs;
    const timer = every > 0 ? setInterval(() => printStats(out, o.json, running), every) : undefined;
    try {
      fatal = await Promise.race([shutdown.requested, subConn.failed]) ?? undefined;
    } finally {
      clearInterval(timer);
    }
    status.info(`Stopping: waiting up to ${o.shutdownMs / 1000} s for events already received…`);
    const { drained, abandoned } = await subscriber.shutdown(shutdown.remaining(o.shutdownMs));
    if (!drained) status.warn(`${formatNumber(abandoned)} event(s) were still being handled and were abandoned.`);
    printSummary(out, o.json, subscriber.stats(), Date.now() - startedAt, subConn, { drained, abandoned }, recovering);
  } finally {
    await published?.stop(shutdown.remaining(o.shutdownMs)); // the last statistics, with the final counts
    await recovering?.close(); // its link, and with --recover-state where each topic was left
    await Promise.all([pubConn?.close(), subConn.close()]);
  }
  if (fatal) throw fatal;
  return ExitCode.Ok;
}
