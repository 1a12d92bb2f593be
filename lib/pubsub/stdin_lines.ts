/**
 * Reads a byte stream as lines, in batches: every complete line that has
 * arrived so far, so a fast producer is published in pipelines.
 *
 * @module
 */

const NEWLINE = 0x0a;
const CR = 0x0d;

/**
 * Yields the non-empty lines of a stream (without `\n` or `\r\n`), as bytes,
 * in batches of what has arrived; the last line needs no newline.
 *
 * @param stream the input, e.g. `Deno.stdin.readable`
 * @param signal stops reading early
 * @returns batches of lines
 * @example
 * ```ts
 * import { readLines } from "./stdin_lines.ts";
 * import assert from "node:assert/strict";
 * const input = new Blob(["a\nb\n"]).stream();
 * for await (const batch of readLines(input)) assert.equal(batch.length, 2);
 * ```
 */
export async function* readLines(
  stream: ReadableStream<Uint8Array>,
  signal?: AbortSignal,
): AsyncGenerator<Uint8Array[]> {
  const reader = stream.getReader();
  const cancel = () => reader.cancel().catch(() => {});
  signal?.addEventListener("abort", cancel, { once: true });
  // The start of a line that has not ended yet, in the chunks it came in: each chunk is scanned once.
  let partial: Uint8Array[] = [];
  try {
    while (!signal?.aborted) {
      const { value: chunk, done } = await reader.read();
      if (done) break;
      const lines: Uint8Array[] = [];
      let start = 0;
      for (let i = chunk.indexOf(NEWLINE); i !== -1; i = chunk.indexOf(NEWLINE, start)) {
        pushLine(lines, concat([...partial, chunk.subarray(start, i)]));
        partial = [];
        start = i + 1;
      }
      if (start < chunk.length) partial.push(chunk.slice(start));
      if (lines.length) yield lines;
    }
    const last: Uint8Array[] = [];
    pushLine(last, concat(partial));
    if (last.length && !signal?.aborted) yield last;
  } finally {
    signal?.removeEventListener("abort", cancel);
    reader.releaseLock();
  }
}

function pushLine(lines: Uint8Array[], line: Uint8Array): void {
  const end = line.length && line[line.length - 1] === CR ? line.length - 1 : line.length;
  if (end > 0) lines.push(line.subarray(0, end));
}

function concat(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}
