/**
 * The end-to-end pub/sub benchmark behind `scripts/bench.ts`: stamped messages from N publisher connections to M
 * subscriber connections, counted for loss, duplicates, order and one-way latency, with the server's output buffer
 * watched and `redis-benchmark` as the ceiling.
 *
 * @module
 */
export { runBaseline } from "./baseline.ts";
export { type BenchCommand, benchCommand, runBenchCommand } from "./command.ts";
export { isLoopback } from "./loopback.ts";
export { BENCH_MODES, type BenchMode } from "./modes.ts";
export { MIN_PAYLOAD_BYTES } from "./payload.ts";
export { type BenchSetup, type BenchSummary, csvReport, summarize, textReport } from "./report.ts";
export { type BenchOptions, type BenchResult, runBench } from "./run.ts";
