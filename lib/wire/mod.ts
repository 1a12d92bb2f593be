/**
 * The bytes on the wire, below any client library: reading RESP replies, cutting pub/sub message pushes out of a
 * socket's bytes ahead of ioredis. Nothing here imports the rest of lib/: core and every feature may use it.
 *
 * @module
 */
export * from "./push_cutter.ts";
