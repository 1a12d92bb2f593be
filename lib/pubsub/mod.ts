/**
 * Plain pub/sub, labs 1 and 2: subscribing with one confirmation per channel, keeping subscriptions across reconnects
 * (a refused channel said once, a drop for falling behind named as such, the backlog watched), publishing in pipelined
 * batches at a rate (a series through a socket of its own, PUBLISH encoded by hand), message templates, stdin read as
 * lines, lab 1's demo messages — and sharded pub/sub, on one server and on a cluster (lab 7). The endpoint
 * (lib/endpoint) builds its subscribers on these; what runs over an endpoint is in lib/pubsub_run.
 *
 * @module
 */
export * from "./backlog_probe.ts";
export * from "./backlog_watch.ts";
export * from "./demo_messages.ts";
export * from "./drop_cause.ts";
export * from "./listen_limits.ts";
export * from "./message_template.ts";
export * from "./output_limit.ts";
export * from "./publish.ts";
export * from "./publish_lane.ts";
export * from "./published_output.ts";
export * from "./route.ts";
export * from "./sharded.ts";
export * from "./stdin_lines.ts";
export * from "./subscribe.ts";
export * from "./subscriptions.ts";
