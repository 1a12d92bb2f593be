// Time to "ready" (connected and subscribed) for: a bench worker holding one subscriber, vs a deno child process (subscriber.ts).
import { BenchWorker } from "../lib/bench/bench_worker.ts";
import { CLOCK_BYTES } from "../lib/bench/clock.ts";
import { Counters } from "../lib/bench/worker_protocol.ts";
const url = "redis://127.0.0.1:6452";
const worker: number[] = [], proc: number[] = [];
for (let i = 0; i < 5; i++) {
  const t = performance.now();
  const counters = new Counters(new SharedArrayBuffer(Counters.bytes(1, 1)), 1);
  const w = new BenchWorker("w", { type: "init", role: "subscribers", shape: { mode: "pubsub", names: ["bench:s:0"], pattern: "bench:s:*", size: 64, rate: 0, publishers: 1, channels: 1 }, counters: counters.shared, clock: new SharedArrayBuffer(CLOCK_BYTES), members: [{ index: 0, legs: [{ url, node: url, clusterNode: false, names: ["bench:s:0"] }] }] }, { log: () => {}, dropped: () => {}, died: () => {} });
  await w.next("ready");
  worker.push(performance.now() - t);
  w.post({ type: "finish" }); await w.next("closed"); w.terminate();
  const t2 = performance.now();
  const child = new Deno.Command(Deno.execPath(), { args: ["run", "-A", "scripts/subscriber.ts", "--url", url, "bench:s:0", "--json"], stdout: "piped", stderr: "null" }).spawn();
  const reader = child.stdout.getReader();
  let text = "";
  while (!text.includes('"subscribe"')) { const { value } = await reader.read(); text += new TextDecoder().decode(value); }
  proc.push(performance.now() - t2);
  child.kill("SIGTERM"); reader.releaseLock(); await child.stdout.cancel(); await child.status;
}
const med = (a: number[]) => [...a].sort((x, y) => x - y)[2]!.toFixed(0);
console.log("worker ready ms", worker.map((x) => x.toFixed(0)).join(" "), "median", med(worker));
console.log("process ready ms", proc.map((x) => x.toFixed(0)).join(" "), "median", med(proc));
