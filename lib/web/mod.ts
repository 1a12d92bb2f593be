/**
 * What the HTTP scripts share: Server-Sent Events with replay and per-client back-pressure.
 *
 * @module
 */
export * from "./sse.ts";
