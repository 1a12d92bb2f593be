/**
 * A long-running script's readiness on a cluster: subscriber.ts --cluster
 * with `--metrics-port` is not ready soon after the kill of a master — at
 * the close of the node's connection, which ioredis makes or finds at its
 * next read of the slot map (every second: 0.96-0.99 s measured, where the
 * "Lost" line, said when a reconnect fails, came 2-9 s after) — and ready
 * again once the node answers (an idle node's connection is woken to find out).
 *
 * @module
 */
import assert from "node:assert/strict";
import { clusterSuite, eventually, metricsBase, ScriptProcess } from "../harness.ts";

/** The status of GET `url`, or undefined when nothing answers. */
const status = (url: string) =>
  fetch(url, { signal: AbortSignal.timeout(2000) }).then((r) => (r.body?.cancel(), r.status), () => undefined);

clusterSuite(
  "subscriber.ts --cluster --metrics-port: /readyz 503 within 3 s of a master's kill, 200 once it answers again",
  async (t, cluster) => {
    await t.step("kill and restart a master", async (prefix) => {
      await using proc = new ScriptProcess("subscriber.ts", [
        ...["--cluster", "--url", cluster.urls[0]!, "--quiet", `${prefix}news`, "--metrics-port", "0"],
      ]);
      const readyz = `${await metricsBase(proc)}/readyz`;
      await eventually(async () => await status(readyz) === 200, () => `ready: ${proc.err.text}`, 20_000);
      const master = cluster.masters.at(-1)!;
      await cluster.kill(master);
      const killedAt = performance.now();
      let answer = await status(readyz);
      while (answer === 200 && performance.now() - killedAt < 3000) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        answer = await status(readyz);
      }
      assert.equal(answer, 503, `not ready within 3 s of the kill:\n${proc.err.text}`);
      await cluster.restart(master);
      await eventually(async () => await status(readyz) === 200, () => `ready again: ${proc.err.text}`, 30_000);
      proc.kill("SIGTERM");
      assert.equal(await proc.exit(), 0, proc.err.text);
    });
  },
  { masters: 3 },
);
