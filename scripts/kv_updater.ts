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
import { CLUSTER_OPTIONS, resolveTarget } from "../lib/cluster/target.ts";
import { UsageError } from "../lib/core/exit_codes.ts";
import { parseMaxBytes, parsePrefix } from "../lib/kv/message.ts";
import { UpdaterStats } from "../lib/kv/stats.ts";
import { Logger, parseLogLevel } from "../lib/core/log.ts";
import { defaultIo, type Io } from "../lib/core/output.ts";
import { onShutdown } from "../lib/core/shutdown.ts";
import { endpointFor } from "../lib/endpoint/endpoint.ts";
import { runKvChannel } from "../lib/kv/channel_updater.ts";
import { KV_GROUP, runKvStream } from "../lib/kv/kv_stream.ts";
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

/**
 * Runs the KV updater until Ctrl+C / SIGTERM.
 *
 * @param args command-line arguments
 * @param io output streams and an optional stop signal
 * @returns the exit code: 0, or 1 when updates could not be stored before exit
 */
export function main(args: string[], io: Io = defaultIo()): Promise<number> {
  return runScript(SPEC, args, io, async (flags) => {
    const json = flags.boolean("json");
    const common = {
      endpoint: endpointFor(resolveTarget(flags.list("url"), flags.boolean("cluster"))),
      prefix: parsePrefix(flags.string("prefix")),
      maxBytes: parseMaxBytes(flags.string("max-bytes")),
      expireAtValid: flags.boolean("expire-at-valid"),
      statsEveryMs: flags.duration("stats-interval") ?? 60_000,
      drainMs: flags.duration("drain-timeout") ?? 10_000,
      json,
      log: new Logger(io.stderr, parseLogLevel(flags.string("log-level")), json),
      stats: new UpdaterStats(),
    };
    const validate = flags.boolean("validate");
    const stream = flags.string("stream");
    if (stream !== undefined) {
      if (validate) throw new UsageError("--validate goes with the channel mode, not --stream");
      if (flags.string("channel") !== undefined) throw new UsageError("Use --channel or --stream, not both");
      const group = flags.string("group") ?? KV_GROUP;
      const consumer = flags.string("consumer") ?? defaultConsumerName();
      using shutdown = onShutdown(io.signal);
      await using ops = startOps(flags, { log: common.log, signal: shutdown.signal, starting: "connecting" });
      return await runKvStream({ ...common, stream, group, consumer, ops }, io, shutdown);
    }
    for (const flag of ["group", "consumer"]) {
      if (flags.string(flag) !== undefined) throw new UsageError(`--${flag} goes with --stream NAME`);
    }
    using shutdown = onShutdown(io.signal);
    await using ops = startOps(flags, { log: common.log, signal: shutdown.signal, starting: "connecting" });
    const channel = flags.string("channel") ?? "update";
    return await runKvChannel({ ...common, channel, validate, ops }, io, shutdown);
  });
}

if (import.meta.main) Deno.exit(await main(Deno.args));
