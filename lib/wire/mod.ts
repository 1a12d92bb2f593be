/**
 * The bytes on the wire, below any client library: RESP replies read (where one ends, one decoded), message pushes
 * cut out of a socket's bytes ahead of ioredis. Nothing here imports the rest of lib/: core and every feature may use
 * it.
 *
 * @module
 */
export * from "./push_cutter.ts";
export * from "./resp.ts";
