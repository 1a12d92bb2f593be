import assert from "node:assert/strict";
import { readLines } from "../../lib/pubsub/stdin_lines.ts";

function streamOf(...chunks: (string | Uint8Array)[]): ReadableStream<Uint8Array> {
  const enc = new TextEncoder();
  return new ReadableStream({
    start(controller) {
      for (const c of chunks) controller.enqueue(typeof c === "string" ? enc.encode(c) : c);
      controller.close();
    },
  });
}

async function collect(stream: ReadableStream<Uint8Array>): Promise<string[]> {
  const dec = new TextDecoder();
  const lines: string[] = [];
  for await (const batch of readLines(stream)) lines.push(...batch.map((l) => dec.decode(l)));
  return lines;
}

Deno.test("readLines() joins lines split across chunks, drops CR and empty lines, keeps a last line without newline", async () => {
  assert.deepEqual(await collect(streamOf("fi", "rst\r\nsec", "ond\n\n", "thi", "rd")), ["first", "second", "third"]);
  assert.deepEqual(await collect(streamOf("")), []);
});

Deno.test("readLines() reads a very long line in linear time", async () => {
  const chunk = new Uint8Array(64 * 1024).fill(0x61);
  const chunks = Array.from({ length: 320 }, () => chunk); // one 20 MiB line in 64 KiB pieces
  const started = performance.now();
  const lines: number[] = [];
  for await (const batch of readLines(streamOf(...chunks, "\nend\n"))) lines.push(...batch.map((l) => l.length));
  assert.deepEqual(lines, [320 * 64 * 1024, 3]);
  // The old rescan-and-copy way took many seconds for this; a linear read takes well under one.
  assert.ok(performance.now() - started < 3000, `took ${(performance.now() - started).toFixed(0)} ms`);
});
