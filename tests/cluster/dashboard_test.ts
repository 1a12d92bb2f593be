import assert from "node:assert/strict";
import { slotOf } from "../../lib/cluster/topology.ts";
import { Chromium, chromiumAvailable, pageWaitsFor } from "../chromium.ts";
import { clusterSuite, withClient } from "../harness.ts";
import { openLive, rowOf, startDashboard } from "../dashboard/live_dashboard.ts";

// Without Chromium the browser tests are ignored (tests/chromium.ts says so once, with the install line).
if (chromiumAvailable) {
  clusterSuite("dashboard.ts --cluster, per node", async (t, local) => {
    await t.step("every master in its own row; a PUBLISH counted once; key events from every master", async (p) => {
      await using browser = await Chromium.launch();
      await using dash = await startDashboard(local.seedUrl, ["--cluster"]);
      const tab = await openLive(browser, dash.base);
      const nodeRows = await browser.evaluate(
        tab,
        pageWaitsFor(`document.querySelectorAll("#nodes tbody tr").length === 3`, 10_000),
      );
      assert.ok(nodeRows, "the page lists the 3 masters");
      const shownNodes = String(await browser.evaluate(tab, `document.querySelector("#nodes").innerText`));
      for (const m of local.masters) assert.match(shownNodes, new RegExp(`127\\.0\\.0\\.1:${m.port}`));

      const channel = `${p}news`;
      await withClient(local.masters[2]!.url, (r) => r.publish(channel, "once"));
      const shown = await browser.evaluate(
        tab,
        pageWaitsFor(`[...document.querySelectorAll("#messages .payload")].some((td) => td.textContent === "once")`),
      );
      assert.ok(shown, "the message is shown");
      assert.ok(await browser.evaluate(tab, `${rowOf(channel)} !== null`), "its channel is listed");
      assert.equal(
        await browser.evaluate(
          tab,
          `[...document.querySelectorAll("#messages .payload")].filter((td) => td.textContent === "once").length`,
        ),
        1,
        "a PUBLISH reaches every node but is counted once",
      );

      // One key per master, each written on its own master: the events come from three nodes.
      const keys = local.masters.map((m) =>
        Array.from({ length: 500 }, (_, i) => `${p}k${i}`).find((k) => local.nodeOwning(slotOf(k)).id === m.id)!
      );
      for (const key of keys) await withClient(local.nodeOwning(slotOf(key)).url, (r) => r.set(key, "v", "PX", 60_000));
      const all = await browser.evaluate(
        tab,
        pageWaitsFor(
          `${
            JSON.stringify(keys)
          }.every((k) => [...document.querySelectorAll("#keys td")].some((td) => td.textContent === k))`,
        ),
      );
      assert.ok(all, `key events for ${keys.join(", ")} from their three masters`);
      for (const key of keys) await withClient(local.nodeOwning(slotOf(key)).url, (r) => r.del(key));
    });
  }, { notifications: "KEA" });
}
