/**
 * The commands of the docs' blocks, read as a shell would split them, and
 * the check that each `deno run -A scripts/NAME.ts …` or `deno task NAME …`
 * still parses: its flags are held to what the script's own `--help` lists
 * (run once per script), with node:util's parseArgs, strictly.
 *
 * @module
 */
import { parseArgs } from "node:util";
import type { Block } from "./markdown.ts";
import { ROOT } from "./markdown.ts";

/** A command line of a block: `$ …` lines of a console block, every line of a sh block. */
export interface CommandLine {
  /** The command as the shell gets it. */
  text: string;
  /** Index of its line in the block. */
  index: number;
}

/**
 * The command lines of a block: in a `console` block the lines after `$ `
 * (a line ending in `\` goes on), in a `sh` block every line that is not
 * blank or a comment (a leading `$ ` dropped).
 *
 * @param block the block
 * @returns its commands
 */
export function commandLines(block: Block): CommandLine[] {
  const out: CommandLine[] = [];
  for (let i = 0; i < block.lines.length; i++) {
    const line = block.lines[i]!;
    let text: string;
    if (block.lang === "console") {
      if (!line.startsWith("$ ")) continue;
      text = line.slice(2);
    } else if (block.lang === "sh") {
      if (!line.trim() || line.trimStart().startsWith("#")) continue;
      text = line.replace(/^\$ /, "");
    } else continue;
    const start = i;
    while (text.endsWith("\\") && i + 1 < block.lines.length) text = text.slice(0, -1) + " " + block.lines[++i]!.trim();
    out.push({ text, index: start });
  }
  return out;
}

/** A word of a command line, or a shell operator. */
export interface Token {
  word: string;
  op: boolean;
}

/**
 * Splits a command line into words and operators as a POSIX shell does
 * (quotes, backslashes, `$(`, `|`, `;`, `&&`, redirections, `#` comments);
 * `$(…)` and `$VAR` inside double quotes stay part of the word.
 *
 * @param line the command line
 * @returns the tokens
 */
export function tokenize(line: string): Token[] {
  const tokens: Token[] = [];
  let word = "";
  let inWord = false;
  const flush = () => {
    if (inWord) tokens.push({ word, op: false });
    word = "";
    inWord = false;
  };
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === "'") {
      const end = line.indexOf("'", i + 1);
      word += line.slice(i + 1, end < 0 ? undefined : end);
      inWord = true;
      i = end < 0 ? line.length : end;
    } else if (c === '"') {
      let j = i + 1;
      for (; j < line.length && line[j] !== '"'; j++) {
        if (line[j] === "\\" && j + 1 < line.length) j++;
        word += line[j];
      }
      inWord = true;
      i = j;
    } else if (c === "\\" && i + 1 < line.length) {
      word += line[++i];
      inWord = true;
    } else if (/\s/.test(c)) {
      flush();
    } else if (c === "#" && !inWord) {
      break;
    } else if (c === "$" && line[i + 1] === "(") {
      flush();
      tokens.push({ word: "$(", op: true });
      i++;
    } else if ("|&;()<>".includes(c)) {
      if ((c === ">" || c === "<") && /^\d+$/.test(word)) word = "", inWord = false; // 2>&1
      else flush();
      let op = c;
      while (i + 1 < line.length && "|&>".includes(line[i + 1]!) && op.length < 2) op += line[++i];
      tokens.push({ word: op, op: true });
    } else {
      word += c;
      inWord = true;
    }
  }
  flush();
  return tokens;
}

/** One invocation of a script of the project found in a command line. */
export interface Invocation {
  /** What the docs call: `scripts/NAME.ts`, or `task NAME`. */
  target: string;
  /** Its arguments (redirections and what follows an operator left out). */
  args: string[];
}

/**
 * The project's scripts a command line runs: `deno run -A scripts/NAME.ts`
 * and `deno task NAME` in any part of a pipeline, list or `$(…)`.
 *
 * @param line the command line
 * @returns each invocation with its arguments
 */
export function invocations(line: string): Invocation[] {
  const found: Invocation[] = [];
  const segments: string[][] = [[]];
  const tokens = tokenize(line);
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (!t.op) segments.at(-1)!.push(t.word);
    else if (t.word === ">" || t.word === ">>" || t.word === "<" || t.word === ">&") i++; // its target
    else segments.push([]);
  }
  for (const words of segments) {
    let k = 0;
    while (k < words.length && /^[A-Z_][A-Z0-9_]*=/.test(words[k]!)) k++;
    if (words[k] !== "deno") continue;
    if (words[k + 1] === "task" && words[k + 2]) {
      found.push({ target: `task ${words[k + 2]}`, args: words.slice(k + 3) });
    } else if (words[k + 1] === "run") {
      let j = k + 2;
      while (j < words.length && words[j]!.startsWith("-")) j++;
      if (words[j]?.startsWith("scripts/") || words[j]?.startsWith("tests/")) {
        found.push({ target: words[j]!, args: words.slice(j + 1) });
      }
    }
  }
  return found;
}

/** What a script's `--help` says it accepts. */
export interface Accepts {
  /** Its flags by long name. */
  options: Record<string, { type: "string" | "boolean"; short?: string; negatable: boolean }>;
  /** Whether bare arguments are allowed (an upper-case word in USAGE that is no flag's value). */
  positionals: boolean;
  /** For `deno task bench`: the benchmarks' names. */
  names?: string[];
}

/**
 * Reads the OPTIONS and USAGE of a script's `--help` text.
 *
 * @param help the text
 * @returns what it accepts
 */
export function readHelp(help: string): Accepts {
  const lines = help.split("\n");
  const options: Accepts["options"] = {};
  const usage: string[] = [];
  let section = "";
  for (const line of lines) {
    if (/^[A-Z]+$/.test(line)) section = line;
    else if (section === "USAGE") usage.push(line.replace(/#.*$/, ""));
    else if (section === "OPTIONS") {
      const m = /^ {2}(?:-(\w), | {4})--(\[no-\])?([\w-]+)( \S+)?\s/.exec(line + " ");
      if (m) options[m[3]!] = { type: m[4] ? "string" : "boolean", short: m[1], negatable: Boolean(m[2]) };
    }
  }
  let positionals = false;
  for (const u of usage) {
    const words = u.trim().split(/\s+/).slice(3); // deno run -A scripts/NAME.ts
    words.forEach((w, i) => {
      const bare = /^\[?[A-Z][A-Z_]+(\.\.\.|…)?\]?(\.\.\.|…)?$/.test(w);
      if (bare && !/^\[?--?\w/.test(words[i - 1] ?? "")) positionals = true;
    });
  }
  return { options, positionals };
}

/**
 * What is wrong with one invocation's arguments against what its script accepts ("" when nothing).
 *
 * @param args the arguments
 * @param accepts what the script's help lists
 * @returns the problem, or ""
 */
export function argumentProblem(args: string[], accepts: Accepts): string {
  if (accepts.names) {
    const unknown = args.filter((a) => !accepts.names!.includes(a));
    return unknown.length ? `unknown benchmark "${unknown[0]}" (deno task bench --help lists ${accepts.names})` : "";
  }
  const options: Record<string, { type: "string" | "boolean"; short?: string; multiple: true }> = {};
  for (const [name, o] of Object.entries(accepts.options)) {
    options[name] = { type: o.type, multiple: true, ...(o.short ? { short: o.short } : {}) };
  }
  try {
    const { values, positionals } = parseArgs({
      args,
      options,
      strict: true,
      allowPositionals: true,
      allowNegative: true,
    });
    for (const [name, value] of Object.entries(values)) {
      if ((value as unknown[]).includes(false) && !accepts.options[name]?.negatable) return `unknown flag --no-${name}`;
    }
    if (positionals.length && !accepts.positionals) return `unexpected argument "${positionals[0]}"`;
    return "";
  } catch (err) {
    return err instanceof Error ? err.message.split(". To specify")[0]! : String(err);
  }
}

/** The script behind a target, for its `--help`: `task server` is scripts/server.ts (deno.json's tasks). */
export async function scriptOf(target: string): Promise<string | undefined> {
  if (!target.startsWith("task ")) return target;
  const tasks = JSON.parse(await Deno.readTextFile(ROOT + "deno.json")).tasks as Record<string, string>;
  const command = tasks[target.slice(5)];
  if (command === undefined) return undefined;
  return /deno run -A (\S+\.ts)$/.exec(command)?.[1] ?? "";
}

/**
 * What a script accepts, from its `--help` (run once per script and kept).
 *
 * @param script e.g. `scripts/subscriber.ts`, or `tests/bench/main.ts`
 * @param cache helps already read
 * @returns what it accepts, and the help's text
 */
export async function accepted(
  script: string,
  cache: Map<string, Promise<{ accepts: Accepts; help: string }>>,
): Promise<{ accepts: Accepts; help: string }> {
  let found = cache.get(script);
  if (!found) {
    found = (async () => {
      const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", script, "--help"],
        cwd: ROOT,
        env: { NO_COLOR: "1" },
      }).output();
      const help = new TextDecoder().decode(stdout);
      if (code !== 0) throw new Error(`${script} --help exited with ${code}: ${new TextDecoder().decode(stderr)}`);
      if (script === "tests/bench/main.ts") {
        const names = [...help.matchAll(/^ {2}(\w+)\s/gm)].map((m) => m[1]!);
        return { accepts: { options: {}, positionals: true, names }, help };
      }
      return { accepts: readHelp(help), help };
    })();
    cache.set(script, found);
  }
  return await found;
}
