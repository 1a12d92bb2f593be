import assert from "node:assert/strict";
import { parseFlags, type ScriptSpec } from "../../lib/core/cli.ts";
import { CliError, ExitCode, UsageError } from "../../lib/core/exit_codes.ts";
import { METRICS_OPTIONS, METRICS_PORT_ENV, metricsFlags } from "../../lib/ops/flags.ts";
import { OTHER_LABEL } from "../../lib/ops/label_cap.ts";
import { type Ops, startOps } from "../../lib/ops/ops.ts";
import { OpsRegistry } from "../../lib/ops/registry.ts";
import { ServiceMetrics } from "../../lib/ops/service_metrics.ts";
import { rawHttp } from "../raw_http.ts";
import { sample } from "./prometheus.ts";

const SPEC: ScriptSpec = { name: "x.ts", summary: "", usage: [], examples: [], options: METRICS_OPTIONS };

/** A quiet log that keeps what was said. */
function saidLog() {
  const said: string[] = [];
  return { said, log: { info: (t: string) => void said.push(t), warn: (t: string) => void said.push(t) } };
}

function opsOn(args: string[], log = saidLog().log): Ops {
  return startOps(parseFlags(SPEC, args), { log, starting: "connecting to redis://127.0.0.1:6379" });
}

Deno.test("/livez answers; /readyz is 503 with one line while starting, 200 when started, 503 for good once stopping", async () => {
  await using ops = opsOn(["--metrics-port", "0"]);
  const get = async (path: string) => {
    const res = await fetch(ops.url + path);
    return [res.status, await res.text(), res.headers.get("content-type")] as const;
  };
  assert.deepEqual(await get("/livez"), [200, "ok\n", "text/plain; charset=utf-8"]);
  assert.deepEqual((await get("/readyz")).slice(0, 2), [503, "not ready: connecting to redis://127.0.0.1:6379\n"]);
  let connected = true;
  ops.readiness.require(() => connected ? undefined : "the server is away (an outage)");
  ops.readiness.started();
  assert.deepEqual((await get("/readyz")).slice(0, 2), [200, "ready\n"]);
  connected = false;
  assert.deepEqual((await get("/readyz")).slice(0, 2), [503, "not ready: the server is away (an outage)\n"]);
  connected = true;
  const release = ops.readiness.hold("resubscribing after an outage");
  assert.deepEqual((await get("/readyz")).slice(0, 2), [503, "not ready: resubscribing after an outage\n"]);
  release();
  assert.equal((await get("/readyz"))[0], 200);
  ops.readiness.stopping("stopping (SIGTERM)");
  assert.deepEqual((await get("/readyz")).slice(0, 2), [503, "not ready: stopping (SIGTERM)\n"]);
  assert.equal(sample((await get("/metrics"))[1], "pubsub_lab_ready"), 0);
  assert.equal((await get("/nope"))[0], 404);
  const post = await fetch(`${ops.url}/readyz`, { method: "POST", body: "" });
  assert.equal(post.status, 405);
  assert.equal(post.headers.get("allow"), "GET, HEAD");
  await post.body?.cancel();
});

Deno.test("the ops server listens on 127.0.0.1 by default and answers only under its own address or --allowed-host", async () => {
  const { said, log } = saidLog();
  await using ops = opsOn(["--metrics-port", "0", "--allowed-host", "metrics.lab.example"], log);
  assert.match(ops.url!, /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.ok(said.some((l) => l === `Health and metrics on ${ops.url}: /livez, /readyz, /metrics.`), said.join("\n"));
  for (const path of ["/livez", "/readyz", "/metrics"]) {
    const refused = await rawHttp(ops.url!, path, { host: "evil.example" });
    assert.equal(refused.status, 403, path);
    assert.match(refused.body, /--allowed-host evil\.example/);
  }
  assert.equal((await rawHttp(ops.url!, "/livez", { host: "metrics.lab.example:9464" })).status, 200);
  assert.equal((await rawHttp(ops.url!, "/livez", { host: "localhost" })).status, 200);
  assert.equal(said.filter((l) => l.includes('"evil.example"')).length, 1, "a refused name is said once");
});

Deno.test("/metrics is Prometheus text with the process's CPU, memory and event-loop delay (a blocked loop shows)", async () => {
  await using ops = opsOn(["--metrics-port", "0"]);
  const res = await fetch(`${ops.url}/metrics`);
  assert.equal(res.headers.get("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  const first = await res.text();
  for (const name of ["process_cpu_seconds_total", "process_resident_memory_bytes", "nodejs_heap_size_used_bytes"]) {
    assert.ok((sample(first, name) ?? 0) > 0, `${name} in:\n${first}`);
  }
  assert.doesNotMatch(first, /^nodejs_eventloop_lag/m, "prom-client's event-loop figures see nothing under Deno");
  // A loop blocked for 150 ms: the sampling timer, due every 20 ms, fires at least 130 ms late.
  const blockedUntil = performance.now() + 150;
  while (performance.now() < blockedUntil) { /* busy */ }
  await new Promise((resolve) => setTimeout(resolve, 50));
  const text = await (await fetch(`${ops.url}/metrics`)).text();
  const count = sample(text, "pubsub_lab_event_loop_delay_seconds_count")!;
  const under100ms = sample(text, 'pubsub_lab_event_loop_delay_seconds_bucket{le="0.1"}')!;
  assert.ok(count >= 1 && under100ms < count, `a sample over 100 ms: ${under100ms} of ${count} under it`);
});

Deno.test("label values are bounded: past the cap they count under _other_, the same in every metric, said once", async () => {
  const said: string[] = [];
  const registry = new OpsRegistry({ labelCap: 3, warn: (t) => said.push(t) });
  const metrics = new ServiceMetrics(registry);
  for (let i = 0; i < 1000; i++) {
    metrics.received.inc(`ch${i % 10}`);
    metrics.handled.inc(`ch${i % 10}`);
    metrics.handlerSeconds.observe(`ch${i % 10}`, 0.001);
  }
  const text = await registry.text();
  const series = (name: string) => text.split("\n").filter((l) => l.startsWith(name + "{"));
  assert.deepEqual(series("pubsub_lab_messages_received_total"), [
    'pubsub_lab_messages_received_total{channel="ch0"} 100',
    'pubsub_lab_messages_received_total{channel="ch1"} 100',
    'pubsub_lab_messages_received_total{channel="ch2"} 100',
    `pubsub_lab_messages_received_total{channel="${OTHER_LABEL}"} 700`,
  ]);
  assert.equal(series("pubsub_lab_messages_handled_total").length, 4);
  assert.equal(series("pubsub_lab_handler_duration_seconds_count").length, 4);
  assert.deepEqual(said, [
    `Metrics: more than 3 distinct "channel" values; the others are counted under channel="${OTHER_LABEL}" (said once).`,
  ]);
  registry.close();
});

Deno.test("figures kept elsewhere are read at each scrape: connections, streams (unknown lag left out), SSE clients", async () => {
  const registry = new OpsRegistry({ labelCap: 2 });
  const metrics = new ServiceMetrics(registry);
  let down = 1500;
  metrics.watchConnection("subscriber", () => ({ outages: 2, downMs: down, fellBehind: 1, backlogBytes: 4096 }));
  metrics.watchConnection("commands", () => ({ outages: 0, downMs: 0 }));
  metrics.watchStreams(() => [
    { stream: "key_submission", group: "processors", pending: 3, lag: 7, deadLetters: 2 },
    { stream: "profile_events", group: "processors", pending: 0, lag: null, deadLetters: 0 },
  ]);
  metrics.watchSseClients(() => 5);
  let text = await registry.text();
  assert.equal(sample(text, 'pubsub_lab_outages_total{connection="subscriber"}'), 2);
  assert.equal(sample(text, 'pubsub_lab_disconnected_seconds_total{connection="subscriber"}'), 1.5);
  assert.equal(sample(text, 'pubsub_lab_fell_behind_total{connection="subscriber"}'), 1);
  assert.equal(sample(text, 'pubsub_lab_output_buffer_bytes{connection="subscriber"}'), 4096);
  assert.equal(sample(text, 'pubsub_lab_outages_total{connection="commands"}'), 0);
  assert.equal(sample(text, 'pubsub_lab_fell_behind_total{connection="commands"}'), undefined, "not known: absent");
  assert.equal(sample(text, 'pubsub_lab_stream_pending{stream="key_submission",group="processors"}'), 3);
  assert.equal(sample(text, 'pubsub_lab_stream_lag{stream="key_submission",group="processors"}'), 7);
  assert.equal(sample(text, 'pubsub_lab_stream_lag{stream="profile_events",group="processors"}'), undefined);
  assert.equal(sample(text, 'pubsub_lab_stream_dead_letters{stream="key_submission"}'), 2);
  assert.equal(sample(text, "pubsub_lab_sse_clients"), 5);
  down = 4000;
  text = await registry.text();
  assert.equal(sample(text, 'pubsub_lab_disconnected_seconds_total{connection="subscriber"}'), 4);
  registry.close();
});

Deno.test("--metrics-port, else $PUBSUB_LAB_METRICS_PORT; --metrics-host needs a port; bad values are usage errors", () => {
  const flags = (...args: string[]) => metricsFlags(parseFlags(SPEC, args));
  assert.equal(flags(), undefined);
  assert.equal(flags("--metrics-port", "9464", "--metrics-host", "0.0.0.0")?.hostname, "0.0.0.0");
  assert.throws(() => flags("--metrics-host", "0.0.0.0"), /--metrics-host goes with --metrics-port/);
  assert.throws(() => flags("--metrics-port", "70000"), UsageError);
  const before = Deno.env.get(METRICS_PORT_ENV);
  try {
    Deno.env.set(METRICS_PORT_ENV, "9465");
    assert.equal(flags()?.port, 9465);
    assert.equal(flags("--metrics-port", "9466")?.port, 9466, "the flag wins");
    Deno.env.set(METRICS_PORT_ENV, "nine");
    assert.throws(() => flags(), /\$PUBSUB_LAB_METRICS_PORT must be a port number \(0 to 65535\), got "nine"/);
  } finally {
    if (before === undefined) Deno.env.delete(METRICS_PORT_ENV);
    else Deno.env.set(METRICS_PORT_ENV, before);
  }
});

Deno.test("a metrics port in use is one line naming --metrics-port (exit 1); an address not of this machine, --metrics-host", () => {
  using taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = String((taken.addr as Deno.NetAddr).port);
  assert.throws(() => opsOn(["--metrics-port", port]), (err: unknown) => {
    assert.ok(err instanceof CliError && err.exitCode === ExitCode.Failure);
    assert.equal(err.message, `Port ${port} on 127.0.0.1 is already in use: choose another with --metrics-port`);
    return true;
  });
  assert.throws(
    () => opsOn(["--metrics-port", "0", "--metrics-host", "192.0.2.1"]),
    /^UsageError: --metrics-host 192\.0\.2\.1 is not an address of this machine/,
  );
});

Deno.test("without a metrics port nothing is served, and the metrics still count", async () => {
  await using ops = opsOn([]);
  assert.equal(ops.url, undefined);
  ops.metrics.received.inc("news");
  assert.match(await ops.registry.text(), /^pubsub_lab_messages_received_total\{channel="news"\} 1$/m);
  assert.doesNotMatch(await ops.registry.text(), /process_cpu/, "process metrics only when served");
});

Deno.test("lib/ops/probe.ts, compose's healthcheck: exit 0 on 200, else 1 with the answer in one line", async () => {
  await using ops = opsOn(["--metrics-port", "0"]);
  const probe = async (url: string) => {
    const { code, stdout } = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-net", new URL("../../lib/ops/probe.ts", import.meta.url).pathname, url],
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).output();
    return [code, new TextDecoder().decode(stdout).trim()] as const;
  };
  assert.deepEqual(await probe(`${ops.url}/readyz`), [1, "503 not ready: connecting to redis://127.0.0.1:6379"]);
  ops.readiness.started();
  assert.deepEqual(await probe(`${ops.url}/readyz`), [0, "200 ready"]);
  await ops.close();
  const [code, said] = await probe(`${ops.url}/readyz`);
  assert.equal(code, 1);
  assert.match(said, /^no answer from http:\/\/127\.0\.0\.1:\d+\/readyz: /);
});

Deno.test("counts kept elsewhere are followed at each scrape: a total, counts per value, never going down", async () => {
  const registry = new OpsRegistry({ labelCap: 3 }); // update, news, sports: weather is past it
  const metrics = new ServiceMetrics(registry);
  let stored = 0;
  const byChannel = new Map<string, number>();
  metrics.handled.follow("update", () => stored);
  metrics.received.followEach(() => byChannel);
  const series = async (name: string) => sample(await registry.text(), name);
  assert.equal(await series('pubsub_lab_messages_handled_total{channel="update"}'), 0, "shown at 0 from the start");
  stored = 3;
  byChannel.set("news", 2).set("sports", 1).set("weather", 5);
  assert.equal(await series('pubsub_lab_messages_handled_total{channel="update"}'), 3);
  assert.equal(await series('pubsub_lab_messages_received_total{channel="news"}'), 2);
  assert.equal(await series(`pubsub_lab_messages_received_total{channel="${OTHER_LABEL}"}`), 5, "past the cap");
  stored = 1; // a count started again (not a counter's way): nothing is taken back
  byChannel.set("news", 4);
  assert.equal(await series('pubsub_lab_messages_handled_total{channel="update"}'), 3);
  assert.equal(await series('pubsub_lab_messages_received_total{channel="news"}'), 4);
});
