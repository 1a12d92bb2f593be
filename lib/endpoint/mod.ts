/**
 * What a script connects to, a server or a cluster, behind one interface:
 * {@linkcode endpointFor} makes an {@linkcode Endpoint} of a target; it
 * opens command links, subscribers, and one of something per node.
 *
 * @module
 */
export * from "./cluster_endpoint.ts";
export * from "./cluster_link.ts";
export * from "./cluster_subscriber.ts";
export * from "./endpoint.ts";
export * from "./link.ts";
export * from "./master_set.ts";
export * from "./node_set.ts";
export * from "./server_endpoint.ts";
export * from "./server_link.ts";
export * from "./subscriber.ts";
