/**
 * A real Prometheus (Debian's `prometheus`) scrapes a tiny service made with
 * lib/ops, and what its HTTP API says is what the service said itself.
 *
 * @module
 */
import assert from "node:assert/strict";
import { parseFlags } from "../../lib/core/cli.ts";
import { METRICS_OPTIONS } from "../../lib/ops/flags.ts";
import { startOps } from "../../lib/ops/ops.ts";
import { prometheusFound, prometheusIgnored, sample, startPrometheus } from "./prometheus.ts";

if (!prometheusFound && prometheusIgnored) {
  console.error("Ignored in tests/ops/prometheus_test.ts: no prometheus on PATH (Debian: apt-get install prometheus).");
}

Deno.test({
  name: "a real Prometheus scrapes a lib/ops service and reads back the values the service reported itself",
  ignore: prometheusIgnored,
  async fn() {
    const spec = { name: "x.ts", summary: "", usage: [], examples: [], options: METRICS_OPTIONS };
    await using ops = startOps(parseFlags(spec, ["--metrics-port", "0"]), { log: { info() {}, warn() {} } });
    ops.metrics.received.inc("news", 41);
    ops.metrics.received.inc("sports");
    ops.metrics.handled.inc("news", 40);
    ops.metrics.failed.inc("news");
    ops.metrics.handlerSeconds.observe("news", 0.003);
    ops.metrics.handlerSeconds.observe("news", 0.2);
    ops.metrics.watchStreams(() => [{ stream: "orders", group: "billing", pending: 3, lag: 12, deadLetters: 1 }]);
    ops.readiness.started();
    const own = await (await fetch(`${ops.url}/metrics`)).text();

    await using prometheus = await startPrometheus([new URL(ops.url!).host]);
    const query = prometheus.query;
    await prometheus.scrapedAll();
    const received = await query("pubsub_lab_messages_received_total");
    const byChannel = Object.fromEntries(received.map((s) => [s.metric.channel, s.value]));
    assert.deepEqual(byChannel, {
      news: sample(own, 'pubsub_lab_messages_received_total{channel="news"}'),
      sports: sample(own, 'pubsub_lab_messages_received_total{channel="sports"}'),
    });
    assert.deepEqual(byChannel, { news: 41, sports: 1 });
    const [failed] = await query('pubsub_lab_messages_failed_total{channel="news"}');
    assert.equal(failed?.value, 1);
    const [count] = await query('pubsub_lab_handler_duration_seconds_count{channel="news"}');
    assert.equal(count?.value, 2);
    const [slow] = await query('pubsub_lab_handler_duration_seconds_bucket{channel="news",le="0.1"}');
    assert.equal(slow?.value, 1, "one of the two took over 100 ms");
    const [pending] = await query('pubsub_lab_stream_pending{stream="orders",group="billing"}');
    assert.equal(pending?.value, 3);
    const [ready] = await query("pubsub_lab_ready");
    assert.equal(ready?.value, 1);
    const [rss] = await query("process_resident_memory_bytes");
    assert.ok((rss?.value ?? 0) > 1_000_000, "the process's memory");
    assert.equal((await query("pubsub_lab_event_loop_delay_seconds_count")).length, 1);
  },
});
