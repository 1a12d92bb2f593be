#!/usr/bin/env -S deno run -A
/**
 * An end-to-end pub/sub benchmark: N publisher connections send stamped
 * messages (publisher id, sequence number, send time in µs) to M subscriber
 * connections, each publisher and subscriber in a worker thread of its own
 * (lib/bench); it reports the publish and delivery rates, one-way latency
 * percentiles (one clock, checked across the workers), lost, duplicated and
 * reordered messages, subscribers the server dropped for falling behind, the
 * largest output buffer it held for one, and the CPU the benchmark and the
 * server used.
 *
 *   deno run -A scripts/bench.ts --url redis://127.0.0.1:6380 --pub 2 --sub 2 --msgs 200000
 *   deno run -A scripts/bench.ts --rate 1000 --duration 10s --json | jq .latency_ms
 *   deno run -A scripts/bench.ts --cluster --url redis://127.0.0.1:7000 --mode sharded --channels 3
 *
 * Exit codes: 0 done (also after Ctrl+C, with what was measured), 1 failed (the server lacks the mode, a
 * publish failed or a worker died: the figures are still printed),
 * 2 bad usage (a non-loopback server, or a cluster with a non-loopback node, without --allow-remote), 3 cannot connect.
 *
 * @module
 */
import { COMMON_OPTIONS, runScript, type ScriptSpec } from "../lib/core/cli.ts";
import { CLUSTER_OPTIONS } from "../lib/cluster/target.ts";
import { defaultIo, type Io } from "../lib/core/output.ts";
import { onShutdown } from "../lib/core/shutdown.ts";
import { benchCommand, MIN_PAYLOAD_BYTES, runBenchCommand } from "../lib/bench/mod.ts";

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

/**
 * Runs the benchmark.
 *
 * @param args command-line arguments
 * @param io output streams
 * @returns 0 when it ran (also after Ctrl+C), 1 when the server lacks the mode, a publish failed or a worker died,
 *   2 on bad usage, 3 cannot connect
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
    const command = benchCommand(flags);
    using shutdown = onShutdown(io.signal);
    return await runBenchCommand(command, io, shutdown.signal);
  });
}

if (import.meta.main) Deno.exit(await main(Deno.args));
