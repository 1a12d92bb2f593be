/**
 * The health checks behind `check.ts`, for scripts and monitoring, in the
 * Nagios plugin convention (0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN): a
 * consumer group's lag, pending entries, longest idle pending entry and dead
 * letters; a channel's subscribers; keyspace notifications; a canary's round
 * trip; a cluster's state and masters without a replica.
 *
 * @module
 */
export * from "./nagios.ts";
export * from "./run.ts";
export * from "./server_checks.ts";
export * from "./stream_checks.ts";
