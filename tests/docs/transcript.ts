/**
 * How a block's shown output is held to what a command printed: line by
 * line, with room for what changes from run to run.
 *
 * In a shown line, every number (`4.54`, `1,000`, `06:08:24.964`'s parts, a
 * port, a PID, an entry id) stands for any number, or `unknown` (what a server
 * does not report, as KeyDB the lag of a group); a duration (`3.2 s`, `870 ms`)
 * or a size (`0 bytes`, `20 KB`) for one in any unit; a UUID, and a word of letters and
 * digits of 6 or more characters with at least one digit and one letter (a
 * hex or base-36 id) for any such word; `localhost` and `127.0.0.1` for each
 * other; `Redis`, `Valkey` and `KeyDB` (and their `-server`s) for each other,
 * with any version after them; the host name `lab` for this machine's; `…`
 * inside a line for anything; two spaces or more inside a line (a table's
 * padding) for one or more. A line that is only `…` stands for any number
 * of lines (none too).
 *
 * @module
 */

/** One shown line, ready to match. */
export interface Pattern {
  /** The line as shown. */
  shown: string;
  /** `…` alone: any lines. */
  gap: boolean;
  /** The regular expression a printed line must match. */
  re: RegExp;
  /** The shown numbers and ids, in the order of the expression's groups. */
  values: string[];
}

/** The parts of a shown line that may differ, each with what stands for it. */
const VARYING: [RegExp, (shown: string) => string][] = [
  [/…/, () => ".*"],
  [/\b\d{10,}-\d+\b/, () => "(\\d+-\\d+)"], // a stream entry id
  [/\b[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}\b/, () => "([0-9a-f-]{36})"], // a UUID
  [/\b(?=[0-9a-z]*[0-9])(?=[0-9a-z]*[a-z])[0-9a-z]{6,}\b/, () => "([0-9a-z]+)"], // a hex or base-36 id
  [/\d+(?:[.,]\d+)* (?:µs|ms|s)\b/, () => "(?:\\d+(?:[.,]\\d+)* (?:µs|ms|s))"], // a duration, in any unit
  [/\d+(?:[.,]\d+)* (?:bytes|B|KB|MB|GB)\b/, () => "(?:\\d+(?:[.,]\\d+)* (?:bytes|B|KB|MB|GB))"], // a size, in any unit
  [/\d+(?:[.,]\d+)*/, () => "(\\d+(?:[.,]\\d+)*|unknown)"], // unknown: what a server does not report (KeyDB's lag)
  [/localhost|127\.0\.0\.1/, () => "(?:localhost|127\\.0\\.0\\.1)"],
  [/\blab\b/, () => `(?:lab|${escape(HOST)})`],
  [/\b(?:redis|valkey|keydb)-server\b/, () => "(?:redis|valkey|keydb)-server"],
  [/\b(?:Redis|Valkey|KeyDB)(?: \d+(?:\.\d+)*)?/, () => "(?:Redis|Valkey|KeyDB)(?: \\d+(?:\\.\\d+)*)?"],
];

const ANY_VARYING = new RegExp(VARYING.map(([re]) => `(${re.source})`).join("|"), "g");

/**
 * Turns a shown line into a pattern.
 *
 * @param shown the line as the docs show it
 * @returns the pattern
 */
export function pattern(shown: string): Pattern {
  const line = shown.trimEnd();
  if (line.trim() === "…") return { shown, gap: true, re: /^/, values: [] };
  let source = "";
  const values: string[] = [];
  let last = 0;
  for (const m of line.matchAll(ANY_VARYING)) {
    source += escape(line.slice(last, m.index));
    const kind = m.slice(1).findIndex((g) => g !== undefined);
    const stand = VARYING[kind]![1](m[0]);
    if (stand.startsWith("(") && !stand.startsWith("(?")) values.push(m[0]);
    source += stand;
    last = m.index! + m[0].length;
  }
  source += escape(line.slice(last));
  // Padding between columns follows the widths of the numbers in them: a run of spaces inside a line is any run.
  source = source.replace(/(?<=\S) {2,}/g, " +");
  return { shown, gap: false, re: new RegExp(`^${source}\\s*$`), values };
}

const HOST = (() => {
  try {
    return Deno.hostname();
  } catch {
    return "lab";
  }
})();

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/**
 * Finds the shown lines in the printed ones, in order: the first at
 * `from` exactly, each next one on the line after, a gap (`…`) letting any
 * lines pass.
 *
 * @param patterns the shown lines
 * @param printed the printed lines
 * @param from where to start in `printed`
 * @returns the index after the last line matched, or undefined when they do not match (yet)
 */
export function matchInOrder(patterns: Pattern[], printed: string[], from: number): number | undefined {
  const go = (p: number, at: number): number | undefined => {
    if (p === patterns.length) return at;
    const pat = patterns[p]!;
    if (pat.gap) {
      if (p === patterns.length - 1) return printed.length; // a gap at the end takes everything so far
      for (let k = at; k <= printed.length; k++) {
        const end = go(p + 1, k);
        if (end !== undefined) return end;
      }
      return undefined;
    }
    return at < printed.length && pat.re.test(printed[at]!) ? go(p + 1, at + 1) : undefined;
  };
  return go(0, from);
}

/**
 * Whether each shown line matches a printed line of its own, in any order, and every printed line is shown.
 *
 * @param patterns the shown lines
 * @param printed the printed lines
 * @returns whether they match
 */
export function matchAnyOrder(patterns: Pattern[], printed: string[]): boolean {
  const left = [...printed];
  for (const p of patterns) {
    if (p.gap) continue;
    const k = left.findIndex((l) => p.re.test(l));
    if (k < 0) return false;
    left.splice(k, 1);
  }
  return left.length === 0 || patterns.some((p) => p.gap);
}

/**
 * Pairs the numbers and ids of a shown line with those printed in their place
 * (the shown ones of five characters or more, so that counts and ports are left
 * alone): a later command that repeats a shown PID or entry id gets the printed one.
 *
 * @param shown the shown line's pattern
 * @param printed the line it matched
 * @param into the pairs so far
 */
export function recordValues(shown: Pattern, printed: string, into: Map<string, string>): void {
  const m = shown.re.exec(printed);
  if (!m) return;
  shown.values.forEach((value, i) => {
    if (value.length >= 5) into.set(value, m[i + 1]!);
  });
}
