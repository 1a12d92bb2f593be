/**
 * ioredis writes some advice of its own (`[WARN] Redis server does not
 * require a password, but a password was supplied.`) straight to the
 * terminal, on every reconnect. This routes those lines (heard through
 * lib/core/ioredis_guard.ts's `onIoredisWarning`) to a script's reporter
 * instead: once per reporter, worded as ours.
 *
 * @module
 */
import { onIoredisWarning } from "./ioredis_guard.ts";
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
/** Stops hearing ioredis's advice, while any reporter is routed. */
let stopHearing: (() => void) | undefined;

function reword(line: string): void {
  const reporter = [...reporters.keys()].at(-1);
  if (!reporter) return;
  const ours = OUR_WORDS.find(([re]) => re.test(line))?.[1] ??
    `The client library says: ${line.replace(/^\[\w+\] /, "")}`;
  const seen = said.get(reporter) ?? new Set<string>();
  said.set(reporter, seen);
  if (!seen.has(ours)) reporter.warn(ours);
  seen.add(ours);
}

/**
 * Sends ioredis's `[WARN]` / `[ERROR]` lines to `reporter` (the newest
 * reporter routed, when several are) until the returned function is called.
 *
 * @param reporter where the reworded lines go
 * @returns stops routing for this caller; calling it again does nothing
 * @example
 * ```ts
 * import { routeIoredisWarnings } from "./ioredis_warnings.ts";
 * import { Reporter } from "./output.ts";
 * import assert from "node:assert/strict";
 * let seen = "";
 * const reporter = new Reporter({ writeSync: (p) => (seen += new TextDecoder().decode(p), p.length), isTerminal: () => false });
 * const unroute = routeIoredisWarnings(reporter);
 * console.warn("[WARN] Redis server does not require a password, but a password was supplied.");
 * unroute();
 * assert.ok(seen.includes("does not require a password, but the URL gives one"));
 * ```
 */
export function routeIoredisWarnings(reporter: Reporter): () => void {
  reporters.set(reporter, (reporters.get(reporter) ?? 0) + 1);
  stopHearing ??= onIoredisWarning(reword);
  let done = false;
  return () => {
    if (done) return;
    done = true;
    const n = (reporters.get(reporter) ?? 1) - 1;
    if (n > 0) reporters.set(reporter, n);
    else reporters.delete(reporter);
    if (reporters.size === 0) {
      stopHearing?.();
      stopHearing = undefined;
    }
  };
}
