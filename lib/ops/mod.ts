/**
 * What a long-running script shows to whoever runs it as a service: health
 * (`/livez`), readiness (`/readyz`) and Prometheus metrics (`/metrics`) on
 * `--metrics-port`, with label values kept bounded and the process's own
 * memory, CPU and event-loop delay. It depends on core and web only: feature
 * folders hand it their figures, it never imports them.
 *
 * @module
 */
export * from "./connections.ts";
export * from "./event_loop_delay.ts";
export * from "./flags.ts";
export * from "./label_cap.ts";
export * from "./ops.ts";
export * from "./probe.ts";
export * from "./readiness.ts";
export * from "./registry.ts";
export * from "./server.ts";
export * from "./service_metrics.ts";
