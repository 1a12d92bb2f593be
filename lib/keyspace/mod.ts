/**
 * Keyspace notifications, lab 3: which channels to subscribe to, the `notify-keyspace-events` letters and how they are
 * turned on (or checked without CONFIG) on every node, the listener/writer handshake, timestamps found in values, how a
 * key's value is shown, and both sides at work — the listener's events and the writer's rounds — on one server or a
 * cluster alike.
 *
 * @module
 */
export * from "./channels.ts";
export * from "./event_queue.ts";
export * from "./existing_server.ts";
export * from "./handshake.ts";
export * from "./key_view.ts";
export * from "./listen.ts";
export * from "./listener_output.ts";
export * from "./node_listeners.ts";
export * from "./notifications.ts";
export * from "./notify_flags.ts";
export * from "./notifying_node.ts";
export * from "./reconcile.ts";
export * from "./reconciliation.ts";
export * from "./rounds.ts";
export * from "./stamp.ts";
export * from "./write_rounds.ts";
export * from "./writer_side.ts";
