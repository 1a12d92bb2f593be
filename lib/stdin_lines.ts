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
 * const input = new Blob(["a\nb\n"]).stream();
 * for await (const batch of readLines(input)) console.assert(batch.length === 2);
 * ```
 */
export async function* readLines(
  stream: ReadableStream<Uint8Array>,
  signal?: AbortSignal,
): AsyncGenerator<Uint8Array[]> {
  const reader = stream.getReader();
  const cancel = () => reader.cancel().catch(() => {});
  signal?.addEventListener("abort", cancel, { once: true });
  let rest = new Uint8Array(0);
  try {
    while (!signal?.aborted) {
      const { value, done } = await reader.read();
      if (done) break;
      const chunk = rest.length ? concat(rest, value) : value;
      const lines: Uint8Array[] = [];
      let start = 0;
      for (let i = chunk.indexOf(NEWLINE); i !== -1; i = chunk.indexOf(NEWLINE, start)) {
        pushLine(lines, chunk.subarray(start, i));
        start = i + 1;
      }
      rest = chunk.slice(start);
      if (lines.length) yield lines;
    }
    const last: Uint8Array[] = [];
    pushLine(last, rest);
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

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
