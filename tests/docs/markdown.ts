/**
 * The Markdown pages as the docs test reads them: every `.md` file of the
 * repository, its fenced blocks with their marks (`<!-- run … -->`,
 * `<!-- parse only: … -->`), its session lines, its links and the anchors
 * its headings make.
 *
 * @module
 */

/** The repository's root directory, ending in `/`. */
export const ROOT: string = new URL("../../", import.meta.url).pathname;

/** How a block is tested. */
export type BlockMark =
  | { kind: "run"; terminal?: string; exit: number; anyOrder: boolean; servers: string[] }
  | { kind: "parse"; reason: string };

/** A fenced block of a page. */
export interface Block {
  /** The info string's first word: `console`, `sh`, `ts`, or "" for none. */
  lang: string;
  /** The lines between the fences. */
  lines: string[];
  /** Line number (1-based) of the opening fence. */
  line: number;
  /** The mark on the line before the fence, if any. */
  mark?: BlockMark;
  /** A malformed mark, said as a problem. */
  markError?: string;
}

/** A link or image of a page. */
export interface Link {
  /** The target as written. */
  target: string;
  /** Line number (1-based). */
  line: number;
}

/** One page. */
export interface Page {
  /** Path from the repository root, e.g. `docs/labs/01_publish_subscribe.md`. */
  path: string;
  /** The whole text. */
  text: string;
  /** Its fenced blocks, in order. */
  blocks: Block[];
  /** Its links outside code, in order. */
  links: Link[];
  /** The anchors its headings make (GitHub's slugs). */
  anchors: Set<string>;
  /** Its `<!-- session: … -->` line, if any. */
  session?: string;
}

/** Languages whose blocks must carry a mark. */
export const MARKED_LANGS = new Set(["console", "sh", "ts"]);

/** Every `.md` file under the repository (not `.git`), README.md first. */
export async function allPages(): Promise<Page[]> {
  const paths: string[] = [];
  async function walk(dir: string): Promise<void> {
    for await (const entry of Deno.readDir(ROOT + dir)) {
      const path = dir ? `${dir}/${entry.name}` : entry.name;
      if (entry.isDirectory && !entry.name.startsWith(".") && entry.name !== "node_modules") await walk(path);
      else if (entry.isFile && entry.name.endsWith(".md")) paths.push(path);
    }
  }
  await walk("");
  paths.sort((a, b) => (a === "README.md" ? -1 : b === "README.md" ? 1 : a.localeCompare(b)));
  return await Promise.all(paths.map(async (path) => parsePage(path, await Deno.readTextFile(ROOT + path))));
}

/**
 * Reads one page.
 *
 * @param path its path from the repository root
 * @param text its text
 * @returns the page
 */
export function parsePage(path: string, text: string): Page {
  const lines = text.split("\n");
  const blocks: Block[] = [];
  const links: Link[] = [];
  const anchors = new Set<string>();
  const slugCount = new Map<string, number>();
  let session: string | undefined;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const fence = /^(\s*)(```+)\s*(\S*)/.exec(line);
    if (fence) {
      const close = new RegExp(`^\\s*${fence[2]}\\s*$`);
      const start = i;
      const body: string[] = [];
      for (i++; i < lines.length && !close.test(lines[i]!); i++) body.push(lines[i]!.slice(fence[1]!.length));
      const block: Block = { lang: fence[3]!, lines: body, line: start + 1 };
      const before = previousNonBlank(lines, start);
      if (before !== undefined && /^<!--\s*(run|parse only)\b/.test(before)) {
        const parsed = parseMark(before);
        if (typeof parsed === "string") block.markError = parsed;
        else block.mark = parsed;
      }
      blocks.push(block);
      continue;
    }
    const sessionLine = /^<!--\s*session:\s*(.*?)\s*-->\s*$/.exec(line);
    if (sessionLine) session = sessionLine[1];
    const heading = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (heading) {
      const base = slug(heading[1]!);
      const n = slugCount.get(base) ?? 0;
      slugCount.set(base, n + 1);
      anchors.add(n === 0 ? base : `${base}-${n}`);
    }
    const withoutCode = line.replace(/`[^`]*`/g, "");
    for (const m of withoutCode.matchAll(/!?\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
      links.push({ target: m[1]!, line: i + 1 });
    }
  }
  return { path, text, blocks, links, anchors, ...(session !== undefined ? { session } : {}) };
}

function previousNonBlank(lines: string[], i: number): string | undefined {
  for (let k = i - 1; k >= 0; k--) if (lines[k]!.trim()) return lines[k]!.trim();
  return undefined;
}

/**
 * GitHub's anchor for a heading: lower case, inline code and link syntax
 * dropped, everything but letters, digits, `_`, `-` and spaces removed, each
 * space a `-`.
 *
 * @param heading the heading's text
 * @returns the anchor, without `#`
 */
export function slug(heading: string): string {
  return heading
    .replace(/\[([^\]]*)\]\([^)]*\)/g, "$1")
    .replace(/`/g, "")
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, "")
    .replace(/ /g, "-");
}

/**
 * Reads a block's mark: `<!-- run -->`, `<!-- run: terminal 1, exit 4, any order, server keydb -->`,
 * `<!-- parse only: REASON -->`.
 *
 * @param comment the comment line
 * @returns the mark, or what is wrong with it
 */
export function parseMark(comment: string): BlockMark | string {
  const m = /^<!--\s*(run|parse only)\s*(?::\s*(.*?))?\s*-->$/.exec(comment);
  if (!m) return `malformed mark ${comment}`;
  if (m[1] === "parse only") {
    return m[2] ? { kind: "parse", reason: m[2] } : "a parse-only mark says why: <!-- parse only: REASON -->";
  }
  const mark: BlockMark = { kind: "run", exit: 0, anyOrder: false, servers: [] };
  for (const clause of (m[2] ?? "").split(",").map((c) => c.trim()).filter(Boolean)) {
    const terminal = /^terminal (\S+)$/.exec(clause);
    const exit = /^exit (\d+)$/.exec(clause);
    const server = /^server ((?:keydb|valkey|redis)(?: (?:keydb|valkey|redis))*)$/.exec(clause);
    if (terminal) mark.terminal = terminal[1]!;
    else if (exit) mark.exit = Number(exit[1]);
    else if (clause === "any order") mark.anyOrder = true;
    else if (server) mark.servers = server[1]!.split(" ");
    else return `unknown clause "${clause}" in ${comment}`;
  }
  return mark;
}
