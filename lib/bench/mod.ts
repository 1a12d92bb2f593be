/**
 * The end-to-end pub/sub benchmark behind `scripts/bench.ts`: stamped messages from N publisher connections to M
 * subscriber connections, counted for loss, duplicates, order and one-way latency, with the server's output buffer
 * watched and `redis-benchmark` as the ceiling.
 *
 * @module
 */
export * from "./baseline.ts";
export * from "./bench_publisher.ts";
export * from "./bench_subscriber.ts";
export * from "./bench_worker.ts";
export * from "./clock.ts";
export * from "./cluster_wiring.ts";
export * from "./command.ts";
export * from "./cpu.ts";
export * from "./crew.ts";
export * from "./latency_histogram.ts";
export * from "./loopback.ts";
export * from "./merge.ts";
export * from "./modes.ts";
export * from "./omem_sampler.ts";
export * from "./payload.ts";
export * from "./report.ts";
export * from "./run.ts";
export * from "./stamp_batch.ts";
export * from "./tally.ts";
export * from "./wiring.ts";
export * from "./worker.ts";
export * from "./worker_protocol.ts";
