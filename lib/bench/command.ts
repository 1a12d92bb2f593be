/**
 * `bench.ts` as a command: its flags read into a {@linkcode BenchCommand}
 * (bad usage refused before anything connects), and the command run — the
 * benchmark, the `--baseline` after it, and the report in the format asked
 * for. Whether the target is one server or a cluster is the Endpoint's
 * question (lib/endpoint): the wiring, the loopback check and the baseline
 * are chosen through it.
 *
 * @module
 */
import { resolveTarget } from "../cluster/target.ts";
import type { Flags } from "../core/cli.ts";
import { ExitCode, UsageError } from "../core/exit_codes.ts";
import { type Io, Printer, Reporter } from "../core/output.ts";
import { formatNumber } from "../core/stats.ts";
import { type Endpoint, endpointFor } from "../endpoint/endpoint.ts";
import { runBaseline } from "./baseline.ts";
import { BENCH_MODES, type BenchMode } from "./modes.ts";
import { MIN_PAYLOAD_BYTES } from "./payload.ts";
import { type BenchSetup, csvReport, summarize, textReport } from "./report.ts";
import { runBench } from "./run.ts";

/** Hard limit on publishing time, whatever --msgs says. */
const DEFAULT_LIMIT_MS = 5 * 60_000;

/** A `bench.ts` run, as its flags ask for it. */
export interface BenchCommand {
  /** The server or cluster. */
  endpoint: Endpoint;
  /** Allow servers (nodes) that are not on loopback. */
  allowRemote: boolean;
  /** What to run. */
  setup: BenchSetup;
  /** Messages in all. */
  messages: number;
  /** The longest publishing may go on, ms. */
  durationMs: number;
  /** The first subscriber stalls this long, ms. */
  stallMs?: number;
  /** Also run redis-benchmark. */
  baseline: boolean;
  /** How the figures are printed. */
  format: "text" | "json" | "csv";
}

/**
 * Reads `bench.ts`'s flags.
 *
 * @param flags the parsed flags
 * @returns the command
 * @throws {UsageError} for a bad flag (nothing is connected yet)
 */
export function benchCommand(flags: Flags): BenchCommand {
  const endpoint = endpointFor(resolveTarget(flags.list("url"), flags.boolean("cluster")));
  const mode = flags.string("mode") ?? "pubsub";
  if (!(BENCH_MODES as readonly string[]).includes(mode)) {
    throw new UsageError(`--mode must be one of ${BENCH_MODES.join(", ")}, got "${mode}"`);
  }
  if (flags.boolean("json") && flags.boolean("csv")) throw new UsageError("--json and --csv do not go together");
  const durationFlag = flags.duration("duration");
  if (durationFlag !== undefined && durationFlag <= 0) throw new UsageError("--duration must be more than 0");
  const msgsFlag = flags.int("msgs", { min: 1, max: 1_000_000_000 });
  const stallMs = flags.duration("stall-sub");
  return {
    endpoint,
    allowRemote: flags.boolean("allow-remote"),
    setup: {
      mode: mode as BenchMode,
      publishers: flags.int("pub", { min: 1, max: 1000 }) ?? 1,
      subscribers: flags.int("sub", { min: 1, max: 1000 }) ?? 1,
      size: flags.int("size", { min: MIN_PAYLOAD_BYTES, max: 64 * 1024 * 1024 }) ?? 64,
      channels: flags.int("channels", { min: 1, max: 100_000 }) ?? 1,
      rate: flags.number("rate", { min: 0, max: 10_000_000 }) ?? 0,
    },
    messages: msgsFlag ?? (durationFlag !== undefined ? 1_000_000_000 : 100_000),
    durationMs: durationFlag ?? DEFAULT_LIMIT_MS,
    ...(stallMs ? { stallMs } : {}),
    baseline: flags.boolean("baseline"),
    format: flags.boolean("json") ? "json" : flags.boolean("csv") ? "csv" : "text",
  };
}

/**
 * Runs a `bench.ts` command: the benchmark, then the baseline if asked, then the report.
 *
 * @param cmd the command
 * @param io where the report and the progress go
 * @param signal Ctrl+C: publishing stops and what was measured is reported
 * @returns 0, or 1 when a publish failed or a worker died (the figures are printed all the same)
 * @throws {UsageError} for a server not on loopback, or --baseline on a cluster
 * @throws {CliError} when the server lacks the mode or cannot be reached
 */
export async function runBenchCommand(cmd: BenchCommand, io: Io, signal: AbortSignal): Promise<number> {
  if (cmd.baseline) {
    await cmd.endpoint.checkup({
      server: () => Promise.resolve(),
      cluster: () => {
        throw new UsageError("--baseline runs redis-benchmark against one server: drop it with --cluster");
      },
    });
  }
  const err = new Printer(io.stderr);
  const reporter = new Reporter(io.stderr);
  const live = io.stderr.isTerminal();
  const result = await runBench({
    endpoint: cmd.endpoint,
    allowRemote: cmd.allowRemote,
    reporter,
    ...cmd.setup,
    messages: cmd.messages,
    durationMs: cmd.durationMs,
    ...(cmd.stallMs ? { stallMs: cmd.stallMs } : {}),
    signal,
    ...(live
      ? {
        onProgress: (published: number, delivered: number, elapsed: number) =>
          err.write(
            `\r${(elapsed / 1000).toFixed(0)} s: ${formatNumber(published)} published, ` +
              `${formatNumber(delivered)} delivered  `,
          ),
      }
      : {}),
  });
  if (live) err.write("\r\x1b[K");
  let baseline: number | undefined;
  if (cmd.baseline && !signal.aborted) {
    const total = result.published.reduce((a, b) => a + b, 0);
    const ran = await cmd.endpoint.checkup({
      server: (url) => runBaseline(url, Math.max(total, 1), cmd.setup.size, signal),
      cluster: () => Promise.resolve({ missing: "not on a cluster" }),
    });
    if ("rate" in ran) baseline = ran.rate;
    else reporter.warn(`No baseline: ${ran.missing}.`);
  }
  if (result.publishError) reporter.error(`A publish failed: ${result.publishError}`);
  for (const failure of result.workerFailures) reporter.error(`${failure}; the figures are what was measured.`);
  const summary = summarize(cmd.setup, result, baseline);
  const out = new Printer(io.stdout);
  if (cmd.format === "json") out.event("summary", { ...summary });
  else for (const line of cmd.format === "csv" ? csvReport(summary) : textReport(summary)) out.line(line);
  return result.publishError || result.workerFailures.length ? ExitCode.Failure : ExitCode.Ok;
}
