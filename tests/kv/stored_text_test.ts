import assert from "node:assert/strict";
import { parseIsoTime, typeNameProblem } from "../../lib/kv/message.ts";
import { dumpsPython, findInfinite, parseOrdered, pythonString } from "../../lib/kv/python_json.ts";
import { quickUpdate } from "../../lib/kv/stored_text.ts";

/** What the full reader makes of a text: the update's fields and stored text, or undefined when it refuses it. */
function fully(text: string) {
  let root;
  try {
    root = parseOrdered(text);
  } catch {
    return undefined;
  }
  if (!(root instanceof Map)) return undefined;
  const [type, updated, valid, values] = ["type", "updated", "valid", "values"].map((f) => root.get(f));
  if (typeof type !== "string" || typeNameProblem(type) !== undefined) return undefined;
  if (typeof updated !== "string" || parseIsoTime(updated) === undefined) return undefined;
  if (typeof valid !== "string" || parseIsoTime(valid) === undefined) return undefined;
  if (!(values instanceof Map) || findInfinite(values) !== undefined) return undefined;
  const stored = `{"updated": ${pythonString(updated)}, "valid": ${pythonString(valid)}, "values": ${
    dumpsPython(values)
  }}`;
  return { type, updated, valid, validAt: parseIsoTime(valid)!, stored };
}

/** A small deterministic random source (the same texts on every run). */
function random(seed: number): () => number {
  return () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
}

const PIECES = [
  "0",
  "-0",
  "1",
  "-12",
  "21.5",
  "1.0",
  "1e5",
  "1E+2",
  "0.00001",
  "1e999",
  "-1e999",
  "12345678901234567890",
  "1.5e-7",
  '"a"',
  '"sensor reading"',
  '"é"',
  '"\\u00e9"',
  '"a\\"b"',
  '"\\n"',
  '"~\\u007f"',
  '"\x7f"',
  '""',
  "true",
  "false",
  "null",
  "01",
  "1.",
  "-",
  "+1",
  "nul",
  '"\\x"',
];

/** A random JSON-ish value: mostly valid, now and then not. */
function valueText(next: () => number, depth: number): string {
  const pick = next();
  const ws = () => [" ", "", "", "\n", "\t"][Math.floor(next() * 5)]!;
  if (depth > 3 || pick < 0.5) return PIECES[Math.floor(next() * PIECES.length)]!;
  const n = Math.floor(next() * 4);
  if (pick < 0.75) {
    const keys = ["a", "b", "2", "a", "é", "t y"];
    const items = Array.from(
      { length: n },
      () => `${ws()}"${keys[Math.floor(next() * keys.length)]}"${ws()}:${ws()}${valueText(next, depth + 1)}${ws()}`,
    );
    return `{${items.join(",")}}`;
  }
  return `[${Array.from({ length: n }, () => ws() + valueText(next, depth + 1) + ws()).join(",")}]`;
}

function updateText(next: () => number): string {
  const fields = [
    `"type":${['"k1"', '"a b"', "7", '"Moon"', '"x.y:z-1"'][Math.floor(next() * 5)]}`,
    `"updated":${
      ['"2023-10-01T12:00:00Z"', '"2023-10-01T12:00:00.123Z"', '"2023-10-01T12:00:00+02:00"', '"no"'][
        Math.floor(next() * 4)
      ]
    }`,
    `"valid":${
      ['"2099-01-01T00:00:00Z"', '"2023-02-30T00:00:00Z"', '"2024-02-29T23:59:59.999Z"', "1"][
        Math.floor(next() * 4)
      ]
    }`,
    `"values":${next() < 0.8 ? `{"n":${valueText(next, 1)},"m":${valueText(next, 1)}}` : valueText(next, 1)}`,
  ];
  if (next() < 0.2) fields.push(`"extra":${valueText(next, 1)}`);
  if (next() < 0.1) fields.push(fields[Math.floor(next() * fields.length)]!); // a repeated field
  if (next() < 0.1) fields.splice(Math.floor(next() * fields.length), 1); // a missing one
  let text = `{${fields.join(next() < 0.5 ? "," : " , ")}}`;
  if (next() < 0.1) text = ` ${text} `;
  if (next() < 0.05) text = text.slice(0, Math.floor(next() * text.length)); // cut short
  if (next() < 0.05) text += "x";
  return text;
}

Deno.test("quickUpdate() gives exactly what the full reader gives, or leaves the message to it", () => {
  const next = random(24);
  let taken = 0;
  for (let n = 0; n < 30_000; n++) {
    const text = updateText(next);
    const quick = quickUpdate(text, typeNameProblem);
    if (quick === undefined) continue;
    taken++;
    assert.deepEqual(quick, fully(text), `for ${text}`);
  }
  assert.ok(taken > 1000, `only ${taken} taken in one pass`); // the common kind is read in one pass
});

Deno.test("quickUpdate() leaves escapes, non-ASCII, repeated keys and deep nesting to the full reader", () => {
  const update = (values: string) =>
    `{"type":"T","updated":"2023-10-01T12:00:00Z","valid":"2023-10-01T12:05:32Z","values":${values}}`;
  assert.equal(quickUpdate(update('{"a":1}'), typeNameProblem)?.stored.endsWith('"values": {"a": 1}}'), true);
  for (const values of ['{"a":"\\n"}', '{"a":"é"}', '{"a":1,"a":2}', '{"a":1e999}', "[1]", '"{}"']) {
    assert.equal(quickUpdate(update(values), typeNameProblem), undefined, values);
  }
  assert.ok(quickUpdate(update(`{"a":${"[".repeat(98)}${"]".repeat(98)}}`), typeNameProblem));
  assert.equal(quickUpdate(update(`{"a":${"[".repeat(99)}${"]".repeat(99)}}`), typeNameProblem), undefined);
});
