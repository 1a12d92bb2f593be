/**
 * The Redis-first KV chain, lab 4: the update message and its checks, the byte-exact stored text, the pipelined writer,
 * reading what was stored, the API server's feed and statistics, and its live page.
 *
 * @module
 */
export * from "./feed.ts";
export * from "./live_page.ts";
export * from "./message.ts";
export * from "./stats.ts";
export * from "./store.ts";
export * from "./writer.ts";
