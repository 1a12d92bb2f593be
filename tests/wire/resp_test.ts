import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { decodeReply, ErrorReply, RespScanner, RespSyntaxError } from "../../lib/wire/resp.ts";
import { SimpleReplyReader } from "../../lib/wire/simple_replies.ts";

const bytes = (s: string) => Buffer.from(s);

Deno.test("RespScanner.replyEnd finds where each RESP reply ends, or says it is incomplete or unknown", () => {
  const scan = new RespScanner();
  const ends = (s: string) => scan.replyEnd(Buffer.from(s), 0);
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

Deno.test("decodeReply() decodes RESP2 replies whole, or says they are not all here", () => {
  const wire = "*3\r\n$9\r\ndirection\r\n*2\r\n:-7\r\n$-1\r\n$3\r\néa\r\n";
  assert.deepEqual(decodeReply(bytes(wire)), { reply: ["direction", [-7, null], "éa"], end: bytes(wire).length });
  for (let cut = 0; cut < bytes(wire).length; cut++) assert.equal(decodeReply(bytes(wire).subarray(0, cut)), undefined);
  assert.deepEqual(decodeReply(bytes("+OK\r\n+NEXT\r\n")), { reply: "OK", end: 5 });
  assert.deepEqual(decodeReply(bytes(":1\r\n+OK\r\n"), 4), { reply: "OK", end: 9 });
  assert.deepEqual(decodeReply(bytes("*-1\r\n"))?.reply, null);
  assert.deepEqual(decodeReply(bytes("$0\r\n\r\n"))?.reply, "");
  const error = decodeReply(bytes("-NOAUTH Authentication required.\r\n"))?.reply;
  assert.ok(error instanceof ErrorReply);
  assert.equal(error.message, "NOAUTH Authentication required.");
});

Deno.test("decodeReply() throws a RespSyntaxError on bytes that are no RESP2 reply, showing them", () => {
  for (const garbage of ["HTTP/1.1 400 Bad\r\n", ":12x\r\n", "$3\r\nabcd\r\n", "*x\r\n", "%1\r\n+a\r\n+b\r\n"]) {
    assert.throws(() => decodeReply(bytes(garbage)), RespSyntaxError, garbage);
  }
  assert.throws(
    () => decodeReply(bytes("\x00\x01junk")),
    (err) => err instanceof RespSyntaxError && err.shown === "??junk",
  );
});

Deno.test("SimpleReplyReader reads integers, errors and statuses however the bytes are cut; anything else throws", () => {
  const wire = bytes("+OK\r\n:0\r\n:1234\r\n-NOPERM no\r\n:-5\r\n");
  const expected = ["status OK", "integer 0", "integer 1234", "error NOPERM no", "integer -5"];
  for (let cut = 0; cut <= wire.length; cut++) {
    const got: string[] = [];
    const on = {
      integer: (n: number) => got.push(`integer ${n}`),
      error: (t: string) => got.push(`error ${t}`),
      status: (t: string) => got.push(`status ${t}`),
    };
    const reader = new SimpleReplyReader();
    reader.feed(wire.subarray(0, cut), on);
    reader.feed(wire.subarray(cut), on);
    assert.deepEqual(got, expected, `cut at ${cut}`);
  }
  const ignore = { integer: () => {}, error: () => {}, status: () => {} };
  assert.throws(() => new SimpleReplyReader().feed(bytes("$5\r\nhello\r\n"), ignore), RespSyntaxError);
  assert.throws(() => new SimpleReplyReader().feed(bytes(":1x\r\n"), ignore), RespSyntaxError);
});
