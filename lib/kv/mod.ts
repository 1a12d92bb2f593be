/**
 * The Redis-first KV chain, lab 4: the update message and its checks, the byte-exact stored text, the pipelined writer
 * (one pipeline per master on a cluster, writes a lost master had not replicated written again), reading what was stored, the API server's feed and statistics, and its live page.
 *
 * @module
 */
export * from "./cluster_sink.ts";
export * from "./feed.ts";
export * from "./kv_stream.ts";
export * from "./live_page.ts";
export * from "./message.ts";
export * from "./server_sink.ts";
export * from "./sink.ts";
export * from "./stats.ts";
export * from "./store.ts";
export * from "./writer.ts";
