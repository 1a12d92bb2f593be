/**
 * What the HTTP scripts share: Server-Sent Events with replay and per-client back-pressure, listening on --host/--port and answering only under its own address and --allowed-host names, telling pages whether the Redis server is reachable, and taking a same-origin JSON POST of bounded size.
 *
 * @module
 */
export * from "./host_rule.ts";
export * from "./listen.ts";
export * from "./post.ts";
export * from "./server_status.ts";
export * from "./sse.ts";
