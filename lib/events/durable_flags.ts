/**
 * The flags `event_processor.ts` takes for its durable mode, and reading
 * them into {@linkcode DurableProcessorOptions}.
 *
 * @module
 */
import type { Flags, OptionSpec } from "../core/cli.ts";
import { UsageError } from "../core/exit_codes.ts";
import { DEFAULT_CLAIM_AFTER_MS, DEFAULT_MAX_DELIVERIES, DEFAULT_STREAM_CONCURRENCY } from "./stream_consumer.ts";
import { DEFAULT_GROUP, defaultConsumerName, type DurableProcessorOptions } from "./durable_processor.ts";
import type { ProcessorRunOptions } from "./processor_output.ts";
import { parseStartPosition } from "../streams/entry.ts";
import { TopicSchemas } from "../streams/schema.ts";

/** The default `--results-maxlen`: about how many results `processing_results` keeps. */
export const DEFAULT_RESULTS_MAXLEN = 100_000;

/** `--durable` and the flags that go with it. */
export const DURABLE_OPTIONS: Record<string, OptionSpec> = {
  durable: {
    type: "boolean",
    help: "consume the topics as streams in a consumer group, at least once (lab 6); results go to a stream",
  },
  group: { type: "string", arg: "NAME", help: `with --durable: the consumer group (default ${DEFAULT_GROUP})` },
  consumer: {
    type: "string",
    arg: "NAME",
    help: "with --durable: this consumer's name (default host-pid); restart under the same name to finish its pending",
  },
  "claim-after": {
    type: "string",
    arg: "DURATION",
    help: `with --durable: take over (or retry) entries unacknowledged this long (default ${
      DEFAULT_CLAIM_AFTER_MS / 1000
    }s)`,
  },
  "max-deliveries": {
    type: "string",
    arg: "N",
    help:
      `with --durable: after N failed deliveries an event goes to <stream>:dead (default ${DEFAULT_MAX_DELIVERIES})`,
  },
  from: {
    type: "string",
    arg: "WHERE",
    help: "with --durable: where a new group starts: start (default), new, an entry id, an ISO time, or an age (10m)",
  },
  schema: {
    type: "string",
    multiple: true,
    arg: "TOPIC=FILE",
    help: "with --durable: check the topic's events against this JSON Schema; failures go to <stream>:dead",
  },
  "results-maxlen": {
    type: "string",
    arg: "N",
    help: `with --durable: keep about N entries in processing_results (default ${
      DEFAULT_RESULTS_MAXLEN.toLocaleString("en-US")
    }; 0 keeps all)`,
  },
  "fail-key": {
    type: "string",
    arg: "KEY",
    help: "with --durable: the handler throws for key submissions with this key_value (lab 6's poison event)",
  },
};

const DURABLE_ONLY = Object.keys(DURABLE_OPTIONS).filter((name) => name !== "durable");

/**
 * Reads the durable flags.
 *
 * @param flags the parsed command line
 * @param base what the processor's other flags gave
 * @returns the durable processor's options
 * @throws {UsageError} on a malformed value or unreadable schema file
 */
export async function parseDurableFlags(
  flags: Flags,
  base: Omit<ProcessorRunOptions, "concurrency"> & Pick<DurableProcessorOptions, "endpoint">,
): Promise<DurableProcessorOptions> {
  const name = (flag: string, fallback: string) => {
    const value = flags.string(flag) ?? fallback;
    if (value.trim() === "" || /\s/.test(value)) {
      throw new UsageError(`--${flag} must be a name without spaces, got "${value}"`);
    }
    return value;
  };
  const claimAfterMs = flags.duration("claim-after") ?? DEFAULT_CLAIM_AFTER_MS;
  if (claimAfterMs < 1) throw new UsageError("--claim-after must be at least 1ms");
  const from = flags.string("from");
  // A group created by the first run also takes what was appended before it: nothing waits in vain.
  const schemaPairs = flags.list("schema");
  const failKey = flags.string("fail-key");
  return {
    ...base,
    concurrency: flags.int("concurrency", { min: 1, max: 100_000 }) ?? DEFAULT_STREAM_CONCURRENCY,
    group: name("group", DEFAULT_GROUP),
    consumer: name("consumer", defaultConsumerName()),
    claimAfterMs: Math.round(claimAfterMs),
    maxDeliveries: flags.int("max-deliveries", { min: 1, max: 1_000_000 }) ?? DEFAULT_MAX_DELIVERIES,
    resultsMaxLen: flags.int("results-maxlen", { min: 0 }) ?? DEFAULT_RESULTS_MAXLEN,
    from: parseStartPosition(from ?? "start"),
    ...(schemaPairs.length > 0 ? { schemas: await TopicSchemas.fromFiles(schemaPairs) } : {}),
    ...(failKey !== undefined ? { failKey } : {}),
  };
}

/**
 * Refuses the durable-only flags when `--durable` is not given.
 *
 * @param flags the parsed command line
 * @throws {UsageError} naming the first such flag
 */
export function refuseDurableFlags(flags: Flags): void {
  const given = DURABLE_ONLY.find((name) => flags.list(name).length > 0);
  if (given) throw new UsageError(`--${given} goes with --durable`);
}
