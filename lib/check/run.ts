/**
 * What `check.ts` checks, run against a server or a cluster: each check on
 * its own (one that fails to run is UNKNOWN, the others go on), every
 * command bounded by the timeout.
 *
 * @module
 */
import { CliError } from "../core/exit_codes.ts";
import type { Endpoint, Link } from "../endpoint/mod.ts";
import { type CheckResult, notChecked, type Thresholds } from "./nagios.ts";
import {
  checkCanary,
  checkCluster,
  type CheckConnection,
  checkNotifications,
  checkSubscribers,
} from "./server_checks.ts";
import { checkGroup } from "./stream_checks.ts";

/** The thresholds that apply unless `--warn`/`--crit` say otherwise. */
export const DEFAULT_THRESHOLDS: Thresholds = {
  subscribers: { crit: 1 },
  orphans: { warn: 0 },
};

/** What to check. */
export interface CheckPlan {
  /** Streams whose consumer group `group` is checked. */
  streams: string[];
  /** The consumer group. */
  group?: string;
  /** Channels whose subscribers are counted. */
  channels: string[];
  /** Keyspace notifications: the letters needed (`""`: any that deliver events), or undefined: not checked. */
  notifications?: string;
  /** The canary's channel, or undefined: no canary. */
  canary?: string;
  /** Whether the cluster's state and replicas are checked. */
  cluster: boolean;
  /** The thresholds. */
  thresholds: Thresholds;
}

/**
 * Runs the checks of a plan.
 *
 * @param endpoint the server or cluster
 * @param plan what to check
 * @param how where connections report, and how long connecting and each command may take
 * @returns the lines, in the plan's order; a server that cannot be reached gives one CRITICAL `connect` line
 */
export async function runChecks(endpoint: Endpoint, plan: CheckPlan, how: CheckConnection): Promise<CheckResult[]> {
  let link: Link;
  try {
    link = await endpoint.link({
      reporter: how.reporter,
      reconnect: false,
      connectTimeoutMs: how.timeoutMs,
      commandTimeoutMs: how.timeoutMs,
    });
  } catch (err) {
    if (!(err instanceof CliError)) throw err;
    return [notChecked("connect", "CRITICAL", err.message.split("\n")[0]!)];
  }
  const results: CheckResult[] = [];
  const attempt = async (name: string, check: () => Promise<CheckResult | CheckResult[]>) => {
    try {
      const found = await check();
      results.push(...(Array.isArray(found) ? found : [found]));
    } catch (err) {
      results.push(notChecked(name, "UNKNOWN", `could not be checked: ${(err as Error).message.split("\n")[0]}`));
    }
  };
  try {
    const { thresholds } = plan;
    for (const stream of plan.streams) {
      await attempt(`${stream}/${plan.group}`, () => checkGroup(link.redis, stream, plan.group!, thresholds));
    }
    for (const channel of plan.channels) {
      await attempt(`${channel} subscribers`, () => checkSubscribers(endpoint, how, channel, thresholds));
    }
    if (plan.notifications !== undefined) {
      await attempt("notifications", () => checkNotifications(endpoint, how, plan.notifications!));
    }
    if (plan.canary !== undefined) {
      await attempt(`canary on ${plan.canary}`, () => checkCanary(endpoint, link, how, plan.canary!, thresholds));
    }
    if (plan.cluster) await attempt("cluster", () => checkCluster(link, thresholds));
  } finally {
    await link.close();
  }
  return results;
}
