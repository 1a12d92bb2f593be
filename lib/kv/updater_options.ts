/**
 * What both modes of kv_updater (channel and stream) are told by its
 * command line.
 *
 * @module
 */
import type { Logger } from "../core/log.ts";
import type { Endpoint } from "../endpoint/endpoint.ts";
import type { Ops } from "../ops/ops.ts";
import type { UpdaterStats } from "./stats.ts";

/** The options kv_updater's two modes share. */
export interface KvUpdaterOptions {
  /** The server or cluster. */
  endpoint: Endpoint;
  /** Put before each type to make the key. */
  prefix: string;
  /** Refuse larger messages. */
  maxBytes: number;
  /** Let each key expire at its update's valid time. */
  expireAtValid: boolean;
  /** Log statistics this often (0: only at exit). */
  statsEveryMs: number;
  /** At shutdown, wait this long for updates being written. */
  drainMs: number;
  /** `--json`. */
  json: boolean;
  /** Where records go. */
  log: Logger;
  /** The counters the summary shows. */
  stats: UpdaterStats;
  /** Its metrics (the counts; in stream mode its group's pending, lag and dead letters) and readiness. */
  ops?: Pick<Ops, "metrics" | "readiness">;
}
