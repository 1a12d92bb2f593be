/**
 * Keyspace notifications, lab 3: which channels to subscribe to, the `notify-keyspace-events` letters and how they are
 * turned on (or checked without CONFIG), the listener/writer handshake, timestamps found in values, and how a key's
 * value is shown.
 *
 * @module
 */
export * from "./channels.ts";
export * from "./handshake.ts";
export * from "./key_view.ts";
export * from "./notifications.ts";
export * from "./stamp.ts";
export * from "./node_listeners.ts";
