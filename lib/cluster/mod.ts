/**
 * Redis/Valkey Cluster: choosing between one server and a cluster's seed nodes, an ioredis `Cluster` that connects
 * or explains and reports lost nodes and moved slots, plain channels followed across node losses, the slot map, and a throw-away local cluster of valkey-server
 * or redis-server nodes for `deno task cluster` and the tests.
 *
 * @module
 */
export * from "./cluster_connection.ts";
export * from "./failover_retry.ts";
export * from "./local_cluster.ts";
export * from "./per_master.ts";
export * from "./target.ts";
export * from "./topology.ts";
