/**
 * `deno task bench [NAME...]`: runs the benchmarks (all, or those named)
 * against throw-away servers on loopback and prints each one's table.
 *
 * @module
 */
const BENCHMARKS: Record<string, () => Promise<{ run: () => Promise<void> }>> = {
  pubsub: () => import("./pubsub.ts"),
  handshake: () => import("./handshake.ts"),
  event_processor: () => import("./event_processor.ts"),
  kv_updater: () => import("./kv_updater.ts"),
  streams: () => import("./streams.ts"),
  sse_clients: () => import("./sse_clients.ts"),
  dashboard: () => import("./dashboard.ts"),
};

const names = Deno.args.length ? Deno.args : Object.keys(BENCHMARKS);
const unknown = names.filter((n) => !(n in BENCHMARKS));
if (unknown.length) {
  console.error(`Unknown benchmark "${unknown[0]}"; choose from: ${Object.keys(BENCHMARKS).join(", ")}`);
  Deno.exit(2);
}
for (const name of names) await (await BENCHMARKS[name]!()).run();
