/**
 * The cluster modes' NDJSON contract: each script runs with `--cluster --json` on a local cluster and every line is
 * held to README's tables (the main one and the cluster one); every row of the cluster table must be produced here.
 *
 * @module
 */
import assert from "node:assert/strict";
import { ExitCode } from "../../lib/core/exit_codes.ts";
import { main as ping } from "../../scripts/ping.ts";
import { captureIo, clusterSuite } from "../harness.ts";
import { CONTRACT, hold, rowKey, SEEN } from "../json_contract.ts";

clusterSuite("every script's --cluster --json output follows README's tables", async (t, local) => {
  const seed = local.seedUrl;

  await t.step("ping.ts --cluster", async () => {
    const io = captureIo();
    assert.equal(await ping(["--cluster", "--url", seed, "--json"], io), ExitCode.Ok);
    hold("ping.ts --cluster", io);
  });

  await t.step("every row of README's cluster table was produced", () => {
    const missing = CONTRACT.filter((r) => r.script.includes("--cluster")).map((r) =>
      rowKey(r.script, r.stream, r.event)
    )
      .filter((k) => !SEEN.has(k));
    assert.deepEqual(missing, [], "README's cluster table lists events no script wrote here");
  });
});
