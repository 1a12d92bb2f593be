import { runBench } from "/work/wt/bench-workers/lib/bench/run.ts";
import { Reporter } from "/work/wt/bench-workers/lib/core/output.ts";
const [pub, sub, msgs, rate] = Deno.args.map(Number);
const r = await runBench({ endpoint: (await import("/work/wt/bench-workers/lib/endpoint/endpoint.ts")).endpointFor({ cluster: false, url: "redis://127.0.0.1:6452" }), reporter: new Reporter(Deno.stderr), publishers: pub!, subscribers: sub!, messages: msgs!, durationMs: 60000, size: 64, rate: rate ?? 0, channels: 1, mode: "pubsub", signal: new AbortController().signal });
const total = r.published.reduce((a, b) => a + b, 0);
console.log({ pubMs: r.publishingMs, pubRate: total / r.publishingMs * 1000, subs: r.subscribers.map(s => [s.received, s.received / s.flowingMs * 1000]), cpu: r.cpu, clock: r.clockErrorUs, lat: r.latency });
