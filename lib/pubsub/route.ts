/**
 * What a publish route is — how messages go out (published, appended to streams, or kept in a history too) and what
 * its deliveries mean — for the publisher's run (lib/pubsub_run) and the routes of other folders (lib/streams,
 * lib/recover) to agree on.
 *
 * @module
 */
import type { CliError } from "../core/exit_codes.ts";
import type { BatchSender, SeriesResult } from "./publish.ts";

/** What a route that sends a batch again after an outage did about it, for the summary. */
export interface ResendReport {
  /**
   * The warnings of the summary.
   *
   * @param series what the series skipped and delayed
   */
  warnings(series: SeriesResult): string[];
  /** The fields of the JSON summary. */
  fields(): Record<string, number>;
}

/** The way messages go out: a sender, and what its deliveries mean. */
export interface PublishRoute {
  /** Sends a batch. */
  send: BatchSender;
  /** Whether a failed batch may be sent again as it was (the sender makes a repeat safe). */
  resend: boolean;
  /** Whether messages are appended to streams (`XADD`) rather than published. */
  appends: boolean;
  /** A PUBLISH on a cluster: the receivers are those of the node that took each message only. */
  nodeLocalCount: boolean;
  /** Messages are kept in a history too (`--history`): one that reached no subscriber is not gone. */
  keeps?: boolean;
  /** With {@linkcode resend}: what was sent again, for the summary. */
  resent?: ResendReport;
  /**
   * The error to stop with at once for a failed send, if it is one the route words itself.
   *
   * @param err what a send failed with
   */
  refusal(err: unknown): CliError | undefined;
  /** Closes what the route opened beside the link. */
  close(): Promise<void>;
}
