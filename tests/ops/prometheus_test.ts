/**
 * A real Prometheus (Debian's `prometheus`) scrapes a tiny service made with
 * lib/ops, and what its HTTP API says is what the service said itself.
 *
 * @module
 */
import assert from "node:assert/strict";
import { parseFlags } from "../../lib/core/cli.ts";
import { freePort } from "../../lib/core/local_server.ts";
import { METRICS_OPTIONS } from "../../lib/ops/flags.ts";
import { startOps } from "../../lib/ops/ops.ts";
import { eventually, TextSink } from "../harness.ts";

const PROMETHEUS = "prometheus";
const found = (await new Deno.Command("sh", { args: ["-c", `command -v ${PROMETHEUS}`], stdout: "null" }).output())
  .success;
const inCi = Deno.env.get("CI") === "true";
if (!found && !inCi) {
  console.error("Ignored in tests/ops/prometheus_test.ts: no prometheus on PATH (Debian: apt-get install prometheus).");
}

/** One instant query through Prometheus's HTTP API: the series' labels and values. */
async function query(base: string, promql: string): Promise<{ metric: Record<string, string>; value: number }[]> {
  const res = await fetch(`${base}/api/v1/query?query=${encodeURIComponent(promql)}`);
  const body = await res.json() as {
    status: string;
    data: { result: { metric: Record<string, string>; value: [number, string] }[] };
  };
  assert.equal(body.status, "success", JSON.stringify(body));
  return body.data.result.map((r) => ({ metric: r.metric, value: Number(r.value[1]) }));
}

/** The value of one series in Prometheus text. */
function sample(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(series + " "));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

Deno.test({
  name: "a real Prometheus scrapes a lib/ops service and reads back the values the service reported itself",
  ignore: !found && !inCi,
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

    const dir = await Deno.makeTempDir({ prefix: "prometheus-test-" });
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const target = new URL(ops.url!).host;
    await Deno.writeTextFile(
      `${dir}/prometheus.yml`,
      [
        "global:",
        "  scrape_interval: 1s",
        "  scrape_timeout: 1s",
        "scrape_configs:",
        "  - job_name: lab_service",
        "    static_configs:",
        `      - targets: ["${target}"]`,
        "",
      ].join("\n"),
    );
    const child = new Deno.Command(PROMETHEUS, {
      args: [
        `--config.file=${dir}/prometheus.yml`,
        `--storage.tsdb.path=${dir}/data`,
        `--web.listen-address=127.0.0.1:${port}`,
        "--log.level=warn",
      ],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const log = new TextSink();
    const pumped = (async () => {
      for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) log.push(chunk);
    })();
    try {
      await eventually(
        () => fetch(`${base}/-/ready`).then((r) => (r.body?.cancel(), r.ok), () => false),
        `Prometheus to be ready (its log: ${log.text})`,
        20_000,
      );
      // One scrape has happened once `up` is there; the values come from that same scrape.
      await eventually(
        async () => (await query(base, 'up{job="lab_service"}')).some((s) => s.value === 1),
        "a successful scrape of the service",
        20_000,
      );
      const received = await query(base, "pubsub_lab_messages_received_total");
      const byChannel = Object.fromEntries(received.map((s) => [s.metric.channel, s.value]));
      assert.deepEqual(byChannel, {
        news: sample(own, 'pubsub_lab_messages_received_total{channel="news"}'),
        sports: sample(own, 'pubsub_lab_messages_received_total{channel="sports"}'),
      });
      assert.deepEqual(byChannel, { news: 41, sports: 1 });
      const [failed] = await query(base, 'pubsub_lab_messages_failed_total{channel="news"}');
      assert.equal(failed?.value, 1);
      const [count] = await query(base, 'pubsub_lab_handler_duration_seconds_count{channel="news"}');
      assert.equal(count?.value, 2);
      const [slow] = await query(base, 'pubsub_lab_handler_duration_seconds_bucket{channel="news",le="0.1"}');
      assert.equal(slow?.value, 1, "one of the two took over 100 ms");
      const [pending] = await query(base, 'pubsub_lab_stream_pending{stream="orders",group="billing"}');
      assert.equal(pending?.value, 3);
      const [ready] = await query(base, "pubsub_lab_ready");
      assert.equal(ready?.value, 1);
      const [rss] = await query(base, "process_resident_memory_bytes");
      assert.ok((rss?.value ?? 0) > 1_000_000, "the process's memory");
      assert.equal((await query(base, "pubsub_lab_event_loop_delay_seconds_count")).length, 1);
    } finally {
      child.kill("SIGTERM");
      await child.status;
      await pumped;
      await Deno.remove(dir, { recursive: true });
    }
  },
});
