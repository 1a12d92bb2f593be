/**
 * Recoverable channels: messages numbered and kept in a capped history as they are published, and subscribers that
 * get back what they missed after an outage, in order and once, or say what the history no longer had, and why.
 *
 * @module
 */
export * from "./history.ts";
export * from "./history_publisher.ts";
export * from "./history_reader.ts";
export * from "./recover_flags.ts";
export * from "./recovering_subscriber.ts";
export * from "./recovery.ts";
export * from "./tee.ts";
