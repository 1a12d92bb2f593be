/**
 * The Redis-first KV chain, lab 4: the update message and its checks, the byte-exact stored text, kv_updater's two modes
 * (channel, stream), the pipelined writer and its sinks (one server's MSET batches, through a lane of their own; a
 * pipeline per master on a cluster, writes a lost master had not replicated written again), the announcement of what
 * was stored, reading what was stored, and the API server: its run, routes, feed, statistics and live page.
 *
 * @module
 */
export * from "./api_routes.ts";
export * from "./api_server.ts";
export * from "./channel_updater.ts";
export * from "./cluster_sink.ts";
export * from "./feed.ts";
export * from "./kv_stream.ts";
export * from "./live_page.ts";
export * from "./message.ts";
export * from "./python_json.ts";
export * from "./server_sink.ts";
export * from "./sink.ts";
export * from "./stats.ts";
export * from "./store.ts";
export * from "./stored_channel.ts";
export * from "./stored_text.ts";
export * from "./updater_options.ts";
export * from "./writer.ts";
