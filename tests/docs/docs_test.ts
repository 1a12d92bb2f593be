/**
 * Docs that cannot drift: every Markdown page of the repository (README.md,
 * docs/**) is read, its links and commands checked, and its runnable blocks
 * run against servers of their own, their shown output compared with what
 * is printed.
 *
 * How a page marks its blocks (the same is told in docs/CONTRIBUTING.md):
 *
 * - Every ```console, ```sh and ```ts block has a mark on the line before it:
 *   `<!-- run -->` (the test runs it) or `<!-- parse only: WHY -->` (it needs
 *   Docker, a second machine, a failover…: its commands are only parsed).
 * - In a ```console block, `$ ` starts a command and the lines after it are
 *   what it prints (stdout and stderr together, as a terminal shows them):
 *   all of it, in order. Numbers, ids, ports, `localhost`/`127.0.0.1`, the
 *   server's name and version (Redis, Valkey, KeyDB) and the host name `lab`
 *   may differ; `…` inside a line stands for anything, a line of `…` alone for
 *   any lines. A ```sh block is commands only; ```ts is run with `deno run -A -`.
 * - `<!-- run: terminal 1 -->` runs the block in a terminal that keeps going:
 *   its `$ ` command is started and left running once the lines shown after
 *   it have been printed; a later block marked with the same terminal shows
 *   what it prints next (from where the last one stopped); a line `^C` sends
 *   SIGINT to the terminal's process group, as Ctrl+C does, and the lines
 *   after it are what it prints until it ends. Every other command runs to
 *   its end (at most 45 s) and must exit 0 (bash, pipefail on); `exit N` expects N. `any order`
 *   takes the shown lines in any order (two processes writing side by side);
 *   `server keydb` (or `valkey`, `redis`, several) runs the block only on
 *   those servers (another's output differs). Clauses go after a colon,
 *   separated by commas: `<!-- run: terminal 2, exit 4 -->`.
 * - A page with runnable blocks that need a server says so once, at its top:
 *   `<!-- session: 6379=lab 8000=free -->`. Each docs port is replaced by a
 *   free one in every command: `lab` is a `deno task server` started for the
 *   page, `pair` a `deno task server --pair` (the port and the next),
 *   `cluster` a `deno task cluster` (and the ports after; `cluster+replicas`
 *   with `--replicas 1`), `plain` a server as a distribution installs it
 *   (notifications off), `distribution` the same standing for a distribution's
 *   redis-server that the page's commands must never reach (its connections
 *   are counted), `free` nothing. `NAME=VALUE`
 *   sets an environment variable for every command (REDIS_URL defaults to the
 *   6379 server's). `deno task server`, `deno task cluster`, api_server.ts and
 *   dashboard.ts given no `--port` get the session's port for their default
 *   one (6379, 7000, 8000, 8080). A PID or an id (five characters or more)
 *   shown in an earlier output and repeated in a later command is replaced by
 *   what was printed in its place.
 *
 * Besides running: every relative link and #anchor must resolve, every page
 * be reachable from README.md, no page may hold a placeholder (`@@…@@`,
 * TODO, FIXME), every `redis-cli` must name its server (`-u`, `-p`), every
 * kill be by PID (no `pkill`, `killall`), and
 * every `deno run -A scripts/NAME.ts …` and `deno task NAME …` of any block
 * (runnable or not) must parse: its flags are those the script's own
 * `--help` lists, with a value where they take one.
 *
 * @module
 */
import assert from "node:assert/strict";
import { clusterTest, ownServerTest } from "../harness.ts";
import { accepted, argumentProblem, commandLines, invocations, scriptOf, tokenize } from "./commands.ts";
import { allPages, MARKED_LANGS, type Page, ROOT } from "./markdown.ts";
import { parseSession, Session } from "./session.ts";

const pages = await allPages();

/** Caches every script's imports first: on a clean clone a first download would print lines no page shows. */
async function cacheScripts(): Promise<void> {
  const scripts = [...Deno.readDirSync(ROOT + "scripts")].map((e) => `scripts/${e.name}`).filter((p) =>
    p.endsWith(".ts")
  );
  const { code, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["cache", ...scripts, "tests/bench/main.ts"],
    cwd: ROOT,
    stdout: "null",
  }).output();
  assert.equal(code, 0, new TextDecoder().decode(stderr));
}
let cached: Promise<void> | undefined;
const pageByPath = new Map(pages.map((p) => [p.path, p]));

/** The path of a link's target from the root, and its anchor. */
function resolve(page: Page, target: string): { path: string; anchor?: string } {
  const [file, anchor] = target.split("#") as [string, string | undefined];
  if (!file) return { path: page.path, ...(anchor !== undefined ? { anchor } : {}) };
  const url = new URL(file, `file:///${page.path}`);
  return { path: decodeURIComponent(url.pathname.slice(1)), ...(anchor !== undefined ? { anchor } : {}) };
}

const external = (target: string) => /^[a-z]+:/.test(target);

Deno.test("docs: every console, sh and ts block is marked <!-- run --> or <!-- parse only: WHY -->", () => {
  const problems: string[] = [];
  for (const page of pages) {
    for (const block of page.blocks) {
      const at = `${page.path}:${block.line}`;
      if (block.markError) problems.push(`${at}: ${block.markError}`);
      else if (MARKED_LANGS.has(block.lang) && !block.mark) {
        problems.push(`${at}: a ${block.lang} block without a mark`);
      } else if (!MARKED_LANGS.has(block.lang) && block.lines.some((l) => /^\$ (deno|redis-cli|curl) /.test(l))) {
        problems.push(`${at}: commands in a block that is not console or sh`);
      }
    }
  }
  assert.deepEqual(problems, []);
});

Deno.test("docs: every relative link and #anchor between pages resolves", async () => {
  const problems: string[] = [];
  for (const page of pages) {
    for (const link of page.links) {
      if (external(link.target)) continue;
      const { path, anchor } = resolve(page, link.target);
      const target = pageByPath.get(path);
      if (!target) {
        const exists = await Deno.stat(ROOT + path).then(() => true, () => false);
        if (!exists) problems.push(`${page.path}:${link.line}: ${link.target}: no such file`);
        else if (anchor) {
          problems.push(`${page.path}:${link.line}: ${link.target}: an anchor in a file that is no page`);
        }
      } else if (anchor !== undefined && !target.anchors.has(anchor)) {
        problems.push(`${page.path}:${link.line}: ${link.target}: no heading makes #${anchor} in ${path}`);
      }
    }
  }
  assert.deepEqual(problems, []);
});

Deno.test("docs: every page is reachable from README.md by links", () => {
  const seen = new Set(["README.md"]);
  const queue = ["README.md"];
  while (queue.length) {
    const page = pageByPath.get(queue.shift()!)!;
    for (const link of page.links) {
      if (external(link.target)) continue;
      const { path } = resolve(page, link.target);
      if (pageByPath.has(path) && !seen.has(path)) {
        seen.add(path);
        queue.push(path);
      }
    }
  }
  assert.deepEqual(pages.map((p) => p.path).filter((p) => !seen.has(p)), []);
});

Deno.test("docs: no page holds a placeholder (@@…@@, TODO, FIXME) outside inline code", () => {
  const problems = pages.flatMap((page) =>
    page.text.split("\n").flatMap((line, i) =>
      /@@[^@\s]*@@|\bTODO\b|\bFIXME\b/.test(line.replace(/`[^`]*`/g, ""))
        ? [`${page.path}:${i + 1}: ${line.trim()}`]
        : []
    )
  );
  assert.deepEqual(problems, []);
});

Deno.test("docs: every redis-cli in a block names its server (-u URL or -p PORT), never 6379 by default", () => {
  const problems: string[] = [];
  for (const page of pages) {
    for (const block of page.blocks) {
      for (const command of commandLines(block)) {
        const tokens = tokenize(command.text);
        tokens.forEach((t, i) => {
          if (t.op || t.word !== "redis-cli") return;
          const end = tokens.findIndex((u, k) => k > i && u.op);
          const args = tokens.slice(i + 1, end < 0 ? undefined : end).map((u) => u.word);
          if (!args.includes("-u") && !args.includes("-p")) {
            problems.push(`${page.path}:${block.line + 1 + command.index}: ${command.text}`);
          }
        });
      }
    }
  }
  assert.deepEqual(problems, []);
});

Deno.test("docs: every kill in a block is by PID (no pkill or killall, whose patterns hit other processes too)", () => {
  const problems = pages.flatMap((page) =>
    page.blocks.flatMap((block) =>
      commandLines(block).filter((c) => tokenize(c.text).some((t) => !t.op && /^(pkill|killall)$/.test(t.word)))
        .map((c) => `${page.path}:${block.line + 1 + c.index}: ${c.text}`)
    )
  );
  assert.deepEqual(problems, []);
});

Deno.test("docs: every deno run -A scripts/… and deno task … of every block parses against the script's --help", async () => {
  const helps = new Map<string, ReturnType<typeof accepted>>();
  const problems: string[] = [];
  const checks: Promise<void>[] = [];
  for (const page of pages) {
    for (const block of page.blocks) {
      for (const command of commandLines(block)) {
        for (const call of invocations(command.text)) {
          const at = `${page.path}:${block.line + 1 + command.index}: ${call.target}`;
          checks.push((async () => {
            const script = await scriptOf(call.target);
            if (script === undefined) return void problems.push(`${at}: deno.json has no such task`);
            if (script === "") return; // a task that runs no script of ours (test, check)
            try {
              const problem = argumentProblem(call.args, (await accepted(script, helps)).accepts);
              if (problem) problems.push(`${at} ${call.args.join(" ")}: ${problem}`);
            } catch (err) {
              problems.push(`${at}: ${(err as Error).message}`);
            }
          })());
        }
      }
    }
  }
  await Promise.all(checks);
  assert.deepEqual(problems, []);
});

/** What the runnable blocks did, per page, said at the end. */
const tally: string[] = [];

for (const page of pages) {
  const runnable = page.blocks.filter((b) => b.mark?.kind === "run");
  if (!runnable.length) continue;
  const parseOnly = page.blocks.filter((b) => b.mark?.kind === "parse").length;
  const spec = page.session === undefined ? { ports: [], env: {} } : parseSession(page.session);
  const name = `docs: ${page.path}: its ${runnable.length} runnable block(s) print what they show`;
  const body = async () => {
    assert.ok(typeof spec !== "string", `${page.path}: ${spec}`);
    await (cached ??= cacheScripts());
    const session = await Session.start(spec);
    let failure: Error | undefined;
    let blocks = 0, commands = 0, otherServer = 0;
    for (const block of runnable) {
      const mark = block.mark!;
      if (mark.kind === "run" && mark.servers.length && !mark.servers.includes(session.serverKind)) {
        otherServer++;
        continue;
      }
      try {
        commands += await session.run(block);
      } catch (err) {
        failure = new Error(`${page.path}:${block.line}: ${(err as Error).message}\n\n${session.terminals()}`);
        break;
      }
      blocks++;
    }
    try {
      await session[Symbol.asyncDispose]();
    } catch (err) {
      // Both said: a block that failed and a server that was reached (a distribution's) are two findings.
      failure = new Error([failure?.message, (err as Error).message].filter(Boolean).join("\n\nAnd at the end: "));
    }
    if (failure) throw failure;
    tally.push(
      `${page.path}: ${blocks} block(s) run (${commands} command(s)) on ${session.serverKind || "no server"}` +
        `${otherServer ? `, ${otherServer} for another server` : ""}, ${parseOnly} parse only`,
    );
  };

  const needsCluster = (typeof spec !== "string" && spec.ports.some((p) => p.kind.startsWith("cluster"))) ||
    runnable.some((b) => b.lines.some((l) => /deno task cluster/.test(l)));
  if (needsCluster) clusterTest(name, body);
  else ownServerTest(name, body);
}

Deno.test("docs: what ran", () => {
  console.error(tally.join("\n"));
});
