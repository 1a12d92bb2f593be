/**
 * publisher.ts --history --retry through a server restart (data kept): a
 * batch cut off by the restart is sent again, and what of it had gone in
 * is not published twice — the history holds every message once, in order.
 */
import assert from "node:assert/strict";
import { ownServerTest, ScriptProcess, testClient, testServer } from "../harness.ts";
import { historyKeys } from "../../lib/recover/history.ts";
import { delay } from "../../lib/core/timing.ts";

ownServerTest("publisher.ts --history --retry: each message once in the history through a restart", async () => {
  await using server = await testServer({ own: true, args: ["--appendonly", "yes", "--appendfsync", "always"] });
  const channel = `${server.prefix}retry`;
  const count = 3000;
  await using pub = new ScriptProcess("publisher.ts", [
    "--url",
    server.url,
    "--history",
    "100000",
    channel,
    "p {{n}}",
    "--repeat",
    String(count),
    "--rate",
    "2000",
    "--retry",
    "20s",
    "--quiet",
  ]);
  await delay(700);
  await server.local!.stop();
  await delay(500);
  await server.local!.start();
  assert.equal(await pub.exit(30_000), 0, pub.err.text);
  if (Deno.env.get("RECOVER_TEST_VERBOSE")) console.error(pub.err.text, pub.out.text);
  await using redis = testClient(server.url);
  const rows = await redis.xrange(historyKeys(channel).stream, "-", "+");
  const payloads = rows.map(([, fields]) => fields[1]);
  const firstWrong = payloads.findIndex((p, i) => p !== `p ${i + 1}`);
  assert.equal(firstWrong, -1, `entry ${firstWrong + 1} is "${payloads[firstWrong]}"`);
  assert.equal(payloads.length, count);
  assert.deepEqual(rows.map(([id]) => id), rows.map((_, i) => `${i + 1}-0`));
});
