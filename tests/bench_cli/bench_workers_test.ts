/**
 * lib/bench's workers: a worker that dies mid-run is reported, publishing
 * stops and the run ends with what was measured; the clock check and the
 * CPU figures are there.
 *
 * @module
 */
import assert from "node:assert/strict";
import { runBench } from "../../lib/bench/run.ts";
import { summarize, textReport } from "../../lib/bench/report.ts";
import { nullWriter, Reporter } from "../../lib/core/output.ts";
import { endpointFor } from "../../lib/endpoint/endpoint.ts";
import { testServer } from "../harness.ts";

const setup = { mode: "pubsub" as const, size: 64, channels: 1, rate: 2000 };

/** A run of 1 publisher → 2 subscribers at 2,000 msg/s for up to 10 s, one worker told to fail after 600 ms. */
async function runWithCrash(url: string, role: "publishers" | "subscribers", index: number) {
  const options = {
    endpoint: endpointFor({ cluster: false, url }),
    reporter: new Reporter(nullWriter),
    ...setup,
    publishers: 1,
    subscribers: 2,
    messages: 20_000,
    durationMs: 10_000,
    signal: new AbortController().signal,
    crashWorker: { role, index, afterMs: 600 },
  };
  const began = performance.now();
  const result = await runBench(options);
  return {
    result,
    ms: performance.now() - began,
    summary: summarize({ ...setup, publishers: 1, subscribers: 2 }, result),
  };
}

Deno.test("runBench() reports a subscriber worker that dies, stops publishing and keeps what the others measured", async () => {
  await using server = await testServer();
  const { result, ms, summary } = await runWithCrash(server.url, "subscribers", 1);
  assert.equal(result.workerFailures.length, 1, result.workerFailures.join("\n"));
  assert.match(result.workerFailures[0]!, /subscriber worker 2 died: .*told to fail/);
  assert.ok(ms < 8000, `publishing stopped when the worker died (the run took ${ms} ms): ${JSON.stringify(summary)}`);
  const published = result.published[0]!;
  assert.ok(published > 0 && published < 20_000, `published ${published}`);
  const [alive, dead] = result.subscribers;
  assert.deepEqual([alive!.received, alive!.lost, alive!.died], [published, 0, false]);
  assert.equal(dead!.died, true);
  assert.ok(dead!.received > 0 && dead!.received <= published, `the dead one had received ${dead!.received}`);
  assert.equal(dead!.lost, published - dead!.received);
  assert.deepEqual(summary.worker_failures, result.workerFailures);
  const text = textReport(summary).join("\n");
  assert.match(text, /its worker died/);
  assert.match(text, /failed +The benchmark's subscriber worker 2 died/);
});

Deno.test("runBench() reports a publisher worker that dies and counts what it had published", async () => {
  await using server = await testServer();
  const { result, ms } = await runWithCrash(server.url, "publishers", 0);
  assert.equal(result.workerFailures.length, 1);
  assert.match(result.workerFailures[0]!, /publisher worker 1 died/);
  assert.ok(ms < 8000, `the run ended when the publisher died (it took ${ms} ms)`);
  const published = result.published[0]!;
  assert.ok(published > 0 && published < 20_000, `published ${published}`);
  for (const s of result.subscribers) {
    assert.ok(s.received >= published, `a subscriber received ${s.received} of ${published} confirmed`);
    assert.deepEqual([s.lost, s.duplicates, s.reordered, s.died], [0, 0, 0, false]);
  }
});

Deno.test("runBench() measures the workers' clocks and everyone's CPU", async () => {
  await using server = await testServer();
  const result = await runBench({
    endpoint: endpointFor({ cluster: false, url: server.url }),
    reporter: new Reporter(nullWriter),
    ...setup,
    rate: 0,
    publishers: 2,
    subscribers: 2,
    messages: 20_000,
    durationMs: 30_000,
    signal: new AbortController().signal,
  });
  assert.deepEqual(result.workerFailures, []);
  // Threads of one process read the same wall clock: a few µs apart, known to within half the shortest trip of the
  // check, which a loaded machine stretches (a thread waiting for a core), so only a loose bound is asserted here.
  assert.ok(result.clockErrorUs !== undefined && result.clockErrorUs < 50_000, `clock error ${result.clockErrorUs} µs`);
  const cpu = result.cpu;
  assert.equal(cpu.publisherWorkersMs.length, 2);
  assert.equal(cpu.subscriberWorkersMs.length, 2);
  for (const ms of [...cpu.publisherWorkersMs, ...cpu.subscriberWorkersMs]) assert.ok(ms === undefined || ms > 0);
  assert.ok(cpu.processMs > 0 && cpu.wallMs > 0);
  assert.ok(cpu.serverMs !== undefined && cpu.serverMs >= 0);
});

Deno.test("runBench() stopped (Ctrl+C) while its publisher workers publish ends at once with what was measured", async () => {
  await using server = await testServer();
  const stop = new AbortController();
  const began = performance.now();
  const result = await runBench({
    endpoint: endpointFor({ cluster: false, url: server.url }),
    reporter: new Reporter(nullWriter),
    ...setup,
    publishers: 1,
    subscribers: 2,
    messages: 40_000,
    durationMs: 20_000,
    signal: stop.signal,
    // Progress comes once a second: stopped at the first that shows messages published.
    onProgress: (published) => published > 0 && stop.abort(),
  });
  assert.ok(performance.now() - began < 15_000, "it stopped well before the 20 s the run would take");
  assert.equal(result.stopped, true);
  const published = result.published[0]!;
  assert.ok(published > 0 && published < 40_000, `published ${published}`);
  for (const s of result.subscribers) {
    assert.deepEqual([s.received, s.lost, s.duplicates, s.reordered], [published, 0, 0, 0]);
  }
  assert.deepEqual(result.workerFailures, []);
});
