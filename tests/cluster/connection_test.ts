import assert from "node:assert/strict";
import { ClusterConnection } from "../../lib/cluster/cluster_connection.ts";
import { resolveTarget } from "../../lib/cluster/target.ts";
import { slotOf } from "../../lib/cluster/topology.ts";
import { Connection } from "../../lib/core/client.ts";
import { CliError, ExitCode } from "../../lib/core/exit_codes.ts";
import { freePort } from "../../lib/core/local_server.ts";
import { nullWriter, Reporter } from "../../lib/core/output.ts";
import { main as ping } from "../../scripts/ping.ts";
import { faultProxy } from "../fake_servers.ts";
import { captureIo, clusterSuite, testServer, withClient } from "../harness.ts";

const quiet = new Reporter(nullWriter);

/** What `open` throws. */
async function openError(open: () => Promise<{ close(): Promise<void> }>): Promise<CliError> {
  try {
    const conn = await open();
    await conn.close();
  } catch (err) {
    assert.ok(err instanceof CliError, String(err));
    return err;
  }
  assert.fail("it connected");
}

Deno.test("resolveTarget: several URLs need --cluster; a cluster has only database 0", () => {
  assert.throws(() => resolveTarget(["redis://127.0.0.1:1", "redis://127.0.0.1:2"], false), /--cluster/);
  assert.throws(() => resolveTarget(["redis://127.0.0.1:1,redis://127.0.0.1:2"], false), /--cluster/);
  assert.throws(() => resolveTarget(["redis://127.0.0.1:1/3"], true), /database 0/);
  const both = resolveTarget(["redis://127.0.0.1:1", "redis://:pw@127.0.0.1:2/0"], true);
  assert.deepEqual(both, { cluster: true, urls: ["redis://127.0.0.1:1", "redis://:pw@127.0.0.1:2/0"] });
  assert.throws(() => resolveTarget(["redis://u:hunter2@127.0.0.1:1", "redis://127.0.0.1:2"], false), (err) => {
    assert.ok(!(err as Error).message.includes("hunter2"), "no password in the message");
    return true;
  });
});

Deno.test("a seed that cannot be reached gets the seed's own diagnosis, exit 3, no password", async () => {
  const url = `redis://:hunter2@127.0.0.1:${await freePort()}`;
  const err = await openError(() => ClusterConnection.open({ urls: [url], reporter: quiet, connectTimeoutMs: 1000 }));
  assert.equal(err.exitCode, ExitCode.Connect);
  assert.match(err.message, /refused/);
  assert.ok(!err.message.includes("hunter2"));
});

Deno.test("a seed that is a single server: exit 2, saying to drop --cluster", async () => {
  await using server = await testServer();
  const err = await openError(() => ClusterConnection.open({ urls: [server.url], reporter: quiet }));
  assert.equal(err.exitCode, ExitCode.Usage);
  assert.match(err.message, /not a cluster node \(cluster_enabled:0\): drop --cluster/);
});

clusterSuite("a cluster client on 3 masters with a replica each", async (t, local) => {
  await t.step("a seed slow to answer (1.5 s a reply): the first slot map may take the connect time", async () => {
    await using slow = faultProxy(local.masters[0]!.port);
    slow.slowReplies(1500);
    const conn = await ClusterConnection.open({ urls: [slow.url], reporter: quiet, connectTimeoutMs: 8000 });
    try {
      assert.equal(await conn.cluster.ping(), "PONG"); // routed to the nodes the slot map names, not the proxy
    } finally {
      await conn.close();
    }
  });

  await t.step("a plain connection to a node refuses it, saying to add --cluster; ping.ts too", async () => {
    const err = await openError(() => Connection.open({ url: local.seedUrl, reporter: quiet }));
    assert.equal(err.exitCode, ExitCode.Usage);
    assert.match(err.message, /cluster_enabled:1.*--cluster/);
    const io = captureIo();
    assert.equal(await ping(["--url", local.seedUrl], io), ExitCode.Usage);
    assert.match(io.err.text, /--cluster/);
  });

  await t.step("keys are routed to the master that serves their slot, through any seed", async (prefix) => {
    const conn = await ClusterConnection.open({ urls: [local.replicas[0]!.url, local.seedUrl], reporter: quiet });
    try {
      assert.equal(conn.masters().length, 3);
      const keys = Array.from({ length: 60 }, (_, i) => `${prefix}k${i}`);
      for (const key of keys) await conn.cluster.set(key, key);
      const owners = new Set<number>();
      for (const key of keys) {
        const owner = local.nodeOwning(slotOf(key));
        owners.add(owner.port);
        assert.equal(await withClient(owner.url, (redis) => redis.get(key)), key);
        assert.equal(conn.owners[slotOf(key)], `127.0.0.1:${owner.port}`);
      }
      assert.equal(owners.size, 3, "60 keys land on all three masters");
      for (const key of keys) await conn.cluster.del(key);
    } finally {
      await conn.close();
    }
  });

  await t.step("ping.ts --cluster: the state, every node with its slots and round trip", async () => {
    const io = captureIo();
    assert.equal(await ping(["--cluster", "--url", local.seedUrl, "--json"], io), ExitCode.Ok);
    const report = JSON.parse(io.out.text);
    assert.equal(report.event, "cluster_report");
    assert.equal(report.state, "ok");
    assert.equal(report.slots_ok, 16384);
    assert.equal(report.nodes.length, 6);
    for (const n of report.nodes) assert.ok(typeof n.ping_ms === "number", `${n.address} answered PING`);
    const masters = report.nodes.filter((n: { role: string }) => n.role === "master");
    assert.equal(masters.length, 3);
    const text = captureIo();
    assert.equal(await ping(["--cluster", "--url", local.seedUrl], text), ExitCode.Ok);
    for (const m of local.masters) assert.match(text.out.text, new RegExp(`127\\.0\\.0\\.1:${m.port}\\s+master`));
    assert.match(text.out.text, /failover\s+every master has a replica/);
  });

  await t.step("a master killed: the slots' move to its replica is reported; keys work", async (p) => {
    const io = captureIo();
    const conn = await ClusterConnection.open({ urls: [local.seedUrl], reporter: new Reporter(io.stderr) });
    try {
      const victim = local.masters[1]!;
      const key = Array.from({ length: 200 }, (_, i) => `${p}f${i}`).find((k) =>
        local.nodeOwning(slotOf(k)).id === victim.id
      )!;
      await local.kill(victim);
      const heir = await local.waitFailover(victim);
      await io.err.waitFor(
        new RegExp(`Slots [0-9 -]+ moved from 127\\.0\\.0\\.1:${victim.port} to 127\\.0\\.0\\.1:${heir.port}`),
      );
      assert.equal(await conn.cluster.set(key, "after"), "OK");
      assert.equal(await withClient(heir.url, (redis) => redis.get(key)), "after");
      await conn.cluster.del(key);
      assert.match(io.err.text, new RegExp(`127\\.0\\.0\\.1:${victim.port} serves no slots now`));
      // Never a move to the dead master (a map read from a node that had not heard of the failover yet).
      assert.doesNotMatch(io.err.text, new RegExp(`moved from \\S+ to 127\\.0\\.0\\.1:${victim.port}\\b`));
      assert.match(conn.outageSummary("x") ?? "", /slot map changed 1 time\(s\)/);
    } finally {
      await conn.close();
    }
  });
}, { masters: 3, replicas: 1, nodeTimeoutMs: 1000 });
