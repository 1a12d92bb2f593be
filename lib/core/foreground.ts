/**
 * Local servers run in the foreground for the labs (`deno task server`,
 * `deno task cluster`): the notification flags they start with, and waiting
 * for Ctrl+C or for the servers to exit on their own.
 *
 * @module
 */
import { ExitCode } from "./exit_codes.ts";
import type { LocalServer } from "./local_server.ts";
import type { Reporter } from "./output.ts";
import type { Shutdown } from "./shutdown.ts";

/** The notification flags the labs need: every class, keyspace and keyevent channels. */
export const LAB_NOTIFICATIONS = "KEA";

/**
 * Waits for Ctrl+C (exit 0) or for the servers to exit on their own (exit 1,
 * with the log of the one that ended it), then stops everything.
 *
 * @param shutdown the stop request
 * @param status where to report
 * @param exited resolves when the servers have exited, with the server to blame and its exit code
 * @param running what to stop
 * @param stopped what to say after Ctrl+C, once stopped
 * @returns the exit code
 */
export async function untilStopped(
  shutdown: Shutdown,
  status: Reporter,
  exited: Promise<{ node: LocalServer; code: number }>,
  running: AsyncDisposable,
  stopped: string,
): Promise<number> {
  const how = await Promise.race([shutdown.requested.then(() => undefined), exited]);
  if (how) {
    const tail = await how.node.logTail();
    status.error(
      `${how.node.kind} on ${how.node.url} exited with code ${how.code}` +
        (tail ? `:\n${tail}` : "; see its log above."),
    );
    await running[Symbol.asyncDispose]();
    return ExitCode.Failure;
  }
  await running[Symbol.asyncDispose]();
  status.ok(stopped);
  return ExitCode.Ok;
}
