#!/usr/bin/env -S deno run -A
/**
 * Lab 4, step 2 of the Redis-first chain: subscribes to the update channel,
 * checks each JSON update and stores it under its `type` as a key — in
 * pipelined batches, retrying while the server is briefly away.
 *
 *   deno run -A scripts/kv_updater.ts                          # channel "update", keys = types
 *   deno run -A scripts/kv_updater.ts --prefix kv: --validate --log-level debug
 *   deno run -A scripts/kv_updater.ts --cluster --url redis://127.0.0.1:7000   # one pipeline per master
 *
 * @module
 */
import { COMMON_OPTIONS, runScript, type ScriptSpec } from "../lib/core/cli.ts";
import { Connection } from "../lib/core/client.ts";
import { ClusterConnection } from "../lib/cluster/cluster_connection.ts";
import { ClusterSubscription } from "../lib/cluster/cluster_subscription.ts";
import { CLUSTER_OPTIONS, resolveTarget } from "../lib/cluster/target.ts";
import { rewriteAfterFailover } from "../lib/kv/cluster_kv.ts";
import { type CliError, ExitCode, UsageError } from "../lib/core/exit_codes.ts";
import { parseMaxBytes, parsePrefix, parseUpdate } from "../lib/kv/message.ts";
import { UpdaterStats } from "../lib/kv/stats.ts";
import { KvWriter } from "../lib/kv/writer.ts";
import { Logger, parseLogLevel } from "../lib/core/log.ts";
import { defaultIo, type Io, Printer } from "../lib/core/output.ts";
import { onMessage } from "../lib/pubsub/subscribe.ts";
import { NO_OUTAGES, SubscriberConnection } from "../lib/pubsub/subscriptions.ts";
import { onShutdown } from "../lib/core/shutdown.ts";
import { KV_GROUP, runKvStream } from "../lib/streams/kv_stream.ts";
import { defaultConsumerName } from "../lib/events/durable_processor.ts";
import { METRICS_OPTIONS, startOps } from "../lib/ops/mod.ts";

const SPEC: ScriptSpec = {
  name: "kv_updater.ts",
  summary: "store each JSON update published on a channel under its type, as the Redis-first chain's KV updater.",
  usage: [
    "[--channel NAME] [--prefix TEXT] [--validate] [--expire-at-valid] [--log-level LEVEL] [--stats-interval D]",
    "--stream NAME [--group NAME] [--consumer NAME] [--prefix TEXT] [--expire-at-valid] [--log-level LEVEL]",
    "--cluster [--url SEED]... [any of the above]",
  ],
  options: {
    channel: { type: "string", short: "c", arg: "NAME", help: "channel to listen on (default: update)" },
    prefix: { type: "string", arg: "TEXT", help: 'put before each type to make the key (default: "", as the seed)' },
    validate: { type: "boolean", help: "read each write back and count mismatches" },
    "expire-at-valid": {
      type: "boolean",
      help: "let each key expire at its update's valid time (Redis 6.2+, KeyDB 6.3+)",
    },
    "max-bytes": { type: "string", arg: "SIZE", help: "refuse larger messages (default: 1mb; e.g. 65536, 64kb)" },
    "log-level": { type: "string", arg: "LEVEL", help: "debug (each key written), info (default), warn or error" },
    "stats-interval": {
      type: "string",
      arg: "DURATION",
      help: "log statistics this often (default: 60s; 0: only at exit)",
    },
    "drain-timeout": {
      type: "string",
      arg: "DURATION",
      help: "at shutdown, stop within this long, waiting for pending writes (default: 10s)",
    },
    stream: {
      type: "string",
      arg: "NAME",
      help: "consume updates from this stream in a consumer group instead of a channel: none lost while away",
    },
    group: { type: "string", arg: "NAME", help: `with --stream: the consumer group (default ${KV_GROUP})` },
    consumer: { type: "string", arg: "NAME", help: "with --stream: this consumer's name (default host-pid)" },
    ...COMMON_OPTIONS,
    ...CLUSTER_OPTIONS,
    ...METRICS_OPTIONS,
  },
  examples: [
    "deno run -A scripts/kv_updater.ts                                   # lab 4: channel update, keys = types",
    "deno run -A scripts/kv_updater.ts --prefix kv: --validate --log-level debug",
    "deno run -A scripts/kv_updater.ts --expire-at-valid --stats-interval 10s --json",
    `deno run -A scripts/publisher.ts update '{"type":"Moon","updated":"2025-01-01T00:00:00Z","valid":"2030-01-01T00:00:00Z","values":{"phase":0.5}}'`,
    "deno run -A scripts/kv_updater.ts --stream update                  # at least once; older updates never win",
    "deno run -A scripts/kv_updater.ts --cluster --url redis://127.0.0.1:7000   # lab 7: one pipeline per master",
  ],
};

const SUBSCRIPTION_LOSS = "Updates published until it is back are lost: pub/sub keeps nothing for absent subscribers.";

/**
 * Runs the KV updater until Ctrl+C / SIGTERM.
 *
 * @param args command-line arguments
 * @param io output streams and an optional stop signal
 * @returns the exit code: 0, or 1 when updates could not be stored before exit
 */
export function main(args: string[], io: Io = defaultIo()): Promise<number> {
  return runScript(SPEC, args, io, async (flags) => {
    const channel = flags.string("channel") ?? "update";
    const prefix = parsePrefix(flags.string("prefix"));
    const maxBytes = parseMaxBytes(flags.string("max-bytes"));
    const log = new Logger(io.stderr, parseLogLevel(flags.string("log-level")), flags.boolean("json"));
    const statsEveryMs = flags.duration("stats-interval") ?? 60_000;
    const drainMs = flags.duration("drain-timeout") ?? 10_000;
    const validate = flags.boolean("validate");
    const target = resolveTarget(flags.list("url"), flags.boolean("cluster"));
    const stream = flags.string("stream");
    if (stream !== undefined) {
      if (validate) throw new UsageError("--validate goes with the channel mode, not --stream");
      if (flags.string("channel") !== undefined) throw new UsageError("Use --channel or --stream, not both");
      const group = flags.string("group") ?? KV_GROUP;
      const consumer = flags.string("consumer") ?? defaultConsumerName();
      const stats = new UpdaterStats();
      const json = flags.boolean("json");
      const expireAtValid = flags.boolean("expire-at-valid");
      using shutdown = onShutdown(io.signal);
      await using ops = startOps(flags, { log, signal: shutdown.signal, starting: "connecting" });
      const options = { target, stream, group, consumer, prefix, maxBytes, expireAtValid, statsEveryMs, drainMs, json };
      return await runKvStream({ ...options, log, stats, ops }, io, shutdown);
    }
    for (const flag of ["group", "consumer"]) {
      if (flags.string(flag) !== undefined) throw new UsageError(`--${flag} goes with --stream NAME`);
    }

    using shutdown = onShutdown(io.signal);
    await using ops = startOps(flags, { log, signal: shutdown.signal, starting: "connecting" });
    const stats = new UpdaterStats();
    let writer: KvWriter | undefined;
    const keptNote = () => {
      const n = writer?.pending ?? 0;
      return n === 0
        ? "No update was waiting to be written."
        : `${n} update(s) received and not yet stored are kept and will be written when it is back.`;
    };
    const writesReporter = log.reporter("writes: ", keptNote);
    // On a cluster, one client writes (a pipeline per master) and subscribes (ioredis keeps one subscriber
    // connection to one node, moved to another when it is lost: PUBLISH reaches every node).
    const writes = target.cluster
      ? await ClusterConnection.open({
        urls: target.urls,
        reporter: writesReporter,
        offlineQueue: true,
        signal: shutdown.signal,
      })
      : await Connection.open({
        url: target.url,
        reporter: writesReporter,
        offlineQueue: true,
        signal: shutdown.signal,
      });
    let subscriber: SubscriberConnection | ClusterSubscription | undefined;
    let stopFollowing = () => {};
    let abandoned = 0;
    let fatal: CliError | undefined;
    try {
      subscriber = writes instanceof ClusterConnection
        ? new ClusterSubscription(writes, log.reporter("subscription: "), SUBSCRIPTION_LOSS)
        : await SubscriberConnection.open({
          url: target.cluster ? "" : target.url,
          signal: shutdown.signal,
          reporter: log.reporter("subscription: "),
          lossNote: SUBSCRIPTION_LOSS,
          pending: () => writer?.pending ?? 0,
          remedies: ["--log-level info (not debug)", "no --validate"],
        });
      writer = new KvWriter({
        ...(writes instanceof ClusterConnection ? { cluster: writes.cluster } : { redis: writes.redis }),
        prefix,
        validate,
        expireAtValid: flags.boolean("expire-at-valid"),
        log,
      });
      const w = writer;
      stats.report(ops.metrics, channel, () => w.stats);
      if (writes instanceof ClusterConnection) stopFollowing = rewriteAfterFailover(writes, w, log);
      const stopListening = onMessage(subscriber.redis, (m) => {
        stats.received++;
        let parsed;
        try {
          parsed = parseUpdate(m.payload, maxBytes);
        } catch (err) {
          // A bug, not bad input: say so and go on with the next message.
          return log.error(`Could not handle a message (${(err as Error).message}): it is not stored`);
        }
        if (parsed.ok) return w.add(parsed.update);
        stats.rejectAndLog(parsed.rejection, log);
      });
      const subscriptions = [{ kind: "channel" as const, name: channel }];
      await subscriber.subscribe(subscriptions);
      log.info(
        `Listening on channel "${channel}" at ${subscriber.address}` +
          `${
            subscriber instanceof ClusterSubscription ? ` (subscribed on node ${subscriber.node})` : ""
          }; storing each update under ` +
          `"${prefix}<type>"${validate ? ", reading each write back" : ""}. Press Ctrl+C to stop.`,
      );
      ops.readiness.started();
      const timer = statsEveryMs > 0
        ? setInterval(
          () =>
            log.write(
              "info",
              `stats: ${stats.text(w.stats, w.pending, validate)}`,
              stats.json(w.stats, w.pending),
              "stats",
            ),
          statsEveryMs,
        )
        : undefined;
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
      abandoned = await w.drain(shutdown.remaining(drainMs));
      if (abandoned > 0) {
        log.error(
          `${abandoned} update(s) could not be stored within --drain-timeout ${drainMs / 1000} s ` +
            `(${writes.address} unreachable): they are lost.`,
        );
      }
    } finally {
      await Promise.all([subscriber?.close(), writes.close()]);
    }
    const out = new Printer(io.stdout);
    const w = writer!;
    if (flags.boolean("json")) {
      out.event("summary", { ...stats.json(w.stats, 0), ...(subscriber?.outageJson() ?? NO_OUTAGES) });
    } else {
      out.line(`Stopped. ${stats.text(w.stats, 0, validate)}`);
      const lost = subscriber?.outageSummary("updates published then were not received.");
      if (lost) out.line(lost);
      const moved = writes instanceof ClusterConnection
        ? writes.outageSummary(`${w.rewritten} update(s) acknowledged and not yet on a replica written again.`)
        : undefined;
      if (moved) out.line(moved);
    }
    if (fatal) throw fatal;
    return abandoned > 0 ? ExitCode.Failure : ExitCode.Ok;
  });
}

if (import.meta.main) Deno.exit(await main(Deno.args));
