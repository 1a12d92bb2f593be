import assert from "node:assert/strict";
import { escapeControl, prefixedWriter, Printer, showPayload, type Writer } from "../../lib/core/output.ts";

function terminal(): Writer & { text: string } {
  const decoder = new TextDecoder();
  const w = {
    text: "",
    writeSync(p: Uint8Array) {
      w.text += decoder.decode(p);
      return p.length;
    },
    isTerminal: () => true,
  };
  return w;
}

Deno.test("showPayload() shows UTF-8 as text and anything else escaped and base64", () => {
  assert.deepEqual(showPayload(new TextEncoder().encode("héllo")), { text: "héllo", json: { payload: "héllo" } });
  const binary = showPayload(new Uint8Array([0x00, 0xff, 0x41, 0x5c]));
  assert.equal(binary.text, "\\x00\\xffA\\\\");
  assert.deepEqual(binary.json, { payload: "AP9BXA==", encoding: "base64" });
});

Deno.test("escapeControl() keeps escape sequences from reaching the terminal", () => {
  assert.equal(escapeControl("a\x1b[31mb\n"), "a\\x1b[31mb\\n");
  assert.equal(escapeControl("\u009b31m \u202eabc"), "\\x9b31m \\u202eabc");
  assert.equal(escapeControl("héllo ✓"), "héllo ✓");
});

Deno.test("Printer colours only a terminal, and never with NO_COLOR", () => {
  const saved = Deno.env.get("NO_COLOR");
  try {
    Deno.env.delete("NO_COLOR");
    assert.equal(new Printer(terminal()).green("x"), "\x1b[32mx\x1b[0m");
    Deno.env.set("NO_COLOR", "1");
    assert.equal(new Printer(terminal()).green("x"), "x");
  } finally {
    if (saved === undefined) Deno.env.delete("NO_COLOR");
    else Deno.env.set("NO_COLOR", saved);
  }
});

Deno.test("prefixedWriter() prefixes whole lines even when they arrive in pieces", () => {
  const t = terminal();
  const lines: string[] = [];
  const w = prefixedWriter(t, "> ", (l) => lines.push(l));
  const enc = new TextEncoder();
  w.writeSync(enc.encode("one\ntw"));
  w.writeSync(enc.encode("o\n"));
  assert.equal(t.text, "> one\n> two\n");
  assert.deepEqual(lines, ["one", "two"]);
});
