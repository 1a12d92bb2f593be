#!/usr/bin/env -S deno run -A
/**
 * `deno task demo`: lab 1 in one terminal — a subscriber and the
 * publisher's demo side by side, against the configured server or, when
 * none answers, a local one started for the occasion.
 *
 * @module
 */
import { COMMON_OPTIONS, runScript, type ScriptSpec } from "../lib/core/cli.ts";
import { readEnv, resolveUrl } from "../lib/core/config.ts";
import { ExitCode, UsageError } from "../lib/core/exit_codes.ts";
import { LAB_NOTIFICATIONS } from "../lib/core/foreground.ts";
import { defaultIo, type Io, prefixedWriter, Printer, Reporter } from "../lib/core/output.ts";
import { onShutdown } from "../lib/core/shutdown.ts";
import { CLUSTER_OPTIONS, resolveTarget } from "../lib/cluster/target.ts";
import { endpointFor } from "../lib/endpoint/mod.ts";
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

/** What the demo says when --cluster names no seed: it starts no cluster. */
const NO_SEED = "--cluster needs --url SEED (it starts no cluster): run deno task cluster in another terminal, then " +
  "deno task demo --cluster --url redis://127.0.0.1:7000";

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
    const named = flags.string("url") ?? readEnv("REDIS_URL");
    const url = resolveUrl(flags.string("url"));
    const endpoint = endpointFor(resolveTarget([url], flags.boolean("cluster")));
    // One stop request for the whole demo (the subscriber and the publisher follow it), from its very start.
    using shutdown = onShutdown(io.signal);
    await using local = wantsLocal || named === undefined
      ? await endpoint.standIn({
        always: wantsLocal,
        reporter: status,
        notifications: LAB_NOTIFICATIONS,
        onCluster: NO_SEED,
      })
      : undefined;
    if (local) {
      const why = wantsLocal ? "--local" : "No server on localhost:6379";
      status.ok(`${why}, so this demo started ${local.kind} on ${local.url}; it stops at the end.`);
    }
    const out = new Printer(io.stdout);
    let onSubscribed = () => {};
    const subscribed = new Promise<void>((resolve) => (onSubscribed = resolve));
    const subIo = side(io, shutdown.signal, "subscriber", (s) => out.cyan(s), (line) => {
      if (line.includes("(3 active)")) onSubscribed();
    });
    const target = ["--url", local?.url ?? url, ...(flags.boolean("cluster") ? ["--cluster"] : [])];
    const listening = subscriber([...target, "--count", "6", "--timeout", "10s"], subIo);
    const first = await Promise.race([subscribed.then(() => undefined), listening]);
    if (first !== undefined) return first;
    const interval = flags.string("interval");
    const pubIo = side(io, shutdown.signal, "publisher", (s) => out.magenta(s));
    const published = await publisher([...target, ...(interval ? ["--interval", interval] : [])], pubIo);
    const received = await listening;
    if (published !== ExitCode.Ok) return published;
    if (received === ExitCode.Ok) {
      status.info(
        "Next: the same in two terminals (README, lab 1): scripts/subscriber.ts in one, scripts/publisher.ts in the other.",
      );
    }
    return received;
  });
}

/** The output of one side of the demo: each line tagged with its name, in its colour. */
function side(
  io: Io,
  signal: AbortSignal,
  name: string,
  paint: (s: string) => string,
  onLine?: (line: string) => void,
): Io {
  const tag = paint(name.padEnd(10)) + "│ ";
  return { stdout: prefixedWriter(io.stdout, tag, onLine), stderr: prefixedWriter(io.stderr, tag), signal };
}

if (import.meta.main) Deno.exit(await main(Deno.args));
