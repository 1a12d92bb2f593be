/**
 * subscriber.ts's run over an Endpoint: subscribe (recovering from the history when asked), print or count each
 * message, stop at Ctrl+C, `--count` or `--timeout`, unsubscribe before it stops listening, and print the summary.
 *
 * @module
 */
import { type CliError, ExitCode } from "../core/exit_codes.ts";
import { type Io, Printer, type Reporter } from "../core/output.ts";
import { liveProgress } from "../core/progress.ts";
import type { Shutdown } from "../core/shutdown.ts";
import type { Endpoint } from "../endpoint/endpoint.ts";
import type { Ops } from "../ops/ops.ts";
import { ListenLimits } from "../pubsub/listen_limits.ts";
import type { Subscription } from "../pubsub/subscribe.ts";
import { recoverAround } from "../recover/recovering_subscriber.ts";
import { messagePrinter, printConfirmation, printSubscriberSummary } from "./subscriber_output.ts";

/** What subscriber.ts is told by its command line. */
export interface SubscriberRunOptions {
  /** The server or cluster. */
  endpoint: Endpoint;
  /** The channels, patterns and sharded channels. */
  subscriptions: Subscription[];
  /** `--count`: stop after this many messages. */
  count: number | undefined;
  /** `--timeout`: stop when nothing arrives for this long, in ms. */
  idleMs: number | undefined;
  /** `--json`. */
  json: boolean;
  /** `--quiet`: a live count instead of each message. */
  quiet: boolean;
  /** `--recover` (and where to keep each channel's place), or undefined without it. */
  recover: { statePath: string | undefined } | undefined;
  /** Where status lines go (stderr), shared with the script's ops. */
  reporter: Reporter;
  /** Its metrics (messages per channel, read from the count it keeps) and readiness. */
  ops: Pick<Ops, "metrics" | "readiness">;
}

const LOSS_NOTE = "Messages published until it is back are lost: pub/sub keeps nothing for absent subscribers.";
const RECOVER_NOTE = "Messages published until it is back are read from the history then (--recover).";

/**
 * Runs the subscriber until Ctrl+C, `--count` or `--timeout`, then prints its summary.
 *
 * @param o the parsed options
 * @param io output streams
 * @param shutdown the stop request
 * @returns 0, or {@linkcode ExitCode.Timeout} when nothing arrived within `--timeout`
 * @throws {CliError} when the server cannot be used or every subscription is refused
 */
export async function runSubscriber(o: SubscriberRunOptions, io: Io, shutdown: Shutdown): Promise<number> {
  const { json, quiet, ops } = o;
  const out = new Printer(io.stdout);
  const status = o.reporter;
  const conn = await o.endpoint.subscriber({
    reporter: status,
    signal: shutdown.signal,
    lossNote: o.recover ? RECOVER_NOTE : LOSS_NOTE,
    remedies: quiet ? [] : ["--quiet (printing each message is the slow part)"],
  });
  if (json) conn.onMove((move) => out.event("shard_moved", { ...move }));
  const recovering = o.recover
    ? await recoverAround(o.endpoint, conn, {
      reporter: status,
      signal: shutdown.signal,
      events: json ? out : undefined,
      ...o.recover,
    })
    : undefined;
  const source = recovering ?? conn;
  const limits = new ListenLimits(o.count, o.idleMs);
  let exitCode: number = ExitCode.Ok;
  let fatal: CliError | undefined;
  try {
    const print = messagePrinter(out, json);
    // Read from the count it keeps anyway, at each scrape: nothing added per message.
    for (const counter of [ops.metrics.received, ops.metrics.handled]) {
      counter.followEach(() => limits.counter.byName);
    }
    const stopListening = source.listen((m) => {
      if (limits.take(m.channel) && !quiet) print(m);
    });
    await source.subscribe(o.subscriptions, (c) => printConfirmation(out, c, json));
    ops.readiness.started();
    status.info(`Listening on ${conn.address}. Press Ctrl+C to stop.`);
    using _progress = quiet ? liveProgress(status.printer, limits.counter) : undefined;
    fatal = await Promise.race([shutdown.requested, limits.reached(), conn.failed]) ?? undefined;
    if (!fatal && limits.silent && !shutdown.signal.aborted) {
      status.warn(`Nothing received within ${o.idleMs! / 1000} s.`);
      exitCode = ExitCode.Timeout;
    }
    // Unsubscribed first: its confirmation comes after every message the server sent before it, and those are
    // handled too (a publisher told "received by 1 subscriber" just before the stop finds its message counted).
    await conn.unsubscribe();
    stopListening();
  } finally {
    limits[Symbol.dispose](); // its idle timer
    await recovering?.close();
    await conn.close();
  }
  printSubscriberSummary(out, json, limits.counter, Date.now() - limits.startedAt, conn, recovering);
  if (fatal) throw fatal;
  return exitCode;
}
