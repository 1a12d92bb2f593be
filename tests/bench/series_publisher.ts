/**
 * One publisher process for the pub/sub benchmark's publish-side table: lib/pubsub's
 * {@linkcode publishSeries} at full speed (batches of 1,000, two in flight, as `publisher.ts --repeat`), its batches
 * sent either through a {@linkcode PublishLane} (PUBLISH encoded by hand on a socket of its own: what publisher.ts
 * uses on one server) or through ioredis's pipeline ({@linkcode publishSender}: the public path). Publishes COUNT
 * messages `msg N TS` to CHANNEL and prints `{"rate_per_second": …}`, first write to last reply.
 *
 *   deno run -A tests/bench/series_publisher.ts lane|pipeline URL CHANNEL COUNT
 *
 * @module
 */
import { Connection } from "../../lib/core/client.ts";
import { nullWriter, Reporter } from "../../lib/core/output.ts";
import { publishSender, publishSeries } from "../../lib/pubsub/publish.ts";
import { PublishLane } from "../../lib/pubsub/publish_lane.ts";

if (import.meta.main) {
  const [kind = "", url = "", channel = "", count = ""] = Deno.args;
  const total = Number(count);
  if ((kind !== "lane" && kind !== "pipeline") || !url || !channel || !(total > 0)) {
    console.error("Usage: series_publisher.ts lane|pipeline URL CHANNEL COUNT");
    Deno.exit(2);
  }
  const conn = await Connection.open({ url, reporter: new Reporter(nullWriter) });
  const lane = kind === "lane" ? new PublishLane(conn.redis) : undefined;
  const started = performance.now();
  const result = await publishSeries(
    conn.redis,
    total,
    (n, at) => ({ channel, payload: `msg ${n} ${Math.floor(at)}` }),
    {},
    () => {},
    undefined,
    { send: lane?.sender ?? publishSender, onBatch: () => {} },
  );
  const ms = performance.now() - started;
  console.log(JSON.stringify({ published: result.published, rate_per_second: Math.round((total * 1000) / ms) }));
  await lane?.close();
  await conn.close();
}
