/**
 * The readiness and metrics every script gets from its connections
 * (lib/ops/connections.ts, fed by lib/core/connection_watch.ts), on a real
 * subscriber connection: not ready while it is lost, nor while it
 * resubscribes; ready again once its subscriptions are back; its outage
 * counted. And the stop makes a script not ready for good.
 *
 * @module
 */
import assert from "node:assert/strict";
import { parseFlags } from "../../lib/core/cli.ts";
import { nullWriter, Reporter } from "../../lib/core/output.ts";
import { ConnectionBook } from "../../lib/ops/connections.ts";
import { METRICS_OPTIONS } from "../../lib/ops/flags.ts";
import { startOps } from "../../lib/ops/ops.ts";
import { Readiness } from "../../lib/ops/readiness.ts";
import { OpsRegistry } from "../../lib/ops/registry.ts";
import { ServiceMetrics } from "../../lib/ops/service_metrics.ts";
import { SubscriberConnection } from "../../lib/pubsub/subscriptions.ts";
import { testClient, testServer } from "../harness.ts";
import { sample } from "./prometheus.ts";

Deno.test("a subscriber killed by CLIENT KILL: not ready while lost and while resubscribing, ready once back", async () => {
  await using server = await testServer();
  const registry = new OpsRegistry();
  const readiness = new Readiness();
  using _book = new ConnectionBook(new ServiceMetrics(registry), readiness);
  readiness.started();
  let restored = () => {};
  const back = new Promise<void>((resolve) => restored = resolve);
  const sub = await SubscriberConnection.open({
    url: server.url,
    reporter: new Reporter(nullWriter),
    onRestored: () => restored(),
  });
  try {
    const id = await sub.redis.client("ID");
    await sub.subscribe([{ kind: "channel", name: `${server.prefix}news` }]);
    assert.deepEqual(readiness.state, { ready: true });
    const seen: string[] = [];
    const note = () => seen.push(readiness.state.ready ? "ready" : readiness.state.reason);
    sub.redis.on("close", note);
    sub.redis.on("ready", note); // after the Connection's own: the subscriptions are being restored
    await using admin = testClient(server.url);
    await admin.client("KILL", "ID", String(id));
    await back;
    assert.match(seen[0]!, /^the subscriber connection to redis:\/\/.* is lost/);
    assert.match(seen.at(-1)!, /^resubscribing to redis:\/\//);
    assert.deepEqual(readiness.state, { ready: true });
    const text = await registry.text();
    assert.equal(sample(text, 'pubsub_lab_outages_total{connection="subscriber"}'), 1);
    assert.equal(sample(text, 'pubsub_lab_fell_behind_total{connection="subscriber"}'), 0);
  } finally {
    await sub.close();
  }
  assert.deepEqual(readiness.state, { ready: true }, "a closed connection no longer counts");
  assert.equal(sample(await registry.text(), 'pubsub_lab_outages_total{connection="subscriber"}'), 1, "kept");
});

Deno.test("the stop signal makes /readyz 503 for good", async () => {
  const stop = new AbortController();
  const spec = { name: "x.ts", summary: "", usage: [], examples: [], options: METRICS_OPTIONS };
  await using ops = startOps(parseFlags(spec, ["--metrics-port", "0"]), {
    log: { info() {}, warn() {} },
    signal: stop.signal,
  });
  ops.readiness.started();
  assert.equal((await fetch(`${ops.url}/readyz`).then((r) => r.text())).trim(), "ready");
  stop.abort();
  const res = await fetch(`${ops.url}/readyz`);
  assert.equal(res.status, 503);
  assert.equal(await res.text(), "not ready: stopping (asked to stop)\n");
});
