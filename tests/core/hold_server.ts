/**
 * A test fixture: starts a LocalServer, prints `ready <port>`, and on the
 * first stop request (SIGINT, SIGTERM, SIGHUP) prints `stopping`; then it
 * stops the server and prints `stopped`, or with `hang` never does, so that
 * only a second Ctrl+C or a kill ends it. With `lose`, it shuts its server
 * down behind its back first and prints `lost` when it has exited.
 *
 * @module
 */
import { askServer, LocalServer } from "../../lib/core/local_server.ts";
import { onShutdown } from "../../lib/core/shutdown.ts";

using shutdown = onShutdown();
const server = await LocalServer.start();
console.log(`ready ${server.port}`);
if (Deno.args[0] === "lose") {
  await askServer(server.port, "SHUTDOWN NOSAVE");
  await server.exited;
  console.log("lost");
}
await shutdown.requested;
console.log("stopping");
if (Deno.args[0] !== "stop") await new Promise(() => setInterval(() => {}, 1000));
await server[Symbol.asyncDispose]();
console.log("stopped");
