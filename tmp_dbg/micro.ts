import { Buffer } from "node:buffer";
import { decodeStampBytes, StampWriter, nowMicros } from "../lib/bench/payload.ts";
import { Tally } from "../lib/bench/tally.ts";
import { LatencyHistogram } from "../lib/bench/latency_histogram.ts";
import { PushCutter } from "../lib/wire/push_cutter.ts";
const N = 1_000_000;
const w = new StampWriter(0, 64);
const t0 = nowMicros();
const payloads = Array.from({ length: N }, (_, i) => w.stamp(i, t0 - 100 + Math.floor(i / 1000)));
// build RESP3 pushes
const parts: Buffer[] = [];
for (let i = 0; i < 20000; i++) parts.push(Buffer.from(`>3\r\n$7\r\nmessage\r\n$14\r\nbench:abc123:0\r\n$64\r\n`), Buffer.from(payloads[i]!), Buffer.from("\r\n"));
const wire = Buffer.concat(parts);
const time = (name: string, f: () => void) => { const a = performance.now(); f(); console.log(name, ((performance.now() - a) * 1000 / N).toFixed(3), "µs/msg"); };
for (let rep = 0; rep < 2; rep++) {
time("decode", () => { for (let i = 0; i < N; i++) decodeStampBytes(payloads[i]!); });
const tally = new Tally(1, 1);
time("decode+tally", () => { for (let i = 0; i < N; i++) tally.add(decodeStampBytes(payloads[i]!)!); });
const h = new LatencyHistogram();
time("hist", () => { for (let i = 0; i < N; i++) h.record(100 + (i % 50)); });
time("now", () => { for (let i = 0; i < N; i++) nowMicros(); });
let n = 0;
const cutter = new PushCutter({ message: () => n++, pmessage: () => {}, smessage: () => {} }, () => {});
time("cutter (per msg, 64k chunks)", () => { for (let k = 0; k < N / 20000; k++) for (let off = 0; off < wire.length; off += 65536) cutter.feed(wire.subarray(off, off + 65536)); });
}
