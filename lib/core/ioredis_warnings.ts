/**
 * ioredis writes some advice of its own (`[WARN] Redis server does not
 * require a password, but a password was supplied.`) with `console.warn`,
 * straight to the terminal and on every reconnect. This routes those lines to
 * a script's reporter instead: once per reporter, worded as ours.
 *
 * @module
 */
import type { Reporter } from "./output.ts";

/** ioredis's advice, reworded as ours. */
const OUR_WORDS: [RegExp, string][] = [
  [
    /does not require a password/,
    "The server does not require a password, but the URL gives one: it was ignored. Drop it from --url / REDIS_URL.",
  ],
  [
    /wrong number of arguments for 'auth'/,
    "The server (Redis 5 or older) takes a password but no user name: drop the user name from --url / REDIS_URL.",
  ],
];

/** Reporters of open connections (newest last), with how many connections use each. */
const reporters = new Map<Reporter, number>();
/** What each reporter has already said. */
const said = new WeakMap<Reporter, Set<string>>();
let original: typeof console.warn | undefined;

function routed(...args: unknown[]): void {
  const text = args.map(String).join(" ");
  const reporter = [...reporters.keys()].at(-1);
  if (!reporter || !/^\[(WARN|ERROR)\] /.test(text)) return original?.(...args);
  const ours = OUR_WORDS.find(([re]) => re.test(text))?.[1] ??
    `The client library says: ${text.replace(/^\[\w+\] /, "")}`;
  const seen = said.get(reporter) ?? new Set<string>();
  said.set(reporter, seen);
  if (!seen.has(ours)) reporter.warn(ours);
  seen.add(ours);
}

/**
 * Sends ioredis's `[WARN]` / `[ERROR]` lines to `reporter` (the newest
 * reporter routed, when several are) until the returned function is called;
 * other `console.warn` calls pass through. When no reporter is routed any
 * more, `console.warn` is restored.
 *
 * @param reporter where the reworded lines go
 * @returns stops routing for this caller; calling it again does nothing
 * @example
 * ```ts
 * import { routeIoredisWarnings } from "./ioredis_warnings.ts";
 * import { Reporter } from "./output.ts";
 * let seen = "";
 * const reporter = new Reporter({ writeSync: (p) => (seen += new TextDecoder().decode(p), p.length), isTerminal: () => false });
 * const unroute = routeIoredisWarnings(reporter);
 * console.warn("[WARN] Redis server does not require a password, but a password was supplied.");
 * unroute();
 * console.assert(seen.includes("does not require a password, but the URL gives one"));
 * ```
 */
export function routeIoredisWarnings(reporter: Reporter): () => void {
  reporters.set(reporter, (reporters.get(reporter) ?? 0) + 1);
  if (!original) {
    original = console.warn;
    console.warn = routed;
  }
  let done = false;
  return () => {
    if (done) return;
    done = true;
    const n = (reporters.get(reporter) ?? 1) - 1;
    if (n > 0) reporters.set(reporter, n);
    else reporters.delete(reporter);
    if (reporters.size === 0 && original) {
      console.warn = original;
      original = undefined;
    }
  };
}
