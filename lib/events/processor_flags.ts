/**
 * The flags the event processor and the demo share beyond `--durable`'s:
 * `--sharded` (pub/sub topics as sharded channels) and the processor's
 * `--publish-stats` / `--stats-channel`.
 *
 * @module
 */
import type { Flags, OptionSpec } from "../core/cli.ts";
import { CliError, ExitCode, UsageError } from "../core/exit_codes.ts";
import { shardedUnsupported } from "../pubsub/sharded.ts";
import { DEFAULT_PUBLISH_STATS_MS, DEFAULT_STATS_CHANNEL, type ProcessorStatsOptions } from "./processor_stats.ts";

/** `--sharded`: the topics as sharded channels. */
export const TOPIC_OPTIONS: Record<string, OptionSpec> = {
  sharded: {
    type: "boolean",
    help: "topics are sharded channels: SSUBSCRIBE and SPUBLISH (Redis ≥ 7, Valkey; on a cluster each topic " +
      "lives on the node of its slot)",
  },
};

/**
 * Why a flag of recoverable channels (`--history`, `--recover`) is refused with `--durable`.
 *
 * @param flag the flag refused
 * @returns the usage error's line
 * @example
 * ```ts
 * import { STREAMS_KEEP } from "./processor_flags.ts";
 * import assert from "node:assert/strict";
 * assert.ok(STREAMS_KEEP("--recover").startsWith("--recover is for pub/sub"));
 * ```
 */
export const STREAMS_KEEP = (flag: string): string =>
  `${flag} is for pub/sub topics; --durable's streams already keep every event until it is acknowledged: drop ${flag}`;

/**
 * Refuses `--sharded` with `--durable`, whose topics are streams.
 *
 * @param flags the parsed command line
 * @throws {UsageError} when both are given
 */
export function refuseTopicFlags(flags: Flags): void {
  if (flags.boolean("sharded")) {
    throw new UsageError("--sharded is for pub/sub topics; --durable reads streams (each stream lives on its slot)");
  }
}

/**
 * What a refused subscription means with `--sharded`: a subscriber stops with a usage error (exit code 2) only when the
 * server has no sharded pub/sub; the line then names this script's flag (`--sharded`, for SSUBSCRIBE and SPUBLISH).
 *
 * @param err what subscribing failed with
 * @param address the server's address, password hidden
 * @returns the error to stop with
 * @example
 * ```ts
 * import { CliError } from "../core/exit_codes.ts";
 * import { shardedRefusal } from "./processor_flags.ts";
 * import assert from "node:assert/strict";
 * const err = shardedRefusal(new CliError(2, "no sharded pub/sub"), "redis://localhost:6379") as CliError;
 * assert.equal(err.exitCode, 2);
 * assert.ok(err.message.includes("drop --sharded"));
 * ```
 */
export function shardedRefusal(err: unknown, address: string): unknown {
  return err instanceof CliError && err.exitCode === ExitCode.Usage ? shardedUnsupported(address, "SPUBLISH") : err;
}

/**
 * `--publish-stats` and `--stats-channel`: undefined when turned off.
 *
 * @param everyMs `--publish-stats` in ms (undefined: the default)
 * @param channel `--stats-channel`
 * @returns the publisher's channel and interval
 * @throws {UsageError} for an empty channel, one given with statistics turned off, or an interval under 100 ms
 * @example
 * ```ts
 * import { parsePublishStats } from "./processor_flags.ts";
 * import assert from "node:assert/strict";
 * assert.equal(parsePublishStats(0, undefined), undefined);
 * assert.equal(parsePublishStats(undefined, "stats")?.channel, "stats");
 * ```
 */
export function parsePublishStats(
  everyMs: number | undefined,
  channel: string | undefined,
): Pick<ProcessorStatsOptions, "channel" | "everyMs"> | undefined {
  if (channel !== undefined && channel.trim() === "") throw new UsageError("--stats-channel must not be empty");
  if (everyMs === 0) {
    if (channel !== undefined) throw new UsageError("--stats-channel goes with statistics on: drop --publish-stats 0");
    return undefined;
  }
  if (everyMs !== undefined && everyMs < 100) throw new UsageError("--publish-stats must be 0 or at least 100ms");
  return { everyMs: everyMs ?? DEFAULT_PUBLISH_STATS_MS, channel: channel ?? DEFAULT_STATS_CHANNEL };
}
