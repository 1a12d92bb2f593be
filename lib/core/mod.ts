/**
 * What every script shares: where the server address comes from and how it is shown, connecting (plain or TLS) or
 * explaining what the server did wrong, flags and `--help`, text or NDJSON output, exit codes, logging, graceful
 * shutdown, timing, statistics, the one door to ioredis's internals (checked at start-up), and finding and starting a
 * local keydb/valkey/redis-server. Nothing here knows about a particular lab.
 *
 * @module
 */
export * from "./byte_size.ts";
export * from "./cli.ts";
export * from "./client.ts";
export * from "./config.ts";
export * from "./connection_watch.ts";
export * from "./exit_codes.ts";
export * from "./foreground.ts";
export * from "./ioredis_guard.ts";
export * from "./ioredis_warnings.ts";
export * from "./iso_time.ts";
export * from "./json_depth.ts";
export * from "./json_event.ts";
export * from "./latency.ts";
export * from "./local_pair.ts";
export * from "./local_server.ts";
export * from "./log.ts";
export * from "./no_answer.ts";
export * from "./output.ts";
export * from "./progress.ts";
export * from "./reading_turns.ts";
export * from "./server_faults.ts";
export * from "./server_identity.ts";
export * from "./shutdown.ts";
export * from "./startup.ts";
export * from "./stats.ts";
export * from "./task_pool.ts";
export * from "./timing.ts";
export * from "./tls.ts";
export * from "./tls_probe.ts";
