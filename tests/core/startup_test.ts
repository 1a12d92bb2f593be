/**
 * What every script does before its slow modules are evaluated (lib/core/startup.ts): started without `-A`, one
 * line and exit code 10 instead of a `NotCapable` from inside an npm package; a Ctrl+C at any moment of the
 * start-up, a stop request with exit code 0 and a line saying so instead of a silent 130.
 */
import assert from "node:assert/strict";
import { ExitCode } from "../../lib/core/exit_codes.ts";
import { STARTUP_MARK, TRACE_STARTUP_ENV } from "../../lib/core/startup.ts";
import { delay } from "../../lib/core/timing.ts";
import { stallingServer } from "../fake_servers.ts";
import { ScriptProcess, testServer } from "../harness.ts";

/** Runs `scripts/<script>` with the given `deno run` permission flags; its exit code and stderr. */
async function runWith(permissions: string[], script: string, args: string[]): Promise<{ code: number; err: string }> {
  const { code, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...permissions, new URL(`../../scripts/${script}`, import.meta.url).pathname, ...args],
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).output();
  return { code, err: new TextDecoder().decode(stderr) };
}

Deno.test("a script run without -A says which permissions to grant, with exit code 10", async () => {
  const runs = [
    { permissions: [], script: "ping.ts", missing: "env, net, read, write, run, sys" },
    { permissions: ["--allow-net", "--allow-env"], script: "subscriber.ts", missing: "read, write, run, sys" },
  ];
  for (const { permissions, script, missing } of runs) {
    const { code, err } = await runWith(permissions, script, ["--url", "redis://127.0.0.1:1", "ch"]);
    assert.equal(code, ExitCode.Permission, err);
    // The first run without -A may also list npm downloads; the script's own output is its last line.
    assert.equal(
      err.trim().split("\n").at(-1),
      `error: ${script} needs ${missing} access, not granted: run it with -A (deno run -A scripts/${script} …)`,
    );
    assert.doesNotMatch(err, /NotCapable|Uncaught/);
  }
});

/**
 * How long after a script starts listening for signals the Ctrl+C comes: during start-up, connecting (bench.ts starts
 * and connects its worker threads for about half a second), running.
 */
const MOMENTS_MS = [0, 40, 120, 250, 400, 600];

Deno.test("Ctrl+C at any early moment stops ping, bench, keyspace_writer, demo_events and event_processor --durable with exit code 0 and a line", async () => {
  await using server = await testServer();
  // A server that never answers: the scripts stay "still connecting" for as long as the test needs.
  await using silent = stallingServer();
  const cases: { script: string; args: string[] }[] = [
    { script: "ping.ts", args: ["--url", silent.url, "--timeout", "30s"] },
    { script: "bench.ts", args: ["--url", server.url, "--duration", "30s", "--rate", "1000"] },
    {
      script: "keyspace_writer.ts",
      args: [
        "--url",
        server.url,
        "--key",
        `${server.prefix}k`,
        "--handshake-key",
        `${server.prefix}hs`,
        "--interval",
        "10s",
      ],
    },
    { script: "demo_events.ts", args: ["--url", silent.url, "--timeout", "30s"] },
    { script: "event_processor.ts", args: ["--url", server.url, "--durable", "--stats-interval", "0"] },
  ];
  const failures: string[] = [];
  for (const moment of MOMENTS_MS) {
    await Promise.all(cases.map(async ({ script, args }) => {
      await using p = new ScriptProcess(script, args, { [TRACE_STARTUP_ENV]: "1" });
      await p.err.waitFor(new RegExp(STARTUP_MARK.replace(/[+.]/g, "\\$&")), 30_000);
      await delay(moment); // the moment itself is what is tested
      p.kill("SIGINT");
      const code = await p.exit(15_000).catch((e: Error) => e.message);
      const said = (p.out.text + p.err.text.replace(STARTUP_MARK, "")).trim();
      if (code !== ExitCode.Ok || said === "") {
        failures.push(`${script} ${moment} ms after start-up: exit code ${code}, said ${JSON.stringify(said)}`);
      }
    }));
  }
  assert.deepEqual(failures, []);
});
