/**
 * bench.ts run in-process for the tests of its counting, on one server and on a cluster.
 *
 * @module
 */
import assert from "node:assert/strict";
import { main } from "../../scripts/bench.ts";
import { captureIo } from "../harness.ts";

/**
 * Runs bench.ts with `--json`.
 *
 * @param args its arguments, without `--json`
 * @returns its exit code, its one summary object (`{}` when it printed none) and its stderr
 */
export async function bench(args: string[]): Promise<{ code: number; summary: Record<string, unknown>; err: string }> {
  const io = captureIo();
  const code = await main([...args, "--json"], io);
  const lines = io.out.text.split("\n").filter((l) => l !== "");
  assert.ok(lines.length <= 1, `one object at most, got:\n${io.out.text}`);
  return { code, summary: lines[0] ? JSON.parse(lines[0]) : {}, err: io.err.text };
}
