import assert from "node:assert/strict";
import { isIsoTimestamp } from "../../lib/events/envelope.ts";
import { parseIsoTime, parseUpdate, type RejectReason, updateEventJson } from "../../lib/kv/message.ts";
import { dumpsPython, parseOrdered, pythonNumber } from "../../lib/kv/python_json.ts";
import { parseByteSize } from "../../lib/core/byte_size.ts";
import { Buffer } from "node:buffer";

const bytes = (text: string) => new TextEncoder().encode(text);

Deno.test("parseUpdate() stores the seed's example exactly as the Python kv_updater did", () => {
  const seed = `{
    "type": "key",
    "updated": "2023-10-01T12:00:00Z",
    "valid": "2023-10-01T12:05:32Z",
    "values": { "field1": "value1", "field2": "value2" }
  }`;
  const parsed = parseUpdate(bytes(seed));
  assert.ok(parsed.ok);
  assert.equal(parsed.update.type, "key");
  // Python: json.dumps({"updated": ..., "valid": ..., "values": ...})
  assert.equal(
    parsed.update.stored,
    '{"updated": "2023-10-01T12:00:00Z", "valid": "2023-10-01T12:05:32Z", "values": {"field1": "value1", "field2": "value2"}}',
  );
});

Deno.test("dumpsPython() matches Python's json.dumps for numbers, key order, non-ASCII and escapes", () => {
  // Expected strings produced by CPython 3 json.dumps(json.loads(text)).
  const text = '{"b":1,"2":2.0,"a":[1e5,0.00001,1e16,1e15,123.456,-0.0,-0,12345678901234567890,1.5e-7,1e-400]}';
  assert.equal(
    dumpsPython(parseOrdered(text)),
    '{"b": 1, "2": 2.0, "a": [100000.0, 1e-05, 1e+16, 1000000000000000.0, 123.456, -0.0, 0, 12345678901234567890, 1.5e-07, 0.0]}',
  );
  assert.equal(
    dumpsPython(
      parseOrdered('{"s":"é\\u2028\\ud83d\\ude00\\u007f\\u0001\\/x\\"\\\\","a":{"a":1,"a":2},"e":{},"l":[]}'),
    ),
    '{"s": "\\u00e9\\u2028\\ud83d\\ude00\\u007f\\u0001/x\\"\\\\", "a": {"a": 2}, "e": {}, "l": []}',
  );
  assert.equal(pythonNumber("1.7976931348623157e308"), "1.7976931348623157e+308");
  assert.equal(pythonNumber("5e-324"), "5e-324");
});

Deno.test("parseUpdate() rejects each kind of bad message with its reason", () => {
  const ok = { type: "T", updated: "2023-10-01T12:00:00Z", valid: "2023-10-01T12:05:32Z", values: {} };
  const cases: [string | Uint8Array, RejectReason][] = [
    ["{not json", "invalid_json"],
    [new Uint8Array([0x7b, 0xff, 0x7d]), "invalid_json"],
    ["[1, 2]", "not_an_object"],
    [JSON.stringify({ ...ok, values: undefined }), "missing_field"],
    [JSON.stringify({ ...ok, type: 7 }), "bad_type"],
    [JSON.stringify({ ...ok, type: "" }), "bad_type"],
    [JSON.stringify({ ...ok, type: "a b" }), "unsafe_type"],
    [JSON.stringify({ ...ok, type: "../etc" }), "unsafe_type"],
    [JSON.stringify({ ...ok, type: "key*" }), "unsafe_type"],
    [JSON.stringify({ ...ok, type: "x".repeat(129) }), "unsafe_type"],
    [JSON.stringify({ ...ok, updated: "yesterday" }), "bad_time"],
    [JSON.stringify({ ...ok, valid: "2023-02-30T00:00:00Z" }), "bad_time"],
    [JSON.stringify({ ...ok, valid: 1696161932 }), "bad_time"],
    [JSON.stringify({ ...ok, values: [1] }), "bad_values"],
    [JSON.stringify({ ...ok, values: "v" }), "bad_values"],
    ['{"type":"T","updated":"2023-10-01T12:00:00Z","valid":"2023-10-01T12:00:00Z","values":{"x":1e999}}', "bad_values"],
    [JSON.stringify({ ...ok, values: { big: "x".repeat(200) } }), "too_large"],
  ];
  for (const [payload, reason] of cases) {
    const parsed = parseUpdate(
      typeof payload === "string" ? bytes(payload) : payload,
      reason === "too_large" ? 150 : 1000,
    );
    assert.ok(!parsed.ok, `accepted ${payload}`);
    assert.equal(parsed.rejection.reason, reason, `${payload}: ${parsed.rejection.detail}`);
    assert.ok(parsed.rejection.excerpt.length <= 120, parsed.rejection.excerpt);
  }
});

Deno.test("parseIsoTime() reads offsets, fractions and zone-less times (as UTC)", () => {
  assert.equal(parseIsoTime("2023-10-01T12:00:00Z"), Date.UTC(2023, 9, 1, 12));
  assert.equal(parseIsoTime("2023-10-01T14:00:00.250+02:00"), Date.UTC(2023, 9, 1, 12, 0, 0, 250));
  assert.equal(parseIsoTime("2023-10-01T12:00"), Date.UTC(2023, 9, 1, 12));
  assert.equal(parseIsoTime("2023-10-01"), undefined);
  assert.equal(parseIsoTime("2023-10-01T25:00:00Z"), undefined);
});

Deno.test("one ISO-time rule: update times and event timestamps accept and refuse the same texts", () => {
  const samples = [
    "2023-10-01T12:00:00Z",
    "2023-10-01T12:00",
    "2023-10-01T12:00:00,5",
    "2023-10-01T12:00:00+02",
    "2023-10-01T12:00:00-0530",
    "2024-02-29T23:59:60.5Z",
    "2023-10-01T12:00:61Z",
    "2023-10-01 12:00:00",
    "2023-02-29T12:00:00",
    "2023-10-01T12:00:00+25:00",
  ];
  for (const text of samples) assert.equal(isIsoTimestamp(text), parseIsoTime(text) !== undefined, text);
  assert.equal(parseIsoTime("2024-02-29T23:59:60Z"), Date.UTC(2024, 2, 1)); // a leap second: the next minute
  assert.equal(parseIsoTime("2023-10-01T12:00:00+02"), Date.UTC(2023, 9, 1, 10));
});

Deno.test("updateEventJson() adds the type back to a stored value", () => {
  assert.equal(
    updateEventJson("M", '{"updated": "u", "valid": "v", "values": {"a": 1}}'),
    '{"type":"M","updated":"u","valid":"v","values":{"a":1}}',
  );
  assert.equal(updateEventJson("M", "not json"), undefined);
});

Deno.test("parseByteSize() reads plain and suffixed sizes", () => {
  assert.equal(parseByteSize("1mb", "--x"), 1048576);
  assert.equal(parseByteSize("100", "--x"), 100);
  assert.throws(() => parseByteSize("lots", "--x"), /--x expects a size/);
});

Deno.test("parseUpdate() refuses values nested deeper than 100 levels by the same rule as events", () => {
  const at = (depth: number) =>
    bytes(
      `{"type":"T","updated":"2023-10-01T12:00:00Z","valid":"2023-10-01T12:05:32Z","values":{"v":${"[".repeat(depth)}${
        "]".repeat(depth)
      }}}`,
    );
  const parsed = parseUpdate(at(100_000), 1024 * 1024);
  assert.ok(!parsed.ok);
  assert.equal(parsed.rejection.reason, "invalid_json");
  assert.match(parsed.rejection.detail, /^Nested deeper than 100 levels at position \d+$/);
  assert.ok(parseUpdate(at(98)).ok); // the root object and "values" are two of the 100 levels
});

Deno.test("parseUpdate() reads UTF-8 as the strict decoder does: a byte order mark dropped, bad bytes refused", () => {
  const text = '{"type":"T","updated":"2023-10-01T12:00:00Z","valid":"2023-10-01T12:05:32Z","values":{"s":"é\uFFFD"}}';
  const stored =
    '{"updated": "2023-10-01T12:00:00Z", "valid": "2023-10-01T12:05:32Z", "values": {"s": "\\u00e9\\ufffd"}}';
  for (
    const payload of [bytes(text), Buffer.from(text), Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), bytes(text)])]
  ) {
    const parsed = parseUpdate(payload);
    assert.ok(parsed.ok);
    assert.equal(parsed.update.stored, stored);
  }
  for (const bad of [[0xc3], [0xed, 0xa0, 0x80], [0xc0, 0xaf], [0xff]]) {
    const payload = Buffer.concat([bytes('{"type":"T","values":{"s":"'), Buffer.from(bad), bytes('"}}')]);
    const parsed = parseUpdate(payload);
    assert.ok(!parsed.ok);
    assert.equal(parsed.rejection.detail, "not valid UTF-8");
  }
});
