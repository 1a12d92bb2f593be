#!/usr/bin/env -S deno run -A
/**
 * `deno task demo`: lab 1 in one terminal — a subscriber and the
 * publisher's demo side by side, against the configured server or, when
 * none answers, a local one started for the occasion.
 *
 * @module
 */
import { COMMON_OPTIONS, runScript, type ScriptSpec } from "../lib/core/cli.ts";
import { readEnv } from "../lib/core/config.ts";
import { CliError, ExitCode, UsageError } from "../lib/core/exit_codes.ts";
import { LAB_NOTIFICATIONS } from "../lib/core/foreground.ts";
import { LocalServer } from "../lib/core/local_server.ts";
import { defaultIo, type Io, prefixedWriter, Printer, Reporter } from "../lib/core/output.ts";
import { Connection } from "../lib/core/client.ts";
import { onShutdown } from "../lib/core/shutdown.ts";
import { resolveUrl } from "../lib/core/config.ts";
import { CLUSTER_OPTIONS, clusterFromEnv } from "../lib/cluster/target.ts";
import { main as publisher } from "./publisher.ts";
import { main as subscriber } from "./subscriber.ts";

const SPEC: ScriptSpec = {
  name: "demo.ts",
  summary: "lab 1 in one terminal: a subscriber and the publisher's demo together.",
  usage: ["[--url URL | --local] [--interval DURATION]", "--cluster --url SEED [--interval DURATION]"],
  options: {
    interval: { type: "string", arg: "DURATION", help: "pause between the demo's messages (default 0.5–1.5 s)" },
    local: { type: "boolean", help: "start a throw-away local server even when one answers on localhost:6379" },
    url: COMMON_OPTIONS.url!,
    cluster: CLUSTER_OPTIONS.cluster!,
    help: COMMON_OPTIONS.help!,
  },
  examples: [
    "deno task demo",
    "deno task demo --url redis://localhost:6380 --interval 200ms",
    "deno task demo --local            # leave the server on localhost:6379 alone",
    "deno task demo --cluster --url redis://127.0.0.1:7000   # on the cluster of deno task cluster",
  ],
};

/**
 * Runs the one-terminal demo.
 *
 * @param args command-line arguments
 * @param io output streams and an optional stop signal
 * @returns the exit code
 */
export function main(args: string[], io: Io = defaultIo()): Promise<number> {
  return runScript(SPEC, args, io, async (flags) => {
    const status = new Reporter(io.stderr);
    const wantsLocal = flags.boolean("local");
    if (wantsLocal && flags.string("url") !== undefined) throw new UsageError("--local and --url exclude each other");
    const cluster = flags.boolean("cluster") || clusterFromEnv();
    const explicit = flags.string("url") ?? readEnv("REDIS_URL");
    if (cluster && (wantsLocal || explicit === undefined)) {
      throw new UsageError(
        "--cluster needs --url SEED (it starts no cluster): run deno task cluster in another terminal, then " +
          "deno task demo --cluster --url redis://127.0.0.1:7000",
      );
    }
    let url = resolveUrl(flags.string("url"));
    // One stop request for the whole demo (the subscriber and the publisher follow it), from its very start.
    using shutdown = onShutdown(io.signal);
    let local: LocalServer | undefined;
    if (!cluster && (wantsLocal || (!explicit && !(await reachable(url, status))))) {
      local = await LocalServer.start({ notifications: LAB_NOTIFICATIONS });
      url = local.url;
      const why = wantsLocal ? "--local" : "No server on localhost:6379";
      status.ok(`${why}, so this demo started ${local.kind} on ${url}; it stops at the end.`);
    }
    try {
      const out = new Printer(io.stdout);
      let onSubscribed = () => {};
      const subscribed = new Promise<void>((resolve) => (onSubscribed = resolve));
      const tag = (name: string, paint: (s: string) => string) => paint(name.padEnd(10)) + "│ ";
      const subIo: Io = {
        stdout: prefixedWriter(io.stdout, tag("subscriber", (s) => out.cyan(s)), (line) => {
          if (line.includes("(3 active)")) onSubscribed();
        }),
        stderr: prefixedWriter(io.stderr, tag("subscriber", (s) => out.cyan(s))),
        signal: shutdown.signal,
      };
      const pubIo: Io = {
        stdout: prefixedWriter(io.stdout, tag("publisher", (s) => out.magenta(s))),
        stderr: prefixedWriter(io.stderr, tag("publisher", (s) => out.magenta(s))),
        signal: shutdown.signal,
      };
      const target = ["--url", url, ...(cluster ? ["--cluster"] : [])];
      const listening = subscriber([...target, "--count", "6", "--timeout", "10s"], subIo);
      const first = await Promise.race([subscribed.then(() => undefined), listening]);
      if (first !== undefined) return first;
      const interval = flags.string("interval");
      const published = await publisher([...target, ...(interval ? ["--interval", interval] : [])], pubIo);
      const received = await listening;
      if (published !== ExitCode.Ok) return published;
      if (received === ExitCode.Ok) {
        status.info(
          "Next: the same in two terminals (README, lab 1): scripts/subscriber.ts in one, scripts/publisher.ts in the other.",
        );
      }
      return received;
    } finally {
      await local?.[Symbol.asyncDispose]();
    }
  });
}

async function reachable(url: string, reporter: Reporter): Promise<boolean> {
  try {
    const conn = await Connection.open({ url, reporter, connectTimeoutMs: 2000 });
    await conn.close();
    return true;
  } catch (err) {
    if (err instanceof CliError && err.exitCode === ExitCode.Connect && /refused/.test(err.message)) return false;
    throw err;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
