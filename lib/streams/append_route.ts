/**
 * `publisher.ts --stream`: its messages appended to streams over a link —
 * with `--retry`, each exactly once through outages and failovers
 * ({@linkcode IdempotentAppender}), and what that took said in the summary.
 *
 * @module
 */
import { formatNumber } from "../core/stats.ts";
import type { Link } from "../endpoint/link.ts";
import type { SeriesResult } from "../pubsub/publish.ts";
import type { PublishRoute, ResendReport } from "../pubsub/route.ts";
import { type AppendRecovery, IdempotentAppender, RECHECKED } from "./idempotent_append.ts";
import { appendSender } from "./append.ts";

/**
 * The route that appends (`XADD`) over `link`: the server chooses the
 * entry ids; or, with `retry`, this publisher does, so that a batch sent
 * again after an outage is appended once, and what the server lost of the
 * last appends (a replica that took over, a restart) is appended again.
 *
 * @param link the link to append over
 * @param retry whether failed batches are sent again (`--retry`)
 * @returns the route
 * @example
 * ```ts ignore
 * const route = appendRoute(link, true);
 * await publishSeries(link.redis, 100, make, {}, report, signal, { send: route.send, resend: route.resend });
 * ```
 */
export function appendRoute(link: Link, retry: boolean): PublishRoute {
  const plain = {
    appends: true,
    nodeLocalCount: false,
    refusal: () => undefined,
    close: () => Promise.resolve(),
  };
  if (!retry) return { ...plain, send: appendSender(), resend: false };
  const appender = new IdempotentAppender();
  link.onWritesAtRisk(() => appender.suspect()); // the server back, or a replica taken over, may lack the last appends
  return { ...plain, send: appender.sender, resend: true, resent: resendReport(appender.recovery) };
}

/** What --stream --retry did about the server going away: sent again, found, delayed, appended again. */
function resendReport(r: AppendRecovery): ResendReport {
  return {
    warnings(series: SeriesResult): string[] {
      const warnings: string[] = [];
      const away: string[] = [];
      if (r.sentAgain > 0) {
        away.push(
          `${formatNumber(r.sentAgain)} event(s) unconfirmed when it went away were sent again under the same ` +
            "entry ids",
        );
      }
      if (r.foundAppended > 0) {
        away.push(`${formatNumber(r.foundAppended)} found appended already by an earlier try (not appended twice)`);
      }
      if (series.delayed > 0) away.push(`${formatNumber(series.delayed)} delayed (sent once it was back)`);
      if (series.skipped > 0) {
        away.push(
          `${formatNumber(series.skipped)} unconfirmed when you stopped (not sent again: they may or may not be in ` +
            "the stream)",
        );
      }
      if (away.length > 0) warnings.push(`While the server was away: ${away.join("; ")}.`);
      if (r.restored > 0) {
        warnings.push(
          `The server no longer had ${formatNumber(r.restored)} appended event(s) (a replica took over without ` +
            "them, or it restarted without its data): appended again." +
            (r.restoreIncomplete
              ? ` The oldest of the last ${
                formatNumber(RECHECKED)
              } checked was missing too: earlier ones may be as well.`
              : ""),
        );
      }
      return warnings;
    },
    fields: () => ({ sent_again: r.sentAgain, found_appended: r.foundAppended, restored: r.restored }),
  };
}
