/**
 * Redis/Valkey Cluster: choosing between one server and a cluster's seed nodes, an ioredis `Cluster` that connects
 * or explains and reports lost nodes and moved slots, the slot map, and a local cluster for the labs and tests.
 *
 * @module
 */
export * from "./cluster_connection.ts";
export * from "./target.ts";
export * from "./topology.ts";
