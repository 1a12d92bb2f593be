/**
 * The connection doctor behind `ping.ts`: which server answers, the round trip, a pub/sub trip, and whether keyspace
 * notifications work.
 *
 * @module
 */
export * from "./checks.ts";
