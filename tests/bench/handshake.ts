/**
 * Lab 3's handshake round trip (keyspace_writer → notification →
 * keyspace_listener → handshake → notification → writer) next to a plain
 * PING and a single notification hop, measured in the same run on one
 * throw-away server. The listener answers in one round trip (Lua script)
 * or, with `--write-url`, in two (read, then write).
 *
 *   deno task bench handshake
 *
 * @module
 */
import { Redis } from "ioredis";
import { LocalServer } from "../../lib/core/local_server.ts";
import { formatMs, type LatencySummary, summarizeLatency } from "../../lib/core/latency.ts";
import { keyspaceChannel } from "../../lib/keyspace/channels.ts";
import { withTimeout } from "../../lib/core/timing.ts";
import { ScriptProcess } from "../harness.ts";

const PINGS = 1000;
const HOPS = 500;
const HANDSHAKES = 1000;
const WARMUP = 50;

/** Sequential PINGs: one round trip each. */
async function pingTimes(url: string): Promise<number[]> {
  const redis = new Redis(url);
  try {
    const times: number[] = [];
    for (let i = 0; i < WARMUP + PINGS; i++) {
      const t0 = performance.now();
      await redis.ping();
      if (i >= WARMUP) times.push(performance.now() - t0);
    }
    return times;
  } finally {
    await redis.quit();
  }
}

/** SET a key and wait for its own keyspace notification: one write plus one event. */
async function hopTimes(url: string): Promise<number[]> {
  const redis = new Redis(url);
  const sub = new Redis(url);
  try {
    const key = "bench:hop";
    await sub.subscribe(keyspaceChannel(0, key));
    let wake: () => void = () => {};
    sub.on("message", () => wake());
    const times: number[] = [];
    for (let i = 0; i < WARMUP + HOPS; i++) {
      const arrived = new Promise<number>((resolve) => (wake = () => resolve(performance.now())));
      const t0 = performance.now();
      await redis.set(key, String(i));
      const t1 = await withTimeout(arrived, 5000, () => new Error("notification did not arrive"));
      if (i >= WARMUP) times.push(t1 - t0);
    }
    await sub.unsubscribe(keyspaceChannel(0, key));
    return times;
  } finally {
    await sub.quit();
    await redis.quit();
  }
}

/** The real scripts, each its own process: the writer's summary of HANDSHAKES round trips. */
async function handshakeSummary(url: string, listenerArgs: string[]): Promise<LatencySummary & { timeouts: number }> {
  await using listener = new ScriptProcess("keyspace_listener.ts", ["--url", url, "--json", ...listenerArgs]);
  await listener.err.waitFor(/Listening on /, 20_000);
  await using writer = new ScriptProcess("keyspace_writer.ts", [
    "--url",
    url,
    "--count",
    String(WARMUP + HANDSHAKES),
    "--interval",
    "0",
    "--json",
  ]);
  const code = await writer.exit(50_000);
  if (code !== 0) throw new Error(`keyspace_writer exited with ${code}: ${writer.err.text}`);
  listener.kill("SIGINT");
  await listener.exit();
  const rounds = writer.out.text.trim().split("\n").map((l) => JSON.parse(l)).filter((x) => x.event === "round");
  const times = rounds.slice(WARMUP).filter((r) => typeof r.round_trip_ms === "number").map((r) => r.round_trip_ms);
  return { ...summarizeLatency(times), timeouts: rounds.filter((r) => r.outcome === "timeout").length };
}

/**
 * The same round trip between two bare ioredis processes (SET, EVAL on the
 * notification, the writer woken by the handshake's notification): what
 * four socket hops through three processes cost on this machine, with none
 * of the scripts' work — the floor the scripts are held to.
 */
async function bareTimes(url: string): Promise<number[]> {
  const common = `import { Redis } from "ioredis"; const url = ${JSON.stringify(url)};
    const cmd = new Redis(url), sub = new Redis(url);`;
  const listenerCode = `${common}
    const S = "redis.call('SET', KEYS[2], ARGV[1] .. redis.call('GET', KEYS[1])) return 1";
    sub.on("message", () => void cmd.eval(S, 2, "bench:bare", "bench:bare_hs", "listener handshake for "));
    await sub.subscribe(${JSON.stringify(keyspaceChannel(0, "bench:bare"))});
    console.log("ready");
    await new Promise((r) => Deno.addSignalListener("SIGTERM", r));
    await sub.quit(); await cmd.quit();`;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", "--ext=ts", listenerCode],
    stdout: "piped",
    stderr: "null",
    stdin: "null",
    cwd: new URL("../..", import.meta.url).pathname,
  }).spawn();
  const reader = child.stdout.getReader();
  try {
    await withTimeout(reader.read(), 20_000, () => new Error("the bare listener did not start"));
    const cmd = new Redis(url);
    const sub = new Redis(url);
    try {
      let wake: (t: number) => void = () => {};
      sub.on("message", () => wake(performance.now()));
      await sub.subscribe(keyspaceChannel(0, "bench:bare_hs"));
      const times: number[] = [];
      for (let i = 0; i < WARMUP + HANDSHAKES; i++) {
        const arrived = new Promise<number>((resolve) => (wake = resolve));
        const t0 = performance.now();
        await cmd.set("bench:bare", `writer timestamp ${i}`);
        const t1 = await withTimeout(arrived, 5000, () => new Error("the bare handshake did not arrive"));
        if (i >= WARMUP) times.push(t1 - t0);
      }
      return times;
    } finally {
      await sub.quit();
      await cmd.quit();
    }
  } finally {
    child.kill("SIGTERM");
    reader.releaseLock();
    await child.stdout.cancel().catch(() => {});
    await child.status;
  }
}

/** Runs the benchmark and prints its table. */
export async function run(): Promise<void> {
  await using server = await LocalServer.start({ notifications: "K$" });
  const ping = summarizeLatency(await pingTimes(server.url));
  const hop = summarizeLatency(await hopTimes(server.url));
  const bare = summarizeLatency(await bareTimes(server.url));
  const script = await handshakeSummary(server.url, []);
  const twoTrips = await handshakeSummary(server.url, ["--write-url", `${server.url}/0`]);
  const rows: [string, LatencySummary, string][] = [
    ["PING round trip (baseline)", ping, ""],
    ["SET → own keyspace event", hop, ""],
    ["bare ioredis writer ↔ listener (the floor)", bare, ""],
    ["handshake, listener: Lua, 1 round trip", script, `${script.timeouts} timed out`],
    ["handshake, listener: read + write, 2 trips", twoTrips, `${twoTrips.timeouts} timed out`],
  ];
  const width = Math.max(...rows.map(([name]) => name.length));
  console.log(`\nKeyspace handshake round trip (${server.kind}, loopback, ${HANDSHAKES} handshakes, ${PINGS} PINGs)`);
  console.log(`  ${"".padEnd(width)}  ${"p50".padStart(9)} ${"p99".padStart(9)}  ×PING p50  ×PING p99`);
  for (const [name, s, note] of rows) {
    const ratio = (a: number, b: number) => `×${(a / b).toFixed(1)}`.padStart(9);
    console.log(
      `  ${name.padEnd(width)}  ${formatMs(s.p50).padStart(9)} ${formatMs(s.p99).padStart(9)}  ` +
        `${ratio(s.p50, ping.p50)}  ${ratio(s.p99, ping.p99)}  ${note}`,
    );
  }
}

if (import.meta.main) await run();
