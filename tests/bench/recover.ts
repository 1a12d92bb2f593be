/**
 * What recoverable channels cost (lib/recover), each figure next to a
 * baseline of the same run, 3 runs interleaved:
 * - publishing 20,000 messages of 100 B in pipelines of 1,000: the history
 *   script (offset, stream entry, PUBLISH in one EVAL) next to PUBLISH;
 * - subscriber.ts --quiet receiving them: CPU time per message with
 *   `--recover` next to without (the same numbered messages);
 * - getting back 10,000 missed messages: ChannelRecovery (meta, XRANGE in
 *   batches of 1,000, each delivered in order) next to reading the same
 *   range with bare XRANGE.
 *
 * @module
 */
import { LocalServer } from "../../lib/core/local_server.ts";
import { nullWriter, Reporter } from "../../lib/core/output.ts";
import { endpointFor } from "../../lib/endpoint/endpoint.ts";
import type { Link } from "../../lib/endpoint/link.ts";
import { BATCH_SIZE, publishBatch } from "../../lib/pubsub/publish.ts";
import { historySender } from "../../lib/recover/history_publisher.ts";
import { historyKeys } from "../../lib/recover/history.ts";
import { historyExists, readMeta, readRange } from "../../lib/recover/history_reader.ts";
import { ChannelRecovery } from "../../lib/recover/recovery.ts";
import { delay } from "../../lib/core/timing.ts";
import { ScriptProcess } from "../harness.ts";
import { median, printTable, processCpuMs, runRatios } from "./bench_kit.ts";

const RUNS = 3;
const MESSAGES = 20_000;
const MISSED = 10_000;
const PAYLOAD = "x".repeat(100);

/** Messages per second publishing MESSAGES on `channel` in pipelines of BATCH_SIZE. */
async function publishRate(link: Link, channel: string, history: boolean): Promise<number> {
  const send = history ? historySender({ kind: "size", size: 100_000 }, false) : undefined;
  const batch = Array.from({ length: BATCH_SIZE }, () => ({ channel, payload: PAYLOAD }));
  const start = performance.now();
  for (let sent = 0; sent < MESSAGES; sent += BATCH_SIZE) {
    if (send) await send(link.redis, batch.map((m) => ({ ...m })));
    else await publishBatch(link.redis, batch);
  }
  return MESSAGES / ((performance.now() - start) / 1000);
}

/** CPU ms per 1,000 messages of subscriber.ts --quiet (with `--recover` or not) receiving MESSAGES numbered ones. */
async function subscriberCpu(server: LocalServer, link: Link, channel: string, recover: boolean): Promise<number> {
  const args = [
    "--url",
    server.url,
    channel,
    "--quiet",
    "--count",
    String(MESSAGES),
    ...(recover ? ["--recover"] : []),
  ];
  await using sub = new ScriptProcess("subscriber.ts", args);
  await sub.err.waitFor(/Listening on/);
  await delay(300); // its start-up work done
  const before = processCpuMs(sub.pid)!;
  let last = before;
  const sampling = (async () => {
    for (let i = 0; i < 600; i++) {
      last = processCpuMs(sub.pid) ?? last;
      if (sub.out.text.includes("Received")) return;
      await delay(20);
    }
  })();
  const send = historySender({ kind: "size", size: 100_000 }, false);
  const batch = Array.from({ length: BATCH_SIZE }, () => ({ channel, payload: PAYLOAD }));
  for (let sent = 0; sent < MESSAGES; sent += BATCH_SIZE) await send(link.redis, batch.map((m) => ({ ...m })));
  await sampling;
  await sub.exit();
  return ((last - before) / MESSAGES) * 1000;
}

/** Ms to get back MISSED messages: ChannelRecovery, or a bare XRANGE loop over the same entries. */
async function recoveryMs(link: Link, channel: string, recovery: boolean): Promise<number> {
  const redis = link.redis;
  const start = performance.now();
  if (recovery) {
    let delivered = 0;
    const source = {
      meta: (c: string) => readMeta(redis, c),
      range: (c: string, from: number, to: number, count: number) => readRange(redis, c, from, to, count),
      exists: (c: string) => historyExists(redis, c),
    };
    const r = new ChannelRecovery(channel, source, () => delivered++, () => {});
    r.begin({ epoch: (await readMeta(redis, channel))!.epoch, offset: 0 });
    await r.recover();
    if (delivered !== MISSED) throw new Error(`recovered ${delivered} of ${MISSED}`);
  } else {
    const key = historyKeys(channel).stream;
    let from = "-";
    let read = 0;
    while (read < MISSED) {
      const rows = await redis.xrangeBuffer(key, from, "+", "COUNT", 1000);
      if (rows.length === 0) break;
      read += rows.length;
      from = `(${rows.at(-1)![0]}`;
    }
  }
  return performance.now() - start;
}

/** Runs the tables. */
export async function run(): Promise<void> {
  await using server = await LocalServer.start({ args: ["--client-output-buffer-limit", "pubsub 512mb 256mb 60"] });
  const link = await endpointFor({ cluster: false, url: server.url }).link({ reporter: new Reporter(nullWriter) });
  try {
    const plain: number[] = [];
    const kept: number[] = [];
    const subPlain: number[] = [];
    const subRecover: number[] = [];
    const xrange: number[] = [];
    const recovered: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      plain.push(await publishRate(link, `bench:rec:plain:${i}`, false));
      kept.push(await publishRate(link, `bench:rec:kept:${i}`, true));
      subPlain.push(await subscriberCpu(server, link, `bench:rec:sp:${i}`, false));
      subRecover.push(await subscriberCpu(server, link, `bench:rec:sr:${i}`, true));
      const missed = `bench:rec:missed:${i}`;
      const send = historySender({ kind: "size", size: 100_000 }, false);
      for (let n = 0; n < MISSED; n += BATCH_SIZE) {
        await send(link.redis, Array.from({ length: BATCH_SIZE }, () => ({ channel: missed, payload: PAYLOAD })));
      }
      xrange.push(await recoveryMs(link, missed, false));
      recovered.push(await recoveryMs(link, missed, true));
    }
    printTable(`Publishing ${MESSAGES.toLocaleString("en-US")} messages of 100 B, pipelines of 1,000 (${RUNS} runs)`, [
      { name: "PUBLISH (baseline)", value: median(plain), unit: "msg/s" },
      {
        name: "publisher.ts --history: one EVAL (offset, XADD, PUBLISH)",
        value: median(kept),
        unit: "msg/s",
        ...runRatios(kept, plain),
      },
    ]);
    printTable(`subscriber.ts --quiet receiving them: CPU per 1,000 messages (${RUNS} runs)`, [
      {
        name: "subscriber.ts (baseline; sees the #OFFSET/EPOCH prefix as payload)",
        value: median(subPlain),
        unit: "ms",
      },
      {
        name: "subscriber.ts --recover (prefix read, offsets followed)",
        value: median(subRecover),
        unit: "ms",
        ...runRatios(subRecover, subPlain),
      },
    ]);
    printTable(`Getting back ${MISSED.toLocaleString("en-US")} missed messages (${RUNS} runs)`, [
      { name: "bare XRANGE, 1,000 at a time (baseline)", value: median(xrange), unit: "ms" },
      {
        name: "ChannelRecovery: meta, XRANGE, delivered in order",
        value: median(recovered),
        unit: "ms",
        ...runRatios(recovered, xrange),
      },
    ]);
  } finally {
    await link.close();
  }
}

if (import.meta.main) await run();
