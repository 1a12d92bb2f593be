/**
 * The bytes on the wire, below any client library: RESP replies read (where one ends, one decoded, a stream of
 * simple ones), message pushes cut out of a socket's bytes ahead of ioredis, PUBLISH (and any command of text
 * arguments) encoded by hand, and a socket of its own to write it to. Nothing here imports the rest of lib/: core and every feature may use it.
 *
 * @module
 */
export * from "./commands.ts";
export * from "./publish_batch.ts";
export * from "./push_cutter.ts";
export * from "./resp.ts";
export * from "./simple_replies.ts";
export * from "./socket.ts";
