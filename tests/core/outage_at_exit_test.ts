/**
 * An outage still going on when a script stops counts up to the stop in its summary: the text line ("Connection
 * lost 1 time(s), N s in all") and `--json`'s `disconnected_seconds` — not 0.0 s after seconds without a server;
 * on a cluster, the time the durable processor's reads waited for a lost node.
 *
 * @module
 */
import assert from "node:assert/strict";
import { ExitCode } from "../../lib/core/exit_codes.ts";
import { main as apiServer } from "../../scripts/api_server.ts";
import { main as dashboard } from "../../scripts/dashboard.ts";
import { main as eventProcessor } from "../../scripts/event_processor.ts";
import { main as keyspaceListener } from "../../scripts/keyspace_listener.ts";
import { main as kvUpdater } from "../../scripts/kv_updater.ts";
import { main as subscriber } from "../../scripts/subscriber.ts";
import { slotOf } from "../../lib/cluster/topology.ts";
import { TOPICS } from "../../lib/events/kinds.ts";
import { clusterSuite, ownServerTest, runMain, testServer } from "../harness.ts";

type Main = Parameters<typeof runMain>[0];

/** Every script that reports its outages in its summary, with the arguments that keep it running; then `--json`. */
const SCRIPTS: [string, Main, string[]][] = [
  ["subscriber.ts", subscriber, ["outage:ch"]],
  ["keyspace_listener.ts", keyspaceListener, []],
  ["kv_updater.ts", kvUpdater, []],
  ["api_server.ts", apiServer, ["--port", "0"]],
  ["event_processor.ts", eventProcessor, []],
  ["event_processor.ts", eventProcessor, ["--durable"]],
  ["dashboard.ts", dashboard, ["--port", "0"]], // text only: it has no --json
  ["subscriber.ts", subscriber, ["outage:ch", "--json"]],
  ["keyspace_listener.ts", keyspaceListener, ["--json"]],
  ["kv_updater.ts", kvUpdater, ["--json"]],
  ["api_server.ts", apiServer, ["--port", "0", "--json"]],
  ["event_processor.ts", eventProcessor, ["--json"]],
  ["event_processor.ts", eventProcessor, ["--durable", "--json"]],
];

/** How long the server stays away before the scripts are stopped: the outage the summaries must count. */
const OUTAGE_MS = 1500;

ownServerTest("an outage still going on at the stop counts up to it in the summary, text and --json", async () => {
  await using server = await testServer({ own: true });
  const runs = SCRIPTS.map(([name, main, args]) => ({
    name: `${name} ${args.join(" ")}`,
    run: runMain(main, ["--url", server.url, ...args], 60_000),
  }));
  try {
    await Promise.all(runs.map(({ run }) => run.io.err.waitFor(/Press Ctrl\+C to stop/, 20_000)));
    await server.local!.stop();
    await Promise.all(runs.map(({ run }) => run.io.err.waitFor(/Connection to \S+ lost/, 10_000)));
    const lostAt = Date.now();
    await new Promise((resolve) => setTimeout(resolve, OUTAGE_MS)); // the outage itself, not a wait for an event
    for (const { run } of runs) run.io.stop();
    const atLeast = (Date.now() - lostAt) / 1000;
    const wrong: string[] = []; // every script's fault, not just the first one's
    for (const { name, run } of runs) {
      const code = await run.exit;
      const out = run.io.out.text + run.io.err.text;
      const json = name.endsWith("--json");
      const seconds = json
        ? run.io.out.text.trim().split("\n").map((l) => JSON.parse(l)).findLast((e) => "disconnected_seconds" in e)
          ?.disconnected_seconds
        : out.match(/Connection lost 1 time\(s\), ([\d.]+) s in all/)?.[1];
      // The text line rounds to a tenth.
      const least = json ? atLeast : Math.floor(atLeast * 10) / 10;
      if (code !== ExitCode.Ok) wrong.push(`${name}: exit ${code}\n${out}`);
      else if (seconds === undefined) wrong.push(`${name}: no outage in the summary\n${out}`);
      else if (Number(seconds) < least) wrong.push(`${name}: ${seconds} s, after ${atLeast} s without the server`);
    }
    assert.deepEqual(wrong, []);
  } finally {
    for (const { run } of runs) await run[Symbol.asyncDispose]();
  }
});

clusterSuite("on a cluster, a node still lost at the stop counts up to it in the summary", async (t, local) => {
  await t.step("event_processor.ts --durable --json: the master of key_submission killed", async () => {
    const dead = local.nodeOwning(slotOf(TOPICS.keySubmission));
    const args = ["--cluster", "--url", local.seedUrl, "--durable", "--json", "--quiet", "--stats-interval", "0"];
    await using run = runMain(eventProcessor, args, 60_000);
    await run.io.err.waitFor(/Press Ctrl\+C to stop/, 20_000);
    await local.kill(dead); // no replica: its slots stay unserved
    await run.io.err.waitFor(new RegExp(`Lost cluster node 127\\.0\\.0\\.1:${dead.port}`), 10_000);
    const lostAt = Date.now();
    await new Promise((resolve) => setTimeout(resolve, OUTAGE_MS)); // the outage itself, not a wait for an event
    run.io.stop();
    const atLeast = (Date.now() - lostAt) / 1000;
    assert.equal(await run.exit, ExitCode.Ok, run.io.err.text);
    const summary = run.io.out.text.trim().split("\n").map((l) => JSON.parse(l)).findLast((e) => e.event === "summary");
    assert.ok(summary.disconnected_seconds >= atLeast, `${summary.disconnected_seconds} s < ${atLeast} s`);
  });
});
