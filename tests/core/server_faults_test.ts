import assert from "node:assert/strict";
import { ExitCode } from "../../lib/core/exit_codes.ts";
import { diagnose, type FailureFacts } from "../../lib/core/server_faults.ts";

const CASES: [string, FailureFacts, number, RegExp][] = [
  ["nothing listening", { reason: "connect ECONNREFUSED 127.0.0.1:1" }, ExitCode.Connect, /connection refused/],
  [
    "wrong password",
    { reason: "WRONGPASS invalid username-password pair", command: "hello" },
    ExitCode.Connect,
    /authentication failed/,
  ],
  [
    "a full server is not a protocol breaker",
    { reason: "ERR max number of clients reached", command: "hello" },
    ExitCode.Connect,
    /the server is full/,
  ],
  [
    "protected mode",
    { reason: "DENIED Redis is running in protected mode because…", command: "hello" },
    ExitCode.Connect,
    /protected mode/,
  ],
  [
    "still loading",
    { reason: "LOADING Redis is loading the dataset in memory", command: "hello" },
    ExitCode.Connect,
    /cannot serve yet/,
  ],
  [
    "PING answered with an error",
    { reason: "ERR unknown command", command: "ping" },
    ExitCode.Protocol,
    /answered PING with an error/,
  ],
  [
    "an ACL that forbids a needed command",
    { reason: "NOPERM this user has no permissions to run the 'ping' command", command: "ping" },
    ExitCode.Connect,
    /refuses this user a command/,
  ],
  ["HELLO refused otherwise", { reason: "ERR nope", command: "hello" }, ExitCode.Protocol, /refused HELLO/],
  [
    "untrusted certificate",
    { reason: "self-signed certificate in certificate chain", code: "SELF_SIGNED_CERT_IN_CHAIN", tls: true },
    ExitCode.Connect,
    /not trusted/,
  ],
  [
    "certificate for another name",
    { reason: "Hostname/IP does not match", code: "ERR_TLS_CERT_ALTNAME_INVALID", tls: true },
    ExitCode.Connect,
    /for another name/,
  ],
  [
    "a TLS alert where RESP belongs",
    { reason: 'Unknown RESP type 21 ""', accepted: true, bytesIn: 7, lastChunk: "\x15\x03\x03\x00\x02\x02\x46" },
    ExitCode.Connect,
    /that port speaks TLS/,
  ],
  [
    "closed without a word",
    { reason: "read ECONNRESET", code: "ECONNRESET", accepted: true, bytesIn: 0 },
    ExitCode.Protocol,
    /closed it without a word/,
  ],
  [
    "closed mid-answer",
    { reason: "Connection is closed.", accepted: true, bytesIn: 5 },
    ExitCode.Protocol,
    /in the middle of its answer/,
  ],
  [
    "silent",
    { timedOut: true, timeoutMs: 5000, accepted: true, bytesIn: 0 },
    ExitCode.Connect,
    /accepted the connection but gave no answer within 5 s/,
  ],
  [
    "silent TLS",
    { timedOut: true, timeoutMs: 1000, accepted: true, bytesIn: 0, tls: true },
    ExitCode.Connect,
    /probably not a TLS port/,
  ],
  [
    "no TCP connection at all",
    { timedOut: true, timeoutMs: 2000, accepted: false },
    ExitCode.Connect,
    /no connection within 2 s/,
  ],
];

for (const [name, facts, code, says] of CASES) {
  Deno.test(`diagnose(): ${name}`, () => {
    const d = diagnose(facts);
    assert.equal(d.exitCode, code);
    assert.match(d.what, says);
    // "Start a server" only where nothing listens: everywhere else a server is there and the hint would mislead.
    if (!/ECONNREFUSED/.test(facts.reason ?? "")) assert.doesNotMatch(d.fix, /docker compose/);
  });
}
