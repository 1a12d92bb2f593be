import { Buffer } from "node:buffer";
import { readStamp, StampWriter, nowMicros, type Stamp } from "../lib/bench/payload.ts";
import { Tally } from "../lib/bench/tally.ts";
import { LatencyHistogram } from "../lib/bench/latency_histogram.ts";
import { PushCutter } from "../lib/wire/push_cutter.ts";
import { encodePublishBatch } from "../lib/wire/publish_batch.ts";
const N = 1_000_000;
const w = new StampWriter(0, 64);
const t0 = nowMicros();
const payloads = Array.from({ length: N }, (_, i) => w.stamp(i, t0 - 100 + Math.floor(i / 1000)));
const parts: Buffer[] = [];
for (let i = 0; i < 20000; i++) parts.push(Buffer.from(`>3\r\n$7\r\nmessage\r\n$14\r\nbench:abc123:0\r\n$64\r\n`), Buffer.from(payloads[i]!), Buffer.from("\r\n"));
const wire = Buffer.concat(parts);
const time = (name: string, f: () => void) => { const a = performance.now(); f(); console.log(name, ((performance.now() - a) * 1000 / N).toFixed(3), "µs/msg"); };
const st: Stamp = { publisher: 0, seq: 0, sentUs: 0 };
for (let rep = 0; rep < 3; rep++) {
const tally = new Tally(1, 1);
const h = new LatencyHistogram();
time("read+tally+hist", () => { for (let i = 0; i < N; i++) { readStamp(payloads[i]!, st); tally.add(st); h.record(t0 - st.sentUs); } });
let n = 0;
const cutter = new PushCutter({ message: () => n++, pmessage: () => {}, smessage: () => {} }, () => {});
time("cutter", () => { for (let k = 0; k < N / 20000; k++) for (let off = 0; off < wire.length; off += 65536) cutter.feed(wire.subarray(off, off + 65536)); });
time("stamp", () => { for (let i = 0; i < N; i++) w.stamp(i, t0); });
const msgs = payloads.slice(0, 1000).map((p) => ({ channel: "bench:abc123:0", payload: p }));
time("encode", () => { for (let i = 0; i < N / 1000; i++) encodePublishBatch(msgs); });
}
