import { CLOCK_BYTES, pingClock } from "../lib/bench/clock.ts";
for (let i = 0; i < 8; i++) {
  const worker = new Worker(new URL("../tests/bench/clock_worker.ts", import.meta.url).href, { type: "module" });
  const shared = new SharedArrayBuffer(CLOCK_BYTES);
  const ready = new Promise((resolve) => (worker.onmessage = resolve));
  worker.postMessage(shared);
  await ready;
  const t = performance.now();
  const check = pingClock(shared);
  console.log(check, (performance.now() - t).toFixed(1), "ms");
  worker.terminate();
}
