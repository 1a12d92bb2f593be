/**
 * Sizes on the command line: `65536`, `64kb`, `1.5mb`.
 *
 * @module
 */
import { UsageError } from "./exit_codes.ts";

const UNITS: Record<string, number> = { "": 1, b: 1, kb: 1024, k: 1024, mb: 1024 ** 2, m: 1024 ** 2, gb: 1024 ** 3 };

/**
 * Parses a size in bytes, with an optional unit (b, kb, mb, gb; powers of 1024).
 *
 * @param raw the text
 * @param what the flag, for the error message
 * @returns whole bytes, at least 1
 * @throws {UsageError} when the text is not a size
 * @example
 * ```ts
 * import { parseByteSize } from "./byte_size.ts";
 * import assert from "node:assert/strict";
 * assert.equal(parseByteSize("64kb", "--max-bytes"), 65536);
 * ```
 */
export function parseByteSize(raw: string, what: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(raw);
  const scale = m ? UNITS[m[2]!.toLowerCase()] : undefined;
  const bytes = m && scale ? Math.floor(Number(m[1]) * scale) : 0;
  if (bytes < 1) throw new UsageError(`${what} expects a size such as 65536, 64kb or 1mb, got "${raw}"`);
  return bytes;
}

/**
 * A size in bytes for people: whole bytes below 1 KB, else KB, MB or GB
 * (powers of 1024) with at most one decimal.
 *
 * @param bytes the size
 * @returns e.g. `512 bytes`, `64 KB`, `5.1 MB`
 * @example
 * ```ts
 * import { formatBytes } from "./byte_size.ts";
 * import assert from "node:assert/strict";
 * assert.equal(formatBytes(65536), "64 KB");
 * assert.equal(formatBytes(5.1 * 1024 ** 2), "5.1 MB");
 * ```
 */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} bytes`;
  const [unit, scale] = bytes < 1024 ** 2 ? ["KB", 1024] : bytes < 1024 ** 3 ? ["MB", 1024 ** 2] : ["GB", 1024 ** 3];
  return `${Number((bytes / (scale as number)).toFixed(1))} ${unit}`;
}
