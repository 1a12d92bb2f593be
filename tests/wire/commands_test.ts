import assert from "node:assert/strict";
import { encodeCommands } from "../../lib/wire/commands.ts";

const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

Deno.test("encodeCommands() writes each command as RESP, lengths in bytes, ASCII or not", () => {
  assert.equal(
    text(encodeCommands([["MSET", "k1", '{"a": 1}', "k2", ""], ["PING"]])),
    '*5\r\n$4\r\nMSET\r\n$2\r\nk1\r\n$8\r\n{"a": 1}\r\n$2\r\nk2\r\n$0\r\n\r\n*1\r\n$4\r\nPING\r\n',
  );
  // One argument that is not ASCII: every length counted in bytes (é 2, 😀 4, a lone surrogate 3 as U+FFFD).
  assert.equal(
    text(encodeCommands([["SET", "k", "é😀"], ["SET", "\ud800", "x"]])),
    "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$6\r\né😀\r\n*3\r\n$3\r\nSET\r\n$3\r\n\ufffd\r\n$1\r\nx\r\n",
  );
  assert.equal(encodeCommands([]).length, 0);
});
