import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { EventEmitter } from "node:events";
import type { Redis } from "ioredis";
import { readMessagesAhead, replyEnd } from "../../lib/wire/push_cutter.ts";

const bulk = (s: string | Uint8Array) => {
  const b = Buffer.from(s);
  return Buffer.concat([Buffer.from(`$${b.length}\r\n`), b, Buffer.from("\r\n")]);
};
const push = (...words: (string | Uint8Array)[]) =>
  Buffer.concat([Buffer.from(`>${words.length}\r\n`), ...words.map(bulk)]);

/** A stand-in for an ioredis client: its socket's `data` and the events emitted on it, in one log. */
function fakeClient(subscribed = true) {
  const redis = new EventEmitter() as EventEmitter & { stream: EventEmitter; condition: { subscriber: unknown } };
  redis.condition = { subscriber: subscribed };
  redis.stream = new EventEmitter();
  const log: string[] = [];
  const add = (entry: string) => {
    // Replies handed on may come in one piece or several: what counts is their bytes and their order.
    if (entry.startsWith("data ") && log.at(-1)?.startsWith("data ")) log[log.length - 1] += entry.slice(5);
    else log.push(entry);
  };
  redis.stream.on("data", (chunk: Uint8Array) => add(`data ${Buffer.from(chunk).toString("latin1")}`));
  redis.on("messageBuffer", (c: Buffer, p: Buffer) => add(`message ${c} ${p.toString("hex")}`));
  redis.on("pmessageBuffer", (pat: string, c: Buffer, p: Buffer) => add(`pmessage ${pat} ${c} ${p.toString("hex")}`));
  redis.on("smessageBuffer", (c: Buffer, p: Buffer) => add(`smessage ${c} ${p.toString("hex")}`));
  const readAhead = readMessagesAhead(redis as unknown as Redis);
  return { stream: redis.stream, log, redis, readAhead };
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

Deno.test("message pushes are taken ahead of ioredis and the rest handed on whole and in order, however it is cut", () => {
  for (let cut = 0; cut <= WIRE.length; cut++) {
    const { stream, log } = fakeClient();
    stream.emit("data", WIRE.subarray(0, cut));
    stream.emit("data", WIRE.subarray(cut));
    assert.deepEqual(log, EXPECTED, `cut at ${cut}`);
  }
  const { stream, log } = fakeClient();
  for (const byte of WIRE) stream.emit("data", Buffer.from([byte]));
  assert.deepEqual(log, EXPECTED, "one byte at a time");
});

Deno.test("pushes read ahead: none emitted when not subscribed (as ioredis), and what it cannot read goes to ioredis", () => {
  const idle = fakeClient(false);
  idle.stream.emit("data", push("message", "ch", "late"));
  assert.deepEqual(idle.log, []);

  const { stream, log } = fakeClient();
  const strange = Buffer.from("$?\r\n;4\r\nabcd\r\n;0\r\n");
  stream.emit("data", Buffer.concat([push("message", "ch", "a"), strange]));
  stream.emit("data", push("message", "ch", "b")); // from here on, ioredis reads it all
  assert.deepEqual(log, [
    `message ch ${hex("a")}`,
    `data ${strange.toString("latin1")}${push("message", "ch", "b").toString("latin1")}`,
  ]);
});

Deno.test("what a socket left unfinished is known: a reply cut short at its close", () => {
  const { stream, readAhead } = fakeClient();
  assert.equal(readAhead.unfinished(), 0, "nothing read yet");
  const message = push("message", "ch", "x".repeat(300));
  stream.emit("data", Buffer.concat([message, message.subarray(0, 100)]));
  assert.equal(readAhead.unfinished(), 100);
  stream.emit("data", message.subarray(100));
  assert.equal(readAhead.unfinished(), 0);
  stream.emit("data", Buffer.from("*2\r\n:1\r\n")); // a reply to a command, cut short as well
  assert.equal(readAhead.unfinished(), 8);
  // Past what it does not know, ioredis reads it all: what is unfinished is not known here any more.
  stream.emit("data", Buffer.from(":2\r\n?what\r\n"));
  assert.equal(readAhead.unfinished(), undefined);
});

Deno.test("replyEnd finds where each RESP reply ends, or says it is incomplete or unknown", () => {
  const ends = (s: string) => replyEnd(Buffer.from(s), 0);
  assert.equal(ends("+OK\r\n"), 5);
  assert.equal(ends(":-12\r\n"), 6);
  assert.equal(ends("$3\r\nabc\r\n"), 9);
  assert.equal(ends("$-1\r\n"), 5);
  assert.equal(ends("*2\r\n:1\r\n$1\r\na\r\n"), 15);
  assert.equal(ends("%1\r\n+k\r\n+v\r\n"), 12);
  assert.equal(ends("$3\r\nab"), -1);
  assert.equal(ends("*2\r\n:1\r\n"), -1);
  assert.equal(ends("?what\r\n"), -2);
  assert.equal(ends("$3\r\nabcd\r\n"), -2);
});
