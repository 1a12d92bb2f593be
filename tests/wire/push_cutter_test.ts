import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { PushCutter } from "../../lib/wire/push_cutter.ts";

const bulk = (s: string | Uint8Array) => {
  const b = Buffer.from(s);
  return Buffer.concat([Buffer.from(`$${b.length}\r\n`), b, Buffer.from("\r\n")]);
};
const push = (...words: (string | Uint8Array)[]) =>
  Buffer.concat([Buffer.from(`>${words.length}\r\n`), ...words.map(bulk)]);

/** A cutter whose messages and handed-on bytes go into one log, in order. */
function logged() {
  const log: string[] = [];
  const add = (entry: string) => {
    // Replies handed on may come in one piece or several: what counts is their bytes and their order.
    if (entry.startsWith("data ") && log.at(-1)?.startsWith("data ")) log[log.length - 1] += entry.slice(5);
    else log.push(entry);
  };
  const cutter = new PushCutter({
    message: (c, p) => add(`message ${c} ${p.toString("hex")}`),
    pmessage: (pat, c, p) => add(`pmessage ${pat} ${c} ${p.toString("hex")}`),
    smessage: (c, p) => add(`smessage ${c} ${p.toString("hex")}`),
  }, (bytes) => add(`data ${Buffer.from(bytes).toString("latin1")}`));
  return { cutter, log };
}

const binary = Buffer.from([0, 13, 10, 0x3e, 0x24, 255]);
const hex = (s: string | Uint8Array) => Buffer.from(s).toString("hex");
const WIRE = Buffer.concat([
  Buffer.from("+OK\r\n"),
  push("subscribe", "ch"),
  push("message", "ch", "hello"),
  push("pmessage", "c*", "ch", binary),
  Buffer.from(":5\r\n"),
  push("smessage", "sh", ""),
  Buffer.from("%1\r\n+a\r\n*2\r\n$-1\r\n_\r\n"),
  push("message", "ch", "x".repeat(300)),
]);
const EXPECTED = [
  `data +OK\r\n${push("subscribe", "ch").toString("latin1")}`,
  `message ch ${hex("hello")}`,
  `pmessage c* ch ${hex(binary)}`,
  "data :5\r\n",
  "smessage sh ",
  "data %1\r\n+a\r\n*2\r\n$-1\r\n_\r\n",
  `message ch ${hex("x".repeat(300))}`,
];

Deno.test("PushCutter takes message pushes out and hands the rest on whole and in order, however it is cut", () => {
  for (let cut = 0; cut <= WIRE.length; cut++) {
    const { cutter, log } = logged();
    cutter.feed(WIRE.subarray(0, cut));
    cutter.feed(WIRE.subarray(cut));
    assert.deepEqual(log, EXPECTED, `cut at ${cut}`);
    assert.equal(cutter.taken, 4);
  }
  const { cutter, log } = logged();
  for (const byte of WIRE) cutter.feed(Buffer.from([byte]));
  assert.deepEqual(log, EXPECTED, "one byte at a time");
});

Deno.test("PushCutter hands on everything from what it cannot read on, and nothing once halted", () => {
  const { cutter, log } = logged();
  const strange = Buffer.from("$?\r\n;4\r\nabcd\r\n;0\r\n");
  cutter.feed(Buffer.concat([push("message", "ch", "a"), strange]));
  cutter.feed(push("message", "ch", "b")); // from here on, the decoder behind reads it all
  assert.deepEqual(log, [
    `message ch ${hex("a")}`,
    `data ${strange.toString("latin1")}${push("message", "ch", "b").toString("latin1")}`,
  ]);

  const halted = logged();
  halted.cutter.feed(push("message", "ch", "a"));
  halted.cutter.halt();
  halted.cutter.feed(Buffer.concat([Buffer.from(":1\r\n"), push("message", "ch", "b")]));
  assert.deepEqual(halted.log, [`message ch ${hex("a")}`]);
});

Deno.test("what a socket left unfinished is known: a reply cut short at its close", () => {
  const { cutter } = logged();
  assert.equal(cutter.unfinished(), 0, "nothing read yet");
  const message = push("message", "ch", "x".repeat(300));
  cutter.feed(Buffer.concat([message, message.subarray(0, 100)]));
  assert.equal(cutter.unfinished(), 100);
  cutter.feed(message.subarray(100));
  assert.equal(cutter.unfinished(), 0);
  cutter.feed(Buffer.from("*2\r\n:1\r\n")); // a reply to a command, cut short as well
  assert.equal(cutter.unfinished(), 8);
  // Past what it does not know, ioredis reads it all: what is unfinished is not known here any more.
  cutter.feed(Buffer.from(":2\r\n?what\r\n"));
  assert.equal(cutter.unfinished(), undefined);
});

Deno.test("PushCutter gives a sink with payload() where each payload lies, of every kind, and no views", () => {
  const got: string[] = [];
  const handed: string[] = [];
  const unused = () => assert.fail("payload() takes every message");
  const cutter = new PushCutter({
    message: unused,
    pmessage: unused,
    smessage: unused,
    payload: (buf, start, end) => got.push(Buffer.from(buf.subarray(start, end)).toString("hex")),
  }, (bytes) => handed.push(Buffer.from(bytes).toString("latin1")));
  const wire = Buffer.concat([
    push("message", "a", "one"),
    Buffer.from(":1\r\n"),
    push("pmessage", "a*", "ab", binary),
    push("smessage", "s", "three"),
  ]);
  for (let i = 0; i < wire.length; i += 5) cutter.feed(wire.subarray(i, i + 5));
  assert.deepEqual(got, [hex("one"), hex(binary), hex("three")]);
  assert.equal(handed.join(""), ":1\r\n");
  assert.equal(cutter.taken, 3);
});
