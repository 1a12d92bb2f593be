#!/usr/bin/env -S deno run -A
/**
 * An end-to-end pub/sub benchmark: N publisher connections send stamped
 * messages (publisher id, sequence number, send time in µs) to M subscriber
 * connections, all in this one process; it reports the publish and delivery
 * rates, one-way latency percentiles (same machine, same clock), lost,
 * duplicated and reordered messages, subscribers the server dropped for
 * falling behind and the largest output buffer it held for one.
 *
 *   deno run -A scripts/bench.ts --url redis://127.0.0.1:6380 --pub 2 --sub 2 --msgs 200000
 *   deno run -A scripts/bench.ts --rate 1000 --duration 10s --json | jq .latency_ms
 *   deno run -A scripts/bench.ts --cluster --url redis://127.0.0.1:7000 --mode sharded --channels 3
 *
 * Exit codes: 0 done (also after Ctrl+C, with what was measured), 1 failed (the server lacks the mode, or a
 * publish failed: the figures are still printed),
 * 2 bad usage (a non-loopback server, or a cluster with a non-loopback node, without --allow-remote), 3 cannot connect.
 *
 * @module
 */
import { COMMON_OPTIONS, runScript, type ScriptSpec } from "../lib/core/cli.ts";
import { redactUrl } from "../lib/core/config.ts";
import { CLUSTER_OPTIONS, resolveTarget } from "../lib/cluster/target.ts";
import { ExitCode, UsageError } from "../lib/core/exit_codes.ts";
import { defaultIo, type Io, Printer, Reporter } from "../lib/core/output.ts";
import { onShutdown } from "../lib/core/shutdown.ts";
import { formatNumber } from "../lib/core/stats.ts";
import {
  BENCH_MODES,
  type BenchMode,
  csvReport,
  isLoopback,
  MIN_PAYLOAD_BYTES,
  runBaseline,
  runBench,
  summarize,
  textReport,
} from "../lib/bench/mod.ts";

const SPEC: ScriptSpec = {
  name: "bench.ts",
  summary: "an end-to-end pub/sub benchmark: rates, one-way latency, loss, duplicates, order, slow consumers.",
  usage: [
    "[--pub N] [--sub M] [--msgs K | --duration D] [--size B] [--rate R] [--channels C] [--mode MODE]",
    "--cluster --url SEED [--url SEED...] [options]",
  ],
  options: {
    pub: { type: "string", arg: "N", help: "publisher connections (default 1)" },
    sub: { type: "string", arg: "M", help: "subscriber connections (default 1)" },
    msgs: { type: "string", arg: "K", help: "messages in all, shared among the publishers (default 100000)" },
    duration: {
      type: "string",
      arg: "D",
      help: "publish for this long instead (with --msgs: whichever ends first; default limit 5m)",
    },
    size: { type: "string", arg: "B", help: `payload bytes (default 64, at least ${MIN_PAYLOAD_BYTES})` },
    rate: {
      type: "string",
      arg: "R",
      help: "messages per second per publisher, paced; 0 = as fast as possible (default)",
    },
    channels: {
      type: "string",
      arg: "C",
      help: "channels (streams), round-robin (default 1); on a cluster, channel i lands on master i mod N",
    },
    mode: { type: "string", arg: "MODE", help: "pubsub (default), pattern, sharded (Redis 7+, Valkey) or stream" },
    "stall-sub": {
      type: "string",
      arg: "D",
      help: "the first subscriber stops reading for D when publishing starts: a slow consumer on purpose",
    },
    baseline: {
      type: "boolean",
      help: "also run redis-benchmark -P 64 publish (same count) and print the ratio (one server only)",
    },
    csv: { type: "boolean", help: "print CSV (a header line and one row) instead of the table" },
    "allow-remote": {
      type: "boolean",
      help: "allow a server (or cluster nodes) not on loopback (this is a load generator)",
    },
    ...COMMON_OPTIONS,
    ...CLUSTER_OPTIONS,
  },
  examples: [
    "deno run -A scripts/bench.ts --url redis://127.0.0.1:6380                    # 100,000 messages, 1 → 1",
    "deno run -A scripts/bench.ts --pub 2 --sub 4 --msgs 400000 --size 256 --baseline",
    "deno run -A scripts/bench.ts --rate 1000 --duration 10s                      # latency at 1,000 msg/s",
    "deno run -A scripts/bench.ts --mode stream --sub 2 --json | jq .lost",
    "deno run -A scripts/bench.ts --cluster --url redis://127.0.0.1:7000 --mode sharded --channels 3 --pub 3",
  ],
};

/** Hard limit on publishing time, whatever --msgs says. */
const DEFAULT_LIMIT_MS = 5 * 60_000;

/**
 * Runs the benchmark.
 *
 * @param args command-line arguments
 * @param io output streams
 * @returns 0 when it ran (also after Ctrl+C), 1 when the server lacks the mode or a publish failed, 2 on bad usage,
 *   3 cannot connect
 * @example
 * ```ts
 * import { main } from "./bench.ts";
 * import { LocalServer } from "../lib/core/local_server.ts";
 * import { nullWriter } from "../lib/core/output.ts";
 * await using server = await LocalServer.start();
 * console.assert(await main(["--url", server.url, "--msgs", "200"], { stdout: nullWriter, stderr: nullWriter }) === 0);
 * ```
 */
export function main(args: string[], io: Io = defaultIo()): Promise<number> {
  return runScript(SPEC, args, io, async (flags) => {
    const target = resolveTarget(flags.list("url"), flags.boolean("cluster"));
    const seeds = target.cluster ? target.urls : [target.url];
    const allowRemote = flags.boolean("allow-remote");
    for (const url of allowRemote ? [] : seeds.filter((u) => !isLoopback(u))) {
      throw new UsageError(
        `${redactUrl(url)} is not on this machine: bench.ts is a load generator and runs against loopback only.\n` +
          "Give --allow-remote to load a remote server you own.",
      );
    }
    const url = seeds[0]!;
    if (target.cluster && flags.boolean("baseline")) {
      throw new UsageError("--baseline runs redis-benchmark against one server: drop it with --cluster");
    }
    const mode = flags.string("mode") ?? "pubsub";
    if (!(BENCH_MODES as readonly string[]).includes(mode)) {
      throw new UsageError(`--mode must be one of ${BENCH_MODES.join(", ")}, got "${mode}"`);
    }
    if (flags.boolean("json") && flags.boolean("csv")) throw new UsageError("--json and --csv do not go together");
    const durationFlag = flags.duration("duration");
    if (durationFlag !== undefined && durationFlag <= 0) throw new UsageError("--duration must be more than 0");
    const msgsFlag = flags.int("msgs", { min: 1, max: 1_000_000_000 });
    const setup = {
      mode: mode as BenchMode,
      publishers: flags.int("pub", { min: 1, max: 1000 }) ?? 1,
      subscribers: flags.int("sub", { min: 1, max: 1000 }) ?? 1,
      size: flags.int("size", { min: MIN_PAYLOAD_BYTES, max: 64 * 1024 * 1024 }) ?? 64,
      channels: flags.int("channels", { min: 1, max: 100_000 }) ?? 1,
      rate: flags.number("rate", { min: 0, max: 10_000_000 }) ?? 0,
    };
    const messages = msgsFlag ?? (durationFlag !== undefined ? 1_000_000_000 : 100_000);
    const stallMs = flags.duration("stall-sub");
    const out = new Printer(io.stdout);
    const err = new Printer(io.stderr);
    const reporter = new Reporter(io.stderr);
    using shutdown = onShutdown(io.signal);
    const live = io.stderr.isTerminal();
    const result = await runBench({
      url,
      ...(target.cluster ? { cluster: target.urls, allowRemote } : {}),
      reporter,
      ...setup,
      messages,
      durationMs: durationFlag ?? DEFAULT_LIMIT_MS,
      ...(stallMs ? { stallMs } : {}),
      signal: shutdown.signal,
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
    if (flags.boolean("baseline") && !shutdown.signal.aborted) {
      const total = result.published.reduce((a, b) => a + b, 0);
      const ran = await runBaseline(url, Math.max(total, 1), setup.size, shutdown.signal);
      if ("rate" in ran) baseline = ran.rate;
      else reporter.warn(`No baseline: ${ran.missing}.`);
    }
    if (result.publishError) reporter.error(`A publish failed: ${result.publishError}`);
    const summary = summarize(setup, result, baseline);
    if (flags.boolean("json")) out.event("summary", { ...summary });
    else if (flags.boolean("csv")) { for (const line of csvReport(summary)) out.line(line); }
    else for (const line of textReport(summary)) out.line(line);
    return result.publishError ? ExitCode.Failure : ExitCode.Ok;
  });
}

if (import.meta.main) Deno.exit(await main(Deno.args));
