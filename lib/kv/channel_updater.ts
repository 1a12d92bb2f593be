/**
 * `kv_updater.ts` on a channel (its default mode): each update published on
 * the channel is checked and stored under its type, in pipelined batches,
 * on a server or a cluster alike; after each batch what it stored is
 * announced on the channel's {@linkcode storedChannel}, so that an API
 * server learns at once that it is there.
 *
 * @module
 */
import type { CliError } from "../core/exit_codes.ts";
import { ExitCode } from "../core/exit_codes.ts";
import { type Io, Printer } from "../core/output.ts";
import type { Shutdown } from "../core/shutdown.ts";
import type { Link } from "../endpoint/link.ts";
import type { Subscriber } from "../endpoint/subscriber.ts";
import { NO_OUTAGES, type OutageFields } from "../pubsub/subscriptions.ts";
import { parseUpdate } from "./message.ts";
import { Announcer, storedChannel } from "./stored_channel.ts";
import type { KvUpdaterOptions } from "./updater_options.ts";
import { KvWriter, sinkFor } from "./writer.ts";

/** What `kv_updater.ts` on a channel is told by its command line. */
export interface KvChannelOptions extends KvUpdaterOptions {
  /** The update channel. */
  channel: string;
  /** Read each write back and count mismatches. */
  validate: boolean;
}

const SUBSCRIPTION_LOSS = "Updates published until it is back are lost: pub/sub keeps nothing for absent subscribers.";

/**
 * The outage fields every subscriber's summary has, whatever else a cluster's adds.
 *
 * @param subscriber the subscriber, if it was opened
 * @returns `outages`, `disconnected_seconds`, `fell_behind`, `server_restarts`
 */
export function subscriberOutages(subscriber: Subscriber | undefined): OutageFields {
  if (!subscriber) return NO_OUTAGES;
  const { outages, disconnected_seconds, fell_behind, server_restarts } = subscriber.outageJson();
  return { outages, disconnected_seconds, fell_behind, server_restarts };
}

/**
 * Runs the channel mode of the KV updater until the shutdown is requested (or the subscriptions fail).
 *
 * @param o the parsed options
 * @param io output streams
 * @param shutdown the stop request
 * @returns 0, or 1 when updates could not be stored before exit
 * @throws {CliError} when the server cannot be used, or refuses the subscription after a reconnect
 */
export async function runKvChannel(o: KvChannelOptions, io: Io, shutdown: Shutdown): Promise<number> {
  const { log, stats, validate } = o;
  let writer: KvWriter | undefined;
  const keptNote = () => {
    const n = writer?.pending ?? 0;
    return n === 0
      ? "No update was waiting to be written."
      : `${n} update(s) received and not yet stored are kept and will be written when it is back.`;
  };
  // On a cluster the link writes one pipeline per master; the subscriber is on one node (PUBLISH reaches every node).
  const writes = await o.endpoint.link({
    reporter: log.reporter("writes: ", keptNote),
    offlineQueue: true,
    signal: shutdown.signal,
  });
  let subscriber: Subscriber | undefined;
  let abandoned = 0;
  let fatal: CliError | undefined;
  try {
    subscriber = await o.endpoint.subscriber({
      signal: shutdown.signal,
      reporter: log.reporter("subscription: "),
      lossNote: SUBSCRIPTION_LOSS,
      pending: () => writer?.pending ?? 0,
      remedies: ["--log-level info (not debug)", "no --validate"],
      gapsOnly: true,
    });
    const w = writer = new KvWriter({
      sink: sinkFor(writes),
      prefix: o.prefix,
      validate,
      expireAtValid: o.expireAtValid,
      log,
      onStored: announcer(writes, storedChannel(o.channel)),
    });
    if (o.ops) stats.report(o.ops.metrics, o.channel, () => w.stats);
    const stopFollowing = w.followFailovers(writes);
    const stopListening = subscriber.listen((m) => {
      stats.received++;
      let parsed;
      try {
        parsed = parseUpdate(m.payload, o.maxBytes);
      } catch (err) {
        // A bug, not bad input: say so and go on with the next message.
        return log.error(`Could not handle a message (${(err as Error).message}): it is not stored`);
      }
      if (parsed.ok) return w.add(parsed.update);
      stats.rejectAndLog(parsed.rejection, log);
    });
    await subscriber.subscribe([{ kind: "channel", name: o.channel }]);
    log.info(
      `Listening on channel "${o.channel}" at ${subscriber.address}` +
        `${subscriber.node ? ` (subscribed on node ${subscriber.node})` : ""}; storing each update under ` +
        `"${o.prefix}<type>"${validate ? ", reading each write back" : ""}. Press Ctrl+C to stop.`,
    );
    o.ops?.readiness.started();
    const statsLine = () =>
      log.write("info", `stats: ${stats.text(w.stats, w.pending, validate)}`, stats.json(w.stats, w.pending), "stats");
    const timer = o.statsEveryMs > 0 ? setInterval(statsLine, o.statsEveryMs) : undefined;
    try {
      fatal = await Promise.race([shutdown.requested, subscriber.failed]) ?? undefined;
    } finally {
      clearInterval(timer);
    }
    // Unsubscribed before it stops listening: the updates the server sent before the confirmation are written too.
    await subscriber.unsubscribe();
    stopListening();
    stopFollowing();
    log.info(
      w.pending > 0
        ? `Stopping: no more messages taken; writing the ${w.pending} pending update(s)…`
        : "Stopping: no more messages taken; nothing left to write.",
    );
    abandoned = await w.drain(shutdown.remaining(o.drainMs));
    if (abandoned > 0) {
      log.error(
        `${abandoned} update(s) could not be stored within --drain-timeout ${o.drainMs / 1000} s ` +
          `(${writes.address} unreachable): they are lost.`,
      );
    }
  } finally {
    await writer?.close();
    await Promise.all([subscriber?.close(), writes.close()]);
  }
  printSummary(o, io, writer!, writes, subscriber);
  if (fatal) throw fatal;
  return abandoned > 0 ? ExitCode.Failure : ExitCode.Ok;
}

/**
 * Announces what each batch stored on `channel`, without waiting for the reply: an API server following it sends the
 * values at once instead of reading the keys until they are stored. When nobody listens (PUBLISH counted no receiver,
 * on a server whose count covers every subscriber), nothing is announced for a second: building and sending each
 * batch's values again costs the updater's CPU under load.
 */
function announcer(writes: Link, channel: string): (stored: [string, string][]) => void {
  const announcer = new Announcer();
  let quietUntil = 0;
  return (stored) => {
    if (Date.now() < quietUntil) return;
    writes.redis.publish(channel, announcer.payload(stored)).then((receivers) => {
      if (receivers === 0 && writes.publishCountsAll) quietUntil = Date.now() + QUIET_MS;
    }, () => {});
  };
}

/** How long nothing is announced after an announcement nobody received, in ms. */
const QUIET_MS = 1000;

/** The summary at exit: counters, then what outages cost (on a cluster, the updates written again after a failover). */
function printSummary(
  o: KvChannelOptions,
  io: Io,
  w: KvWriter,
  writes: Link,
  subscriber: Subscriber | undefined,
): void {
  const out = new Printer(io.stdout);
  if (o.json) {
    out.event("summary", { ...o.stats.json(w.stats, 0), ...subscriberOutages(subscriber) });
    return;
  }
  out.line(`Stopped. ${o.stats.text(w.stats, 0, o.validate)}`);
  const lost = subscriber?.outageSummary("updates published then were not received.");
  if (lost) out.line(lost);
  // One server's connection outages are the subscription's, said above; a cluster's failovers are the writes' own.
  const moved = writes.sides({
    server: () => undefined,
    cluster: () =>
      writes.outageSummary(`${w.rewritten} update(s) acknowledged and not yet on a replica written again.`),
  });
  if (moved) out.line(moved);
}
