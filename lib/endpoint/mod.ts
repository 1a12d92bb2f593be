/**
 * What a script connects to, a server or a cluster, behind one interface:
 * {@linkcode endpointFor} makes an {@linkcode Endpoint} of a target; it
 * opens command links, subscribers, and one of something per node.
 *
 * @module
 */
export * from "./endpoint.ts";
export * from "./link.ts";
export * from "./subscriber.ts";
export * from "./node_set.ts";
