/**
 * What every script does before anything slow is evaluated: cli.ts imports
 * this module first, so it runs before ioredis and the other npm packages,
 * which read the environment as they load and take most of a script's
 * start-up time.
 *
 * - The permissions: a script started without `-A` gets one line saying so
 *   and exit code {@linkcode ExitCode.Permission}, not a `NotCapable` thrown
 *   from inside an npm package (exit 1).
 * - The signals: from here on, Ctrl+C, SIGTERM and SIGHUP are a stop request
 *   (shutdown.ts), not their default action (a silent exit 130).
 *
 * @module
 */
import { ExitCode } from "./exit_codes.ts";
import { listenForSignals } from "./shutdown.ts";

/** The permissions the scripts need, all granted by `-A`. */
export const NEEDED_PERMISSIONS = ["env", "net", "read", "write", "run", "sys"] as const;

/** Set (to anything) in a script's environment, it prints {@linkcode STARTUP_MARK} once it listens for signals. */
export const TRACE_STARTUP_ENV = "PUBSUB_LAB_TRACE_STARTUP";

/** The line printed on stderr under {@linkcode TRACE_STARTUP_ENV}: from here on a Ctrl+C is a stop request. */
export const STARTUP_MARK = "startup: listening for Ctrl+C";

/**
 * Which of {@linkcode NEEDED_PERMISSIONS} this process was not granted.
 *
 * @returns their names, empty when all are granted
 * @example
 * ```ts
 * import { missingPermissions } from "./startup.ts";
 * import assert from "node:assert/strict";
 * assert.ok(Array.isArray(missingPermissions()));
 * ```
 */
export function missingPermissions(): string[] {
  return NEEDED_PERMISSIONS.filter((name) => Deno.permissions.querySync({ name }).state !== "granted");
}

/**
 * The line a script started without the permissions it needs prints.
 *
 * @param missing the permissions not granted
 * @param mainModule the URL of the script run
 * @returns one line: which permissions, and the command line with `-A`
 * @example
 * ```ts
 * import { permissionMessage } from "./startup.ts";
 * import assert from "node:assert/strict";
 * const line = permissionMessage(["env"], "file:///x/scripts/ping.ts");
 * assert.ok(line.includes("deno run -A scripts/ping.ts"));
 * ```
 */
export function permissionMessage(missing: string[], mainModule: string): string {
  const script = scriptName(mainModule);
  const how = script ? `deno run -A scripts/${script}` : "deno run -A";
  return `error: ${script ?? "this script"} needs ${missing.join(", ")} access, not granted: run it with -A (${how} …)`;
}

/** The file name of the script `mainModule` runs (`ping.ts`), or undefined when it is not one of scripts/. */
function scriptName(mainModule: string): string | undefined {
  return /\/scripts\/([^/]+\.ts)$/.exec(mainModule)?.[1];
}

/**
 * Checks the permissions (printing one line and exiting with code
 * {@linkcode ExitCode.Permission} when one is missing) and, in a script's
 * own process, starts listening for the stop signals. Runs once, when this
 * module is first evaluated.
 */
function start(): void {
  const missing = missingPermissions();
  if (missing.length > 0) {
    Deno.stderr.writeSync(new TextEncoder().encode(permissionMessage(missing, Deno.mainModule) + "\n"));
    Deno.exit(ExitCode.Permission);
  }
  // Only a script's own process: a test importing a script keeps its signals to itself (and its sanitizers quiet).
  if (scriptName(Deno.mainModule) === undefined) return;
  listenForSignals();
  if (Deno.env.get(TRACE_STARTUP_ENV)) Deno.stderr.writeSync(new TextEncoder().encode(`${STARTUP_MARK}\n`));
}

start();
