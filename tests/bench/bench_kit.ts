/**
 * What the benchmarks share: timing a subprocess, medians, and a small
 * results table with ratios to a baseline measured in the same run.
 *
 * @module
 */
import type { Redis } from "ioredis";
import { formatNumber } from "../../lib/core/stats.ts";

/** One measured figure. */
export interface Row {
  /** What was measured. */
  name: string;
  /** The figure. */
  value: number;
  /** Its unit, e.g. "msg/s" or "ms". */
  unit: string;
  /** The row's value divided by the baseline's, when one is given. */
  ratio?: number;
  /** The lowest and highest ratio over the runs, shown after the ratio when given. */
  ratioRange?: [number, number];
}

/**
 * The median of some numbers.
 *
 * @param values at least one number
 * @returns the middle value (mean of the two middle ones for an even count)
 */
export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/**
 * Per-run ratios to a baseline measured in the same runs: their median and
 * range, which drift less than the figures themselves on a shared machine.
 *
 * @param values the row's figure in each run
 * @param baseline the baseline's figure in the same runs, in the same order
 * @returns `ratio` (the median) and `ratioRange` (lowest, highest), for a {@linkcode Row}
 * @example
 * ```ts
 * import { runRatios } from "./bench_kit.ts";
 * const r = runRatios([50, 40, 90], [100, 100, 100]);
 * console.assert(r.ratio === 0.5 && r.ratioRange[0] === 0.4 && r.ratioRange[1] === 0.9);
 * ```
 */
export function runRatios(values: number[], baseline: number[]): { ratio: number; ratioRange: [number, number] } {
  const ratios = values.map((v, i) => v / baseline[i]!);
  return { ratio: median(ratios), ratioRange: [Math.min(...ratios), Math.max(...ratios)] };
}

/**
 * Prints a results table; `ratio` is shown against the first row.
 *
 * @param title the table's heading
 * @param rows the figures, the baseline first
 */
export function printTable(title: string, rows: Row[]): void {
  console.log(`\n${title}`);
  const width = Math.max(...rows.map((r) => r.name.length));
  const base = rows[0]?.value ?? 1;
  for (const r of rows) {
    const ratio = r.ratio ?? r.value / base;
    const range = r.ratioRange ? `  (×${r.ratioRange[0].toFixed(2)}–${r.ratioRange[1].toFixed(2)})` : "";
    console.log(
      `  ${r.name.padEnd(width)}  ${formatNumber(r.value, r.value < 10 ? 3 : 0).padStart(12)} ${r.unit.padEnd(6)}  ×${
        ratio.toFixed(2)
      }${range}`,
    );
  }
}

/**
 * Runs a command to completion with a time limit and returns its stdout.
 *
 * @param cmd the program
 * @param args its arguments
 * @param timeoutMs killed after this long
 * @returns its stdout as text
 * @throws when it fails or times out
 */
export async function runCommand(cmd: string, args: string[], timeoutMs = 60_000): Promise<string> {
  const child = new Deno.Command(cmd, { args, stdout: "piped", stderr: "piped", stdin: "null" }).spawn();
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  const { code, stdout, stderr } = await child.output();
  clearTimeout(timer);
  if (code !== 0) throw new Error(`${cmd} exited with ${code}: ${new TextDecoder().decode(stderr)}`);
  return new TextDecoder().decode(stdout);
}

/**
 * Whether a program is on PATH.
 *
 * @param name the program's name
 * @returns true when `name --version` runs
 */
export async function onPath(name: string): Promise<boolean> {
  try {
    await new Deno.Command(name, { args: ["--version"], stdout: "null", stderr: "null" }).output();
    return true;
  } catch {
    return false;
  }
}

/**
 * The CPU time a server has used so far (`used_cpu_sys` + `used_cpu_user` of `INFO cpu`), in µs.
 *
 * @param redis a connection to it
 * @returns its CPU time
 */
export async function serverCpuUs(redis: Pick<Redis, "info">): Promise<number> {
  const info = String(await redis.info("cpu"));
  const field = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, "m").exec(info)?.[1] ?? 0);
  return (field("used_cpu_sys") + field("used_cpu_user")) * 1e6;
}

/** Clock ticks per second of /proc's CPU times (USER_HZ: 100 on Linux everywhere). */
const USER_HZ = 100;

/**
 * The CPU time a process has used so far (user + system, all threads), in
 * ms, from /proc/PID/stat: to 10 ms, so measure over a second or more.
 *
 * @param pid the process
 * @returns its CPU time, or undefined where there is no /proc (or it exited)
 */
export function processCpuMs(pid: number): number | undefined {
  try {
    // After the command name in parentheses (which may hold spaces): state is field 3, utime 14, stime 15.
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / USER_HZ;
  } catch {
    return undefined;
  }
}

/**
 * A process's resident memory now (VmRSS in /proc/PID/status).
 *
 * @param pid the process
 * @returns bytes, or undefined where there is no /proc (or it exited)
 */
export function rssBytes(pid: number): number | undefined {
  try {
    const kb = /^VmRSS:\s+(\d+) kB/m.exec(Deno.readTextFileSync(`/proc/${pid}/status`))?.[1];
    return kb === undefined ? undefined : Number(kb) * 1024;
  } catch {
    return undefined;
  }
}

/**
 * Samples a process's resident memory ({@linkcode rssBytes}) every `everyMs`.
 *
 * @param pid the process
 * @param everyMs how often
 * @returns the samples so far, and `stop` to end the sampling
 */
export function sampleRss(pid: number, everyMs: number): { samples: number[]; stop: () => void } {
  const samples: number[] = [];
  const timer = setInterval(() => {
    const bytes = rssBytes(pid);
    if (bytes !== undefined) samples.push(bytes);
  }, everyMs);
  return { samples, stop: () => clearInterval(timer) };
}
