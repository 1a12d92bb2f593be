/**
 * What the HTTP scripts share: Server-Sent Events with replay and per-client back-pressure, and listening on --host/--port.
 *
 * @module
 */
export * from "./listen.ts";
export * from "./sse.ts";
