/**
 * The Nagios plugin convention `check.ts` follows (as `nats server check`
 * does), not the project's exit-code table: 0 OK, 1 WARNING, 2 CRITICAL,
 * 3 UNKNOWN; one line per check, the worst deciding the exit code; and
 * `--warn` / `--crit` thresholds by name.
 *
 * @module
 */
import { parseDuration } from "../core/cli.ts";
import { UsageError } from "../core/exit_codes.ts";

/** The exit code of each status. */
export const NAGIOS_CODE = { OK: 0, WARNING: 1, CRITICAL: 2, UNKNOWN: 3 } as const;

/** A check's status. */
export type NagiosStatus = keyof typeof NAGIOS_CODE;

/** How bad each status is, to pick the worst: CRITICAL, then WARNING, then UNKNOWN, then OK. */
const RANK: Record<NagiosStatus, number> = { OK: 0, UNKNOWN: 1, WARNING: 2, CRITICAL: 3 };

/**
 * The worst of some statuses (OK for none).
 *
 * @param statuses the statuses
 * @returns CRITICAL if any, else WARNING if any, else UNKNOWN if any, else OK
 * @example
 * ```ts
 * import { worst } from "./nagios.ts";
 * import assert from "node:assert/strict";
 * assert.equal(worst(["OK", "UNKNOWN", "WARNING"]), "WARNING");
 * ```
 */
export function worst(statuses: Iterable<NagiosStatus>): NagiosStatus {
  let found: NagiosStatus = "OK";
  for (const s of statuses) if (RANK[s] > RANK[found]) found = s;
  return found;
}

/** The figures thresholds apply to, and which way is bad. */
export const MEASURES = {
  lag: { unit: "", worse: "higher", about: "entries not yet delivered to the group" },
  pending: { unit: "", worse: "higher", about: "entries delivered and not acknowledged" },
  idle: { unit: "s", worse: "higher", about: "how long the longest-waiting pending entry has waited" },
  dead: { unit: "", worse: "higher", about: "entries in <stream>:dead" },
  subscribers: { unit: "", worse: "lower", about: "subscribers of a channel (PUBSUB NUMSUB)" },
  latency: { unit: "s", worse: "higher", about: "the canary's publish → receive time" },
  orphans: { unit: "", worse: "higher", about: "cluster masters without a replica" },
} as const;

/** A figure thresholds apply to. */
export type Measure = keyof typeof MEASURES;

/** Warning and critical thresholds by measure (seconds for durations). */
export type Thresholds = Partial<Record<Measure, { warn?: number; crit?: number }>>;

/**
 * Reads `--warn` and `--crit`: `NAME=VALUE`, repeated or separated by commas;
 * durations (`idle`, `latency`) as `500ms`, `30s`, `5m`.
 *
 * @param warn the values of `--warn`
 * @param crit the values of `--crit`
 * @param defaults thresholds used where none is given
 * @returns the thresholds
 * @throws {UsageError} for an unknown name or a value that is not a number
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseThresholds } from "./nagios.ts";
 * const t = parseThresholds(["lag=100,idle=30s"], ["lag=1000"]);
 * assert.deepEqual(t, { lag: { warn: 100, crit: 1000 }, idle: { warn: 30 } });
 * ```
 */
export function parseThresholds(warn: string[], crit: string[], defaults: Thresholds = {}): Thresholds {
  const out: Thresholds = structuredClone(defaults);
  for (const [flag, values] of [["warn", warn], ["crit", crit]] as const) {
    for (const item of values.flatMap((v) => v.split(",")).map((v) => v.trim()).filter((v) => v !== "")) {
      const [name = "", raw] = item.split("=");
      if (!(name in MEASURES) || raw === undefined) {
        throw new UsageError(
          `--${flag} expects NAME=VALUE with NAME one of ${Object.keys(MEASURES).join(", ")}; got "${item}"`,
        );
      }
      const measure = name as Measure;
      const value = MEASURES[measure].unit === "s" ? parseDuration(raw, `--${flag} ${name}`) / 1000 : Number(raw);
      if (raw.trim() === "" || !Number.isFinite(value) || value < 0) {
        throw new UsageError(`--${flag} ${name} expects a number of at least 0, got "${raw}"`);
      }
      out[measure] = { ...out[measure], [flag]: value };
    }
  }
  return out;
}

/** One checked figure: a line of the output. */
export interface CheckResult {
  /** What was checked, e.g. `key_submission/processors lag`. */
  name: string;
  /** How it stands. */
  status: NagiosStatus;
  /** The figure (seconds for durations); null when it could not be had. */
  value: number | null;
  /** Which figure it is, for its thresholds and unit. */
  measure?: Measure;
  /** What was found, in words. */
  detail: string;
  /** The warning threshold applied. */
  warn?: number;
  /** The critical threshold applied. */
  crit?: number;
}

/**
 * Judges a figure against its thresholds.
 *
 * @param name what was checked
 * @param measure which figure
 * @param value the figure
 * @param detail what was found, in words
 * @param thresholds the thresholds
 * @returns the line: CRITICAL past `crit`, else WARNING past `warn`, else OK (past: above, or below for `subscribers`)
 * @example
 * ```ts
 * import { judge } from "./nagios.ts";
 * import assert from "node:assert/strict";
 * assert.equal(judge("s/g lag", "lag", 150, "150", { lag: { warn: 100, crit: 1000 } }).status, "WARNING");
 * assert.equal(judge("news", "subscribers", 0, "0", { subscribers: { crit: 1 } }).status, "CRITICAL");
 * ```
 */
export function judge(
  name: string,
  measure: Measure,
  value: number,
  detail: string,
  thresholds: Thresholds,
): CheckResult {
  const { warn, crit } = thresholds[measure] ?? {};
  const past = (limit: number | undefined) =>
    limit !== undefined && (MEASURES[measure].worse === "lower" ? value < limit : value > limit);
  const status: NagiosStatus = past(crit) ? "CRITICAL" : past(warn) ? "WARNING" : "OK";
  return {
    name,
    status,
    value,
    measure,
    detail,
    ...(warn !== undefined ? { warn } : {}),
    ...(crit !== undefined ? { crit } : {}),
  };
}

/**
 * A check that could not be made.
 *
 * @param name what was to be checked
 * @param status UNKNOWN (could not tell) or CRITICAL (what it needs is missing)
 * @param detail why, in one line
 * @returns the line
 */
export function notChecked(name: string, status: NagiosStatus, detail: string): CheckResult {
  return { name, status, value: null, detail };
}

/**
 * One line of output: status, name, what was found, thresholds, and Nagios performance data after `|`.
 *
 * @param r the result
 * @returns the line
 * @example
 * ```ts
 * import { judge, resultLine } from "./nagios.ts";
 * import assert from "node:assert/strict";
 * const line = resultLine(judge("orders/billing lag", "lag", 3, "3 entries", { lag: { warn: 100 } }));
 * assert.equal(line, "OK: orders/billing lag 3 entries (warn > 100) | 'orders/billing lag'=3;100;");
 * ```
 */
export function resultLine(r: CheckResult): string {
  const lower = r.measure !== undefined && MEASURES[r.measure].worse === "lower";
  const seconds = r.measure !== undefined && MEASURES[r.measure].unit === "s";
  const shown = (v: number) => seconds ? `${Math.round(v * 1e6) / 1000} ms` : String(v);
  const sign = lower ? "<" : ">";
  const limits = [
    ...(r.warn !== undefined ? [`warn ${sign} ${shown(r.warn)}`] : []),
    ...(r.crit !== undefined ? [`crit ${sign} ${shown(r.crit)}`] : []),
  ];
  const said = `${r.status}: ${r.name} ${r.detail}${limits.length ? ` (${limits.join(", ")})` : ""}`;
  if (r.value === null || r.measure === undefined) return said;
  const unit = MEASURES[r.measure].unit;
  return `${said} | '${r.name.replaceAll("'", "")}'=${r.value}${unit};${r.warn ?? ""};${r.crit ?? ""}`;
}
