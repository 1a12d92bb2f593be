/**
 * Every long-running script with `--metrics-port`: `/readyz` answers 200
 * once it does its job, 503 within a second of its server going away
 * (killed, as a crash), 200 again once the server is back, and `/livez`
 * answers meanwhile. Each script runs as a real subprocess against a server
 * of the test's own.
 *
 * @module
 */
import assert from "node:assert/strict";
import { freePort } from "../../lib/core/local_server.ts";
import { eventually, ownServerTest, ScriptProcess, testServer } from "../harness.ts";
import { LONG_RUNNING } from "./long_running.ts";

/** GET `path` of the script's ops server: its status and first line, or undefined when nothing answers. */
async function ask(base: string, path: string): Promise<{ status: number; text: string } | undefined> {
  try {
    const res = await fetch(base + path, { signal: AbortSignal.timeout(2000) });
    return { status: res.status, text: (await res.text()).trim() };
  } catch {
    return undefined;
  }
}

for (const script of LONG_RUNNING) {
  ownServerTest(
    `${script.name}: /readyz turns 503 within 1 s of the server going away and 200 after it returns`,
    async () => {
      await using server = await testServer({ own: true, notifications: "KEA" });
      const port = await freePort();
      const base = `http://127.0.0.1:${port}`;
      await using proc = new ScriptProcess(script.file, [
        ...script.args(server.url, server.prefix),
        "--metrics-port",
        String(port),
      ]);
      await eventually(
        async () => (await ask(base, "/readyz"))?.status === 200,
        `${script.name} ready: ${proc.err.text}`,
      );
      assert.deepEqual(await ask(base, "/livez"), { status: 200, text: "ok" });

      await server.local!.kill();
      const killedAt = performance.now();
      let answer = await ask(base, "/readyz");
      while (answer?.status === 200 && performance.now() - killedAt < 1000) {
        await new Promise((resolve) => setTimeout(resolve, 20));
        answer = await ask(base, "/readyz");
      }
      assert.equal(
        answer?.status,
        503,
        `not ready within 1 s of the kill: ${JSON.stringify(answer)}\n${proc.err.text}`,
      );
      assert.match(answer!.text, /^not ready: /);
      assert.deepEqual(await ask(base, "/livez"), { status: 200, text: "ok" }, "alive during the outage");

      await server.local!.start();
      await eventually(
        async () => (await ask(base, "/readyz"))?.status === 200,
        `${script.name} ready again after the server's return: ${proc.err.text}`,
        20_000,
      );
      proc.kill("SIGTERM");
      assert.equal(await proc.exit(), 0, proc.err.text);
    },
  );
}
