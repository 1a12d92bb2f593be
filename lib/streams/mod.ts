/**
 * Redis Streams primitives, below any event envelope: entries and start
 * positions, appending with retention, consumer groups, reading lanes and
 * their own pending entries, claiming (`XAUTOCLAIM`), batched
 * acknowledgements, dead letters and their redrive, replay, JSON Schemas per
 * topic. The durable event library built on them (StreamConsumer,
 * StreamPublisher) is in lib/events/mod.ts.
 *
 * @module
 */
export * from "./entry.ts";
export * from "./schema.ts";
export * from "./append.ts";
export * from "./idempotent_append.ts";
export * from "./append_route.ts";
export * from "./groups.ts";
export * from "./reader.ts";
export * from "./kv_stream.ts";
export * from "./dead_letters.ts";
export * from "./dead_letter_commands.ts";
export * from "./stream_commands.ts";
export * from "./lane_reader.ts";
export * from "./claimer.ts";
export * from "./ack_batcher.ts";
export * from "./dead_letter_move.ts";
export * from "./reread.ts";
export * from "./tail.ts";
