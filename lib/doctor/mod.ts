/**
 * The connection doctor behind `ping.ts`: which server answers, the round trip, a pub/sub trip, and whether keyspace
 * notifications work — on a cluster, its state and every node — and how the findings are printed.
 *
 * @module
 */
export * from "./checks.ts";
export * from "./checkup.ts";
export * from "./cluster_checks.ts";
export * from "./print.ts";
