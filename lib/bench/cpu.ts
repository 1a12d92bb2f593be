/**
 * Who was busy during a run: the CPU time of this thread (a worker's, from
 * `/proc/thread-self/schedstat`, to the nanosecond, Linux only), of the whole
 * benchmark process (`process.cpuUsage()`, every thread) and of a server
 * (`INFO cpu`: `used_cpu_sys` + `used_cpu_user`).
 *
 * @module
 */
import process from "node:process";
import type { Redis } from "ioredis";

/**
 * The CPU time this thread has used so far, in ms: in a worker, that worker's own.
 *
 * @returns ms, or undefined where there is no /proc/thread-self (not Linux)
 * @example
 * ```ts
 * import { threadCpuMs } from "./cpu.ts";
 * import assert from "node:assert/strict";
 * const ms = threadCpuMs();
 * assert.ok(ms === undefined || ms >= 0);
 * ```
 */
export function threadCpuMs(): number | undefined {
  try {
    const ns = Number(Deno.readTextFileSync("/proc/thread-self/schedstat").split(" ")[0]);
    return Number.isFinite(ns) ? ns / 1e6 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The CPU time the whole process has used so far (user + system, every thread), in ms.
 *
 * @returns ms
 */
export function processCpuMs(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

/**
 * The CPU time a server has used so far (`used_cpu_sys` + `used_cpu_user` of `INFO cpu`), in ms.
 *
 * @param redis a connection to it
 * @returns ms, or undefined when INFO is refused
 */
export async function serverCpuMs(redis: Pick<Redis, "info">): Promise<number | undefined> {
  const info = String(await redis.info("cpu").catch(() => ""));
  const field = (name: string) => new RegExp(`^${name}:([\\d.]+)`, "m").exec(info)?.[1];
  const [sys, user] = [field("used_cpu_sys"), field("used_cpu_user")];
  return sys === undefined || user === undefined ? undefined : (Number(sys) + Number(user)) * 1000;
}
