/**
 * Lab 4 under load: updates published as fast as possible → `kv_updater.ts`
 * (a subprocess, as in the lab) → stored, with and without `--validate`,
 * next to a loop doing one awaited SET per message, in the same run
 * against the same server; then the same on a local cluster of 3 masters
 * (`--cluster`: one pipeline per master), without and with a replica each
 * (each pipeline then ends with a WAIT for the replica).
 *
 * @module
 */
import { Redis } from "ioredis";
import { parseUpdate } from "../../lib/kv/message.ts";
import { LocalServer } from "../../lib/core/local_server.ts";
import { LocalCluster } from "../../lib/cluster/local_cluster.ts";
import { clusterAvailable, ScriptProcess } from "../harness.ts";
import process from "node:process";
import { printTable, processCpuMs, type Row, serverCpuUs } from "./bench_kit.ts";

const MESSAGES = 200_000;
const WARMUP = 20_000;
const BASELINE_MESSAGES = 10_000;

function message(type: string, n: number): string {
  return JSON.stringify({
    type,
    updated: new Date(1_700_000_000_000 + n).toISOString(),
    valid: "2099-01-01T00:00:00Z",
    values: { n, temperature: 21.5, humidity: 40, label: "sensor reading" },
  });
}

/** One awaited SET per message: what a naive updater does. */
async function setLoop(redis: Redis): Promise<number> {
  const stored = Array.from({ length: BASELINE_MESSAGES }, (_, n) => {
    const parsed = parseUpdate(new TextEncoder().encode(message(`base${n}`, n)));
    if (!parsed.ok) throw new Error("bad bench message");
    return parsed.update;
  });
  const started = performance.now();
  for (const u of stored) await redis.set(`bench:base:${u.type}`, u.stored);
  return BASELINE_MESSAGES / ((performance.now() - started) / 1000);
}

/** What one kv_updater run measured: updates handled per second, the rate its publisher sent them at, and CPU. */
interface UpdaterRun {
  row: Row;
  published: number;
  /** CPU µs per update of kv_updater, its publisher (this process) and the server, while the updates flowed. */
  cpu?: { updater: number; publisher: number; server: number; seconds: number };
}

/**
 * Publishes WARMUP updates and waits for them, then publishes MESSAGES
 * updates (pipelines of 1000, one after another) and times until kv_updater
 * reports them all handled; the publisher's own rate is first sent to last
 * confirmed.
 */
async function updater(
  target: string[],
  redis: Redis,
  measureServer: boolean,
  name: string,
  keys: number,
  extra: string[],
): Promise<UpdaterRun> {
  const channel = `bench:${crypto.randomUUID().slice(0, 8)}`;
  await using proc = new ScriptProcess("kv_updater.ts", [
    ...target,
    "--channel",
    channel,
    "--prefix",
    `${channel}:`,
    "--stats-interval",
    "50ms",
    ...extra,
  ]);
  await proc.err.waitFor(/Listening on channel/, 30_000);
  const publish = async (from: number, to: number) => {
    for (let start = from; start < to; start += 1000) {
      const pipeline = redis.pipeline();
      for (let n = start; n < start + 1000; n++) pipeline.publish(channel, message(`k${n % keys}`, n));
      await pipeline.exec();
    }
  };
  const handled = (total: number) =>
    new RegExp(`received ${total.toLocaleString("en-US")} · stored ([\\d,]+) · superseded ([\\d,]+) .* pending 0`);
  // A service runs for days: a warm-up (the JIT compiling the hot paths) is left out of the figures.
  await publish(0, WARMUP);
  const warm = await proc.err.waitFor(handled(WARMUP), 50_000);
  const updaterMs = processCpuMs(proc.pid);
  const serverUs = measureServer ? await serverCpuUs(redis) : 0;
  const publisherCpu = process.cpuUsage();
  const started = performance.now();
  await publish(WARMUP, WARMUP + MESSAGES);
  const published = MESSAGES / ((performance.now() - started) / 1000);
  const publisherUs = process.cpuUsage(publisherCpu);
  const done = await proc.err.waitFor(handled(WARMUP + MESSAGES), 50_000);
  const seconds = (performance.now() - started) / 1000;
  const updaterMsAfter = processCpuMs(proc.pid);
  const cpu = measureServer && updaterMs !== undefined && updaterMsAfter !== undefined
    ? {
      updater: ((updaterMsAfter - updaterMs) * 1000) / MESSAGES,
      publisher: (publisherUs.user + publisherUs.system) / MESSAGES,
      server: (await serverCpuUs(redis) - serverUs) / MESSAGES,
      seconds,
    }
    : undefined;
  proc.kill("SIGTERM");
  await proc.exit();
  const count = (m: RegExpMatchArray, i: number) => Number(m[i]!.replaceAll(",", ""));
  const [writes, superseded] = [1, 2].map((i) => count(done, i) - count(warm, i)).map((n) => n.toLocaleString("en-US"));
  const note = keys < MESSAGES ? ` (${writes} writes, ${superseded} superseded)` : "";
  return {
    row: { name: `${name}${note}`, value: MESSAGES / seconds, unit: "upd/s" },
    published,
    ...(cpu ? { cpu } : {}),
  };
}

/** Runs the kv_updater benchmark and prints its table. */
export async function run(): Promise<void> {
  await using server = await LocalServer.start();
  const redis = new Redis(server.url, { maxRetriesPerRequest: 0 });
  try {
    const baseline: Row = {
      name: "one awaited SET per message (baseline)",
      value: await setLoop(redis),
      unit: "upd/s",
    };
    const runs: UpdaterRun[] = [];
    const single = ["--url", server.url];
    runs.push(await updater(single, redis, true, "kv_updater, every message a new key (goal ≥ ×5)", MESSAGES, []));
    runs.push(
      await updater(single, redis, true, "kv_updater --validate, every message a new key", MESSAGES, [
        "--validate",
      ]),
    );
    runs.push(await updater(single, redis, true, "kv_updater, 100 keys updated over and over", 100, []));
    if (clusterAvailable) {
      for (const replicas of [0, 1] as const) {
        await using cluster = await LocalCluster.start({ masters: 3, replicas });
        // PUBLISH reaches every node of a cluster: published on one master, as in the single-server rows.
        const node = new Redis(cluster.masters[0]!.url, { maxRetriesPerRequest: 0 });
        try {
          const shape = replicas ? "3 masters with a replica each (WAIT per pipeline)" : "3 masters";
          runs.push(
            await updater(
              ["--cluster", "--url", cluster.seedUrl],
              node,
              false, // the writes go to three servers: no one server's CPU to put beside it
              `kv_updater --cluster, ${shape}, every message a new key`,
              MESSAGES,
              [],
            ),
          );
        } finally {
          await node.quit();
        }
      }
    }
    const title = `${MESSAGES.toLocaleString("en-US")} updates published as fast as possible → stored ` +
      `(${server.kind}, loopback; figures drift ±25% on a shared machine)`;
    printTable(`kv_updater next to one awaited SET per message: ${title}`, [baseline, ...runs.map((r) => r.row)]);
    // Each run next to its own publisher (pipelines of 1000 PUBLISH, one after another, first sent to last confirmed).
    printTable(
      `kv_updater next to the rate its publisher sent at (goal ≥ ×0.8): ${title}`,
      runs.flatMap(({ row, published }): Row[] => [
        { name: "its publisher (baseline of the row below)", value: published, unit: "msg/s", ratio: 1 },
        { ...row, ratio: row.value / published },
      ]),
    );
    // What bounds the rate on a machine of few cores: the three processes share them.
    const measured = runs.filter((r) => r.cpu);
    if (measured.length) {
      printTable(
        `CPU time per update while they flowed, next to the publisher's (this process) per message: ${title}`,
        measured.flatMap(({ row, cpu }): Row[] => {
          const { updater, publisher, server, seconds } = cpu!;
          const cores = ((updater + publisher + server) * MESSAGES) / 1e6 / seconds;
          return [
            { name: "its publisher (baseline of the rows below)", value: publisher, unit: "µs", ratio: 1 },
            { name: row.name, value: updater, unit: "µs", ratio: updater / publisher },
            {
              name: `the server (all three: ${cores.toFixed(2)} of ${navigator.hardwareConcurrency} cores busy)`,
              value: server,
              unit: "µs",
              ratio: server / publisher,
            },
          ];
        }),
      );
    }
  } finally {
    await redis.quit();
  }
}

if (import.meta.main) await run();
