/**
 * A real Prometheus scrapes every long-running script at once, each fed its
 * own traffic: what Prometheus stored is what each script's `/metrics` says,
 * and what the scripts' `--json` summaries count at the stop.
 *
 * @module
 */
import assert from "node:assert/strict";
import { EventPublisher } from "../../lib/events/publisher.ts";
import { StreamPublisher } from "../../lib/events/stream_publisher.ts";
import { appendSender } from "../../lib/streams/append.ts";
import { eventually, metricsBase, ownServerTest, ScriptProcess, testClient, testServer } from "../harness.ts";
import { LONG_RUNNING } from "./long_running.ts";
import { prometheusIgnored, sample, startPrometheus } from "./prometheus.ts";

const N = 25;

/** A valid lab 4 update of `type`. */
function update(type: string, i: number): string {
  const updated = new Date(Date.UTC(2024, 0, 1, 0, 0, i)).toISOString().replace(".000Z", "Z");
  return JSON.stringify({ type, updated, valid: "2030-01-01T00:00:00Z", values: { i } });
}

/** The summary line of a script's `--json` output. */
function summary(text: string): Record<string, unknown> {
  const line = text.trim().split("\n").reverse().find((l) => l.includes('"event":"summary"'));
  assert.ok(line, `no summary in:\n${text}`);
  return JSON.parse(line);
}

/** What a script's own `/metrics` says a series is (0 when absent). */
async function own(base: string, series: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  return sample(text, series) ?? 0;
}

if (!prometheusIgnored) {
  ownServerTest(
    "a real Prometheus scrapes every long-running script; its values are what each script reports",
    async () => {
      await using server = await testServer({ own: true, notifications: "KEA" });
      const p = server.prefix;
      const running = new Map<string, { proc: ScriptProcess; base: string; target: string }>();
      try {
        // Port 0: each script listens where the system says and prints it (a free port picked here first could be
        // taken by another process before the script listens on it).
        for (const script of LONG_RUNNING) {
          const proc = new ScriptProcess(script.file, [...script.args(server.url, p), "--metrics-port", "0"]);
          running.set(script.name, { proc, base: "", target: "" });
        }
        for (const [name, entry] of running) {
          const { proc } = entry;
          const base = entry.base = await metricsBase(proc);
          entry.target = base.slice("http://".length);
          await eventually(
            () => fetch(`${base}/readyz`).then((r) => (r.body?.cancel(), r.ok), () => false),
            () => `${name} ready: ${proc.err.text}`,
            30_000,
          );
        }

        await using redis = testClient(server.url);
        const events = new EventPublisher(redis, { source: "test" });
        const stream = new StreamPublisher(redis, { source: "test" });
        const append = appendSender();
        for (let i = 0; i < N; i++) {
          await redis.publish(`${p}news`, `hello ${i}`);
          await redis.set(`${p}ks:${i}`, String(i));
          await redis.publish(`${p}kv`, update(`T${i % 5}`, i));
          await append(redis, [{ channel: `${p}kv`, payload: update(`S${i % 5}`, i) }]);
          await events.publish("key_submission", { event_type: "key_submitted", key_value: `k${i}` });
          await stream.append("key_submission", { event_type: "key_submitted", key_value: `k${i}` });
          await redis.xadd(`${p}log`, "*", "payload", String(i));
        }
        const expected: [string, string][] = [
          ["subscriber.ts", `pubsub_lab_messages_handled_total{channel="${p}news"}`],
          ["keyspace_listener.ts", `pubsub_lab_messages_handled_total{channel="set"}`],
          ["kv_updater.ts", `pubsub_lab_messages_handled_total{channel="${p}kv"}`],
          ["kv_updater.ts --stream", `pubsub_lab_messages_handled_total{channel="${p}kv"}`],
          ["api_server.ts", `pubsub_lab_messages_handled_total{channel="${p}kv"}`],
          ["event_processor.ts", `pubsub_lab_messages_handled_total{channel="key_submission"}`],
          ["event_processor.ts --durable", `pubsub_lab_messages_handled_total{channel="key_submission"}`],
          ["stream_tail.ts --follow", `pubsub_lab_messages_handled_total{channel="${p}log"}`],
          ["dashboard.ts", `pubsub_lab_messages_received_total{channel="${p}news"}`],
        ];
        assert.deepEqual(new Set(expected.map(([name]) => name)), new Set(running.keys()), "every script is fed");
        for (const [name, series] of expected) {
          const { base, proc } = running.get(name)!;
          await eventually(async () => await own(base, series) === N, `${name}: ${series} = ${N} (${proc.err.text})`);
        }

        await using prometheus = await startPrometheus([...running.values()].map((r) => r.target));
        await prometheus.scrapedAll();
        const byInstance = async (metric: string) => {
          const got = new Map<string, number>();
          for (const s of await prometheus.query(metric)) got.set(`${s.metric.instance} ${s.metric.channel}`, s.value);
          return got;
        };
        for (const metric of ["pubsub_lab_messages_received_total", "pubsub_lab_messages_handled_total"]) {
          const stored = await byInstance(metric);
          for (const [name, { base, target }] of running) {
            const text = await (await fetch(`${base}/metrics`)).text();
            for (const line of text.split("\n").filter((l) => l.startsWith(metric + "{"))) {
              const channel = /channel="([^"]*)"/.exec(line)![1];
              const value = Number(line.slice(line.lastIndexOf(" ") + 1));
              assert.equal(stored.get(`${target} ${channel}`), value, `${name}: ${line} in Prometheus`);
            }
          }
        }
        const ready = await prometheus.query("pubsub_lab_ready");
        assert.equal(ready.length, running.size);
        assert.ok(ready.every((s) => s.value === 1), JSON.stringify(ready));
        const [pending] = await prometheus.query(`pubsub_lab_stream_pending{group="${p}processors"}`);
        assert.equal(pending?.value, 0, "the durable processor acknowledged every entry");
        const kvGroup = await prometheus.query(`pubsub_lab_stream_pending{stream="${p}kv",group="kv_updater"}`);
        assert.equal(kvGroup.length, 1, "kv_updater --stream reports its group");
        const outages = await prometheus.query("pubsub_lab_outages_total");
        assert.ok(outages.length >= running.size && outages.every((s) => s.value === 0), JSON.stringify(outages));

        // Read before the stop: once a script is gone, Prometheus marks its series stale.
        const value = async (name: string, series: string) => {
          const [s] = await prometheus.query(`${series.replace("}", `,instance="${running.get(name)!.target}"}`)}`);
          return s?.value;
        };
        const stored = {
          subscriber: await value("subscriber.ts", expected[0]![1]),
          listener: await value("keyspace_listener.ts", expected[1]![1]),
          kv: await Promise.all(["kv_updater.ts", "kv_updater.ts --stream"].map(async (name) => ({
            name,
            received: await value(name, `pubsub_lab_messages_received_total{channel="${p}kv"}`),
            handled: await value(name, expected[2]![1]),
          }))),
          processed: await Promise.all(
            ["event_processor.ts", "event_processor.ts --durable"].map(async (name) =>
              [name, await value(name, expected[5]![1])] as const
            ),
          ),
        };
        for (const { proc } of running.values()) proc.kill("SIGTERM");
        const summaries = new Map<string, Record<string, unknown>>();
        for (const [name, { proc }] of running) {
          assert.equal(await proc.exit(), 0, `${name}: ${proc.err.text}`);
          if (name !== "dashboard.ts" && name !== "stream_tail.ts --follow") {
            summaries.set(name, summary(proc.out.text));
          }
        }
        assert.equal(summaries.get("subscriber.ts")!.messages, stored.subscriber);
        assert.equal(summaries.get("keyspace_listener.ts")!.events, stored.listener);
        for (const { name, received, handled } of stored.kv) {
          const s = summaries.get(name)!;
          assert.equal(s.received, received, name);
          assert.equal(Number(s.stored) + Number(s.superseded) + Number(s.stale ?? 0), handled, name);
        }
        for (const [name, processed] of stored.processed) assert.equal(summaries.get(name)!.processed, processed, name);
      } finally {
        for (const { proc } of running.values()) {
          await proc[Symbol.asyncDispose]();
        }
      }
    },
  );
}
