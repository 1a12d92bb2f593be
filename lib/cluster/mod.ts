/**
 * Redis Cluster: a throw-away local cluster of valkey-server or redis-server nodes for `deno task cluster` and the
 * tests, formed without redis-cli, with failover helpers.
 *
 * @module
 */
export * from "./local_cluster.ts";
