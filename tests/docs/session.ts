/**
 * Running a page's runnable blocks, in order, the way a reader would type
 * them: in terminals that keep running (a subscriber) next to commands that
 * end (a publisher), against servers the page's session line asks for, with
 * the docs' ports replaced by free ones.
 *
 * @module
 */
import { consecutiveFreePorts, ScriptProcess, type TestServer, testServer, withClient } from "../harness.ts";
import { commandLines } from "./commands.ts";
import { type Block, ROOT } from "./markdown.ts";
import { matchAnyOrder, matchInOrder, type Pattern, pattern, recordValues } from "./transcript.ts";

/** What a page's `<!-- session: … -->` line asks for. */
export interface SessionSpec {
  /** The docs' ports and what the session puts behind each. */
  ports: { port: number; kind: "lab" | "plain" | "distribution" | "pair" | "cluster" | "cluster+replicas" | "free" }[];
  /** Environment of every command (ports in values replaced). */
  env: Record<string, string>;
}

/** How long a shown line may take to be printed, and a command that ends to end. */
const WAIT_MS = 45_000;

/**
 * Reads a session line: `6379=lab 8000=free REDIS_URL=redis://localhost:6379`.
 *
 * @param text what follows `session:`
 * @returns the spec, or what is wrong with it
 */
export function parseSession(text: string): SessionSpec | string {
  const spec: SessionSpec = { ports: [], env: {} };
  for (const word of text.split(/\s+/).filter(Boolean)) {
    const port = /^(\d+)=(lab|plain|distribution|pair|cluster|cluster\+replicas|free)$/.exec(word);
    const env = /^([A-Z_][A-Z0-9_]*)=(\S*)$/.exec(word);
    if (port) spec.ports.push({ port: Number(port[1]), kind: port[2] as SessionSpec["ports"][number]["kind"] });
    else if (env) spec.env[env[1]!] = env[2]!;
    else return `unknown session word "${word}"`;
  }
  return spec;
}

/** The scripts that listen on a port of their own by default, and that port. */
const DEFAULT_PORTS: [RegExp, number][] = [
  [/deno task server(?![^|;&]*--port)/g, 6379],
  [/deno task cluster(?![^|;&]*--port)/g, 7000],
  [/deno run -A scripts\/api_server\.ts(?![^|;&]*--port)/g, 8000],
  [/deno run -A scripts\/dashboard\.ts(?![^|;&]*--port)/g, 8080],
];

/** A shell running one command line, its stdout and stderr merged as a terminal shows them. */
class Terminal {
  readonly lines: string[] = [];
  #partial = "";
  /** How far the shown output has been matched. */
  pos = 0;
  readonly #child: Deno.ChildProcess;
  readonly status: Promise<number>;
  #exited = false;
  #wake: () => void = () => {};

  constructor(readonly command: string, env: Record<string, string>, stdin?: string) {
    this.#child = new Deno.Command("bash", {
      args: ["-o", "pipefail", "-c", `exec 2>&1\n${command}`], // a pipeline fails when any part of it does
      cwd: ROOT,
      env,
      clearEnv: true,
      stdin: stdin === undefined ? "null" : "piped",
      stdout: "piped",
      stderr: "piped",
      detached: true,
    }).spawn();
    if (stdin !== undefined) {
      const writer = this.#child.stdin.getWriter();
      writer.write(new TextEncoder().encode(stdin)).then(() => writer.close()).catch(() => {});
    }
    const pumps = [this.#pump(this.#child.stdout), this.#pump(this.#child.stderr)];
    this.status = Promise.all([this.#child.status, ...pumps]).then(([s]) => {
      if (this.#partial) this.lines.push(this.#partial.replace(/\r$/, ""));
      this.#partial = "";
      this.#exited = true;
      this.#wake();
      return s.code;
    });
  }

  async #pump(stream: ReadableStream<Uint8Array>): Promise<void> {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      const parts = (this.#partial + chunk).split("\n");
      this.#partial = parts.pop()!;
      for (const line of parts.map((l) => l.replace(/\r$/, "").replace(/^.*\r/, ""))) {
        if (!/^Task \w+ /.test(line)) this.lines.push(line); // deno task's echo of what it runs
      }
      this.#wake();
    }
  }

  get exited(): boolean {
    return this.#exited;
  }

  /** Sends a signal to its whole process group, as a terminal's Ctrl+C does. */
  signal(signal: Deno.Signal): void {
    try {
      Deno.kill(-this.#child.pid, signal);
    } catch {
      // gone already
    }
  }

  /**
   * Waits until the shown lines follow what was matched so far (or, after an exit, fails).
   *
   * @returns the printed lines matched, paired with the shown ones
   */
  async expect(patterns: Pattern[], ms = WAIT_MS, anyOrder = false): Promise<void> {
    const deadline = Date.now() + ms;
    while (true) {
      if (anyOrder) {
        // Running, the next lines as many as shown; ended (or with a gap), everything left.
        const n = patterns.some((p) => p.gap) ? Infinity : patterns.length;
        const end = Math.min(this.pos + n, this.lines.length);
        if ((this.#exited || end - this.pos === n) && matchAnyOrder(patterns, this.lines.slice(this.pos, end))) {
          this.pos = end;
          return;
        }
      } else {
        const end = matchInOrder(patterns, this.lines, this.pos);
        if (end !== undefined && (patterns.length === 0 || end > this.pos || this.#exited || endsInGap(patterns))) {
          this.pos = end;
          return;
        }
      }
      if (this.#exited || Date.now() > deadline) {
        throw new Error(
          `${this.#exited ? "It ended" : `Nothing matched within ${ms} ms`}; shown:\n${
            patterns.map((p) => `  ${p.shown}`).join("\n")
          }\nprinted (from line ${this.pos + 1}):\n${this.lines.slice(this.pos).map((l) => `  ${l}`).join("\n")}`,
        );
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.max(0, deadline - Date.now()) + 5);
        this.#wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  /** Stops it (SIGINT, then SIGKILL after a while) and reaps it. */
  async stop(): Promise<void> {
    if (!this.#exited) this.signal("SIGINT");
    const timer = setTimeout(() => this.signal("SIGKILL"), 10_000);
    await this.status;
    clearTimeout(timer);
  }
}

function endsInGap(patterns: Pattern[]): boolean {
  return patterns.at(-1)?.gap === true;
}

/** The servers and terminals of one page's run. */
export class Session implements AsyncDisposable {
  /** The docs' port → the port used here. */
  readonly ports = new Map<number, number>();
  /** Values shown in earlier output → those printed in their place. */
  readonly values = new Map<string, string>();
  /** The kind of the server the labs run on (`redis`, `valkey`, `keydb`). */
  serverKind = "";
  readonly #terminals = new Map<string, Terminal>();
  readonly #background: ScriptProcess[] = [];
  readonly #plain: TestServer[] = [];
  /** The servers standing for a distribution's, and their connections so far. */
  readonly #untouched = new Map<TestServer, number>();
  readonly #env: Record<string, string>;
  #shims = "";
  /** Where the docs' `/tmp/…` files go in this session: two runs side by side must not share a state file. */
  readonly #files = Deno.makeTempDirSync({ prefix: "pubsub-lab-docs-files-" });

  private constructor(readonly spec: SessionSpec) {
    const inherited = Deno.env.toObject();
    for (const name of Object.keys(inherited)) if (/^REDIS_/.test(name)) delete inherited[name];
    this.#env = { ...inherited, NO_COLOR: "1" };
  }

  /**
   * Starts what the spec asks for.
   *
   * @param spec the page's session
   * @returns the running session
   */
  static async start(spec: SessionSpec): Promise<Session> {
    const session = new Session(spec);
    try {
      await session.#startServers();
    } catch (err) {
      await session[Symbol.asyncDispose]();
      throw err;
    }
    return session;
  }

  async #startServers(): Promise<void> {
    const free = this.spec.ports.filter((p) => p.kind === "free").map((p) => p.port).sort((a, b) => a - b);
    for (let i = 0; i < free.length;) {
      let n = 1; // docs ports in a row get free ports in a row (the pair's, the cluster's)
      while (free[i + n] === free[i]! + n) n++;
      const here = await consecutiveFreePorts(n);
      for (let k = 0; k < n; k++) this.ports.set(free[i]! + k, here + k);
      i += n;
    }
    for (const { port, kind } of this.spec.ports) {
      if (kind === "free") continue;
      else if (kind === "plain" || kind === "distribution") {
        const server = await testServer({ own: true });
        this.ports.set(port, server.local!.port);
        this.#plain.push(server);
        if (kind === "distribution") this.#untouched.set(server, await connectionsReceived(server.url));
      } else if (kind === "lab") {
        const here = await consecutiveFreePorts(1);
        this.ports.set(port, here);
        const m = await this.#task(["server", "--port", String(here)], /✓ (\w+)-server is running.*\n/);
        this.serverKind = m[1]!;
      } else if (kind === "pair") {
        const here = await consecutiveFreePorts(2);
        this.ports.set(port, here).set(port + 1, here + 1);
        const m = await this.#task(
          ["server", "--pair", "--port", String(here)],
          /(\w+)-server nodes.*Ctrl\+C stops both\.\n/,
        );
        this.serverKind = m[1]!;
      } else {
        const replicas = kind === "cluster+replicas";
        const count = replicas ? 6 : 3;
        const here = await consecutiveFreePorts(count);
        for (let k = 0; k < count; k++) this.ports.set(port + k, here + k);
        await this.#task(
          ["cluster", "--port", String(here), ...(replicas ? ["--replicas", "1"] : [])],
          /REDIS_CLUSTER=1.*\n.*--cluster\n/,
        );
      }
    }
    this.serverKind ||= await serverOnPath();
    for (const [name, value] of Object.entries(this.spec.env)) this.#env[name] = this.substitute(value);
    // Never the machine's own server: without a 6379 of the session's, a port where nothing listens.
    this.#env.REDIS_URL ||= `redis://localhost:${this.ports.get(6379) ?? 1}`;
    await this.#shimRedisCli();
  }

  async #task(args: string[], ready: RegExp): Promise<RegExpMatchArray> {
    const process = new ScriptProcess(args[0]!, args.slice(1), {}, "null", "task");
    this.#background.push(process);
    return await process.err.waitFor(ready, 60_000);
  }

  /** Where there is no redis-cli but a valkey-cli, a redis-cli that is valkey-cli first on PATH. */
  async #shimRedisCli(): Promise<void> {
    if (await onPath("redis-cli")) return;
    const valkey = await onPath("valkey-cli");
    if (!valkey) return;
    this.#shims = await Deno.makeTempDir({ prefix: "pubsub-lab-docs-" });
    await Deno.symlink(valkey, `${this.#shims}/redis-cli`);
    this.#env.PATH = `${this.#shims}:${this.#env.PATH ?? ""}`;
  }

  /**
   * A command as it runs here: the docs' ports replaced by the session's, a
   * server script without `--port` given the session's port for its default
   * one, values shown earlier replaced by those printed, and `/tmp/` paths
   * put in the session's own directory.
   *
   * @param command the command as the docs show it
   * @returns the command to run
   */
  substitute(command: string): string {
    let out = command;
    for (const [re, port] of DEFAULT_PORTS) {
      if (out.search(re) < 0 || / --help\b/.test(out)) continue; // --help listens on nothing
      if (!this.ports.has(port)) throw new Error(`its default port ${port} is not in the page's session: ${command}`);
      out = out.replace(re, (m) => `${m} --port ${port}`);
    }
    for (const m of out.matchAll(/(?::|-p |--port )(\d{4,5})\b/g)) {
      if (!this.ports.has(Number(m[1]))) throw new Error(`port ${m[1]} is not in the page's session: ${command}`);
    }
    out = out.replace(/\b\d{4,5}\b/g, (p) => String(this.ports.get(Number(p)) ?? p));
    for (const [shown, printed] of this.values) out = out.replaceAll(shown, printed);
    return out.replace(/(^|[\s='"])\/tmp\//g, `$1${this.#files}/`);
  }

  /**
   * Runs one marked block.
   *
   * @param block the block
   * @returns how many commands ran
   */
  async run(block: Block): Promise<number> {
    const mark = block.mark!;
    if (mark.kind !== "run") return 0;
    if (block.lang === "ts") {
      const t = new Terminal("deno run -A -", this.#env, block.lines.join("\n"));
      await this.#finish(t, [pattern("…")], mark.exit, false); // what it prints is not shown
      return 1;
    }
    if (block.lang === "sh") {
      if (mark.terminal) {
        throw new Error("a sh block cannot run in a terminal: show what to wait for in a console block");
      }
      const commands = commandLines(block);
      for (const c of commands) {
        if (this.#exported(c.text)) continue;
        const t = new Terminal(this.substitute(c.text), this.#env);
        await t.status;
        if ((await t.status) !== mark.exit) {
          throw new Error(`$ ${c.text}\nexited with ${await t.status}, not ${mark.exit}:\n${t.lines.join("\n")}`);
        }
      }
      return commands.length;
    }
    return await this.#console(block.lines, mark.terminal, mark.exit, mark.anyOrder);
  }

  async #console(lines: string[], terminalName: string | undefined, exit: number, anyOrder: boolean): Promise<number> {
    const steps: { command?: string; interrupt: boolean; shown: string[] }[] = [];
    for (const line of lines) {
      if (line.startsWith("$ ")) steps.push({ command: line.slice(2), interrupt: false, shown: [] });
      else if (line.startsWith("^C")) {
        steps.push({ interrupt: true, shown: line.length > 2 ? [line.slice(2)] : [] });
      } else {
        if (!steps.length) steps.push({ interrupt: false, shown: [] });
        steps.at(-1)!.shown.push(line);
      }
    }
    let ran = 0;
    for (const step of steps) {
      const patterns = step.shown.map(pattern);
      if (step.command && this.#exported(step.command)) continue;
      if (terminalName === undefined) {
        if (!step.command) throw new Error("a console block outside a terminal starts with a command");
        const t = new Terminal(this.substitute(step.command), this.#env);
        await this.#finish(t, patterns, exit, anyOrder, step.command);
        ran++;
        continue;
      }
      let t = this.#terminals.get(terminalName);
      if (step.command) {
        if (t && !t.exited) throw new Error(`terminal ${terminalName} still runs ${t.command}`);
        t = new Terminal(this.substitute(step.command), this.#env);
        this.#terminals.set(terminalName, t);
        ran++;
      }
      if (!t) throw new Error(`terminal ${terminalName} has run nothing yet`);
      try {
        if (step.interrupt) {
          t.signal("SIGINT");
          await this.#finish(t, patterns, exit, anyOrder);
        } else {
          await t.expect(patterns, WAIT_MS, anyOrder);
          this.#record(t, patterns);
        }
      } catch (err) {
        throw new Error(`terminal ${terminalName}, $ ${t.command}:\n${(err as Error).message}`);
      }
    }
    return ran;
  }

  /** Whether a command only sets variables (`export NAME=VALUE…`): they are set for the commands after it. */
  #exported(command: string): boolean {
    const m = /^export((?: [A-Z_][A-Z0-9_]*=\S*)+)\s*(?:#.*)?$/.exec(command);
    if (!m) return false;
    for (const pair of m[1]!.trim().split(" ")) {
      const [name, value] = pair.split(/=(.*)/) as [string, string];
      this.#env[name] = this.substitute(value);
    }
    return true;
  }

  /** Waits for the end of a command, holds its output to the shown lines and its exit code. */
  async #finish(t: Terminal, patterns: Pattern[], exit: number, anyOrder: boolean, shown = t.command): Promise<void> {
    const timer = setTimeout(() => t.signal("SIGKILL"), WAIT_MS);
    const code = await t.status;
    clearTimeout(timer);
    try {
      await t.expect(patterns, 0, anyOrder);
      this.#record(t, patterns);
      while (t.lines.length > t.pos && t.lines.at(-1) === "") t.lines.pop(); // a blank line at the end shows nothing
      if (t.pos < t.lines.length) throw new Error(`more was printed than shown:\n${t.lines.slice(t.pos).join("\n")}`);
      if (code !== exit) throw new Error(`it exited with ${code}, not ${exit}`);
    } catch (err) {
      throw new Error(`$ ${shown}\n${(err as Error).message}`);
    }
  }

  /** Pairs the values of the lines just matched (the last `patterns.length` non-gap ones). */
  #record(t: Terminal, patterns: Pattern[]): void {
    const shown = patterns.filter((p) => !p.gap);
    if (shown.length !== patterns.length) return; // with gaps, which line matched which is not kept
    const printed = t.lines.slice(t.pos - shown.length, t.pos);
    shown.forEach((p, i) => recordValues(p, printed[i] ?? "", this.values));
  }

  /** The last lines of every terminal, to say where things stood when a block failed. */
  terminals(lines = 12): string {
    return [...this.#terminals].map(([name, t]) =>
      `terminal ${name}${t.exited ? " (ended)" : ""}, $ ${t.command}:\n${
        t.lines.slice(-lines).map((l) => `  ${l}`).join("\n")
      }`
    ).join("\n");
  }

  /** Stops every terminal and server; fails when a distribution's server was touched. */
  async [Symbol.asyncDispose](): Promise<void> {
    await Promise.all([...this.#terminals.values()].map((t) => t.stop()));
    for (const p of this.#background) {
      p.kill("SIGINT");
      await p.exit(30_000).catch(() => {});
      await p[Symbol.asyncDispose]();
    }
    if (this.#shims) await Deno.remove(this.#shims, { recursive: true });
    await Deno.remove(this.#files, { recursive: true });
    const touched: string[] = [];
    for (const server of this.#plain) {
      const connections = this.#untouched.get(server);
      if (connections !== undefined) {
        const now = await connectionsReceived(server.url);
        if (now !== connections + 1) touched.push(`${now - connections - 1} connection(s) to ${server.url}`);
      }
      await server[Symbol.asyncDispose]();
    }
    if (touched.length) {
      throw new Error(`The page's commands reached the server standing for a distribution's: ${touched.join(", ")}`);
    }
  }
}

/** `total_connections_received` of a server (this check's own connection included). */
async function connectionsReceived(url: string): Promise<number> {
  const info = await withClient(url, (redis) => redis.info("stats"));
  return Number(/total_connections_received:(\d+)/.exec(info)?.[1]);
}

async function onPath(name: string): Promise<string | undefined> {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    const path = `${dir}/${name}`;
    try {
      if ((await Deno.stat(path)).isFile) return path;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** The kind of server `deno task server` would pick: `SERVER`, else the first of keydb, valkey, redis on PATH. */
async function serverOnPath(): Promise<string> {
  const chosen = Deno.env.get("SERVER");
  for (const kind of chosen ? [chosen.replace(/-server$/, "")] : ["keydb", "valkey", "redis"]) {
    if (await onPath(`${kind}-server`)) return kind;
  }
  return "";
}
