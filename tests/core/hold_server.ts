/**
 * A test fixture: starts a LocalServer, prints `ready <port>`, and on the
 * first stop request (SIGINT, SIGTERM, SIGHUP) prints `stopping`; then it
 * stops the server and prints `stopped`, or with `hang` never does, so that
 * only a second Ctrl+C or a kill ends it.
 *
 * @module
 */
import { LocalServer } from "../../lib/core/local_server.ts";
import { onShutdown } from "../../lib/core/shutdown.ts";

using shutdown = onShutdown();
const server = await LocalServer.start();
console.log(`ready ${server.port}`);
await shutdown.requested;
console.log("stopping");
if (Deno.args[0] === "hang") await new Promise(() => setInterval(() => {}, 1000));
await server[Symbol.asyncDispose]();
console.log("stopped");
