import assert from "node:assert/strict";
import { encodePublishBatch } from "../../lib/wire/publish_batch.ts";

const text = new TextEncoder();

/** RESP for one command, built the plain way: the reference the encoder is held to. */
function resp(...words: (string | Uint8Array)[]): Uint8Array {
  const parts = words.map((w) => (typeof w === "string" ? text.encode(w) : w));
  const chunks: Uint8Array[] = [text.encode(`*${parts.length}\r\n`)];
  for (const p of parts) chunks.push(text.encode(`$${p.length}\r\n`), p, text.encode("\r\n"));
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) [out.set(c, at), at += c.length];
  return out;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of parts) [out.set(c, at), at += c.length];
  return out;
}

Deno.test("encodePublishBatch writes exactly the RESP a client sends: text, UTF-8, bytes, empty, channels changing", () => {
  const binary = new Uint8Array([0, 13, 10, 255, 36, 42]);
  const messages = [
    { channel: "news", payload: "hello" },
    { channel: "news", payload: "" },
    { channel: "news", payload: "éééé" }, // 4 characters, 8 bytes: its length takes fewer digits than its bound
    { channel: "chän", payload: "x".repeat(10) },
    { channel: "chän", payload: "y".repeat(200) }, // ASCII past the byte-by-byte path
    { channel: "chän", payload: binary },
    { channel: "news", payload: "\u{1F600}".repeat(40) }, // surrogate pairs: 80 UTF-16 units, 160 bytes
  ];
  const expected = concat(...messages.map((m) => resp("PUBLISH", m.channel, m.payload)));
  const bytes = (b: Uint8Array) => [...b];
  assert.deepEqual(bytes(encodePublishBatch(messages)), bytes(expected));
  assert.deepEqual(
    bytes(encodePublishBatch([{ channel: "s", payload: "p" }], "SPUBLISH")),
    bytes(resp("SPUBLISH", "s", "p")),
  );
  assert.equal(encodePublishBatch([]).length, 0);
});
