/**
 * What went wrong with a server, in words a user can act on: from the error
 * the client library gave and what was seen on the wire (was the connection
 * accepted, did any byte come back, how did the answer begin), tell a server
 * that is not running from one that is stuck, one that speaks TLS or does not,
 * one whose certificate is not trusted, and one that breaks the protocol.
 *
 * @module
 */
import { formatBytes } from "./byte_size.ts";
import { ExitCode, type ExitCodeValue } from "./exit_codes.ts";
import { replyHandlingFault } from "./ioredis_guard.ts";

/** What a connection attempt saw before it failed. */
export interface FailureFacts {
  /** The error message (already free of secrets), or undefined when there was none. */
  reason?: string;
  /** The error's code (`ECONNRESET`, `SELF_SIGNED_CERT_IN_CHAIN`, …), if any. */
  code?: string;
  /** The command whose reply was that error (`hello`, `auth`, `select`…), if any. */
  command?: string;
  /** Our deadline passed with no answer. */
  timedOut?: boolean;
  /** How long the deadline was, in ms. */
  timeoutMs?: number;
  /** The TCP connection was made. */
  accepted?: boolean;
  /** Bytes received from the server. */
  bytesIn?: number;
  /** The first bytes received (at most 40), as Latin-1 text. */
  firstBytes?: string;
  /** The first bytes (at most 40) of the latest piece received, as Latin-1 text. */
  lastChunk?: string;
  /** The URL is `rediss://`. */
  tls?: boolean;
}

/** A verdict: the exit code, what the server did (one phrase) and what to do (one sentence). */
export interface Diagnosis {
  /** The exit code a script that cannot go on ends with. */
  exitCode: ExitCodeValue;
  /** What happened, to follow "Cannot connect to URL: " or "Connection to URL lost: ". */
  what: string;
  /** What to do about it. */
  fix: string;
  /** The server accepted a plain-text connection and closed it at once: worth asking whether the port speaks TLS. */
  closedAtOnce?: boolean;
}

/** The verdict for a `redis://` URL at a port that speaks TLS. */
export const TLS_PORT: Diagnosis = {
  exitCode: ExitCode.Connect,
  what: "that port speaks TLS, and the URL says redis:// (plain text)",
  fix: "Use rediss:// for it (with --tls-ca FILE if its certificate comes from a private CA).",
};

/** What the user can do when the server cannot be reached. */
export const START_SERVER_HINT =
  'Start a server with "docker compose up -d --wait" or "deno task server", or point --url / REDIS_URL at one.';

/** What to do about a server that breaks the protocol. */
export const PROTOCOL_HINT =
  "Check --url / REDIS_URL: what answers there is not a Redis, KeyDB or Valkey server working as it should (another service, a broken proxy, or a hostile server).";

const CERT_CODES = new Set([
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "CERT_HAS_EXPIRED",
  "CERT_NOT_YET_VALID",
  "ERR_TLS_CERT_ALTNAME_INVALID",
]);

const CLOSED = /ECONNRESET|EPIPE|Connection is closed|socket hang up|ECONNABORTED/;

/**
 * Tells what went wrong from what a connection attempt (or a working
 * connection) saw.
 *
 * @param f what was seen
 * @returns the verdict
 * @example
 * ```ts
 * import { diagnose } from "./server_faults.ts";
 * import assert from "node:assert/strict";
 * const d = diagnose({ reason: "write EPIPE", code: "EPIPE", accepted: true, bytesIn: 0 });
 * assert.equal(d.exitCode, 7);
 * assert.ok(d.what.includes("closed it without a word"));
 * ```
 */
export function diagnose(f: FailureFacts): Diagnosis {
  const reason = f.reason ?? "";
  const secs = `${(f.timeoutMs ?? 0) / 1000} s`;
  if (/WRONGPASS|NOAUTH|invalid password|invalid username/i.test(reason)) {
    return connect(`authentication failed (${reason})`, "Check the user name and password in --url or REDIS_URL.");
  }
  if (/DB index is out of range|invalid DB index/i.test(reason)) {
    return connect(
      reason,
      "Use a database number the server has (usually 0–15) in the URL path, e.g. redis://host:6379/0.",
    );
  }
  if (/ECONNREFUSED/.test(reason)) return connect("connection refused (nothing is listening there)", START_SERVER_HINT);
  if (/ENOTFOUND|EAI_AGAIN|getaddrinfo/.test(reason)) {
    return connect(`the host name does not resolve (${reason})`, "Check the host in --url or REDIS_URL.");
  }
  if (f.code === "ERR_TLS_CERT_ALTNAME_INVALID") {
    return connect(
      `the server's TLS certificate is for another name (${reason})`,
      "Connect with a host name the certificate was issued for, or have a certificate made for this one.",
    );
  }
  if (CERT_CODES.has(f.code ?? "") || /certificate|UnknownIssuer/i.test(reason)) {
    return connect(
      `the server's TLS certificate is not trusted (${reason})`,
      "Give the CA that signed it with --tls-ca FILE (or REDIS_TLS_CA), or --tls-insecure for a lab server with a self-signed certificate.",
    );
  }
  if (/Maximum call stack size exceeded/.test(reason)) {
    return protocol("the server sent a reply nested too deeply to read, which no Redis-protocol server does");
  }
  const misfit = replyHandlingFault(reason);
  if (misfit) {
    const which = misfit.command ? `the reply to ${misfit.command} did not fit that command` : "a reply did not fit";
    return {
      exitCode: ExitCode.Protocol,
      what: `${which}, and the client library failed on it (ioredis ${misfit.version}: ${misfit.detail})`,
      fix: "If --url / REDIS_URL points at a Redis, KeyDB or Valkey server itself (no proxy in between), that is a " +
        "fault of the client library: please report it with the line above. Otherwise check what answers there.",
    };
  }
  if (/Unknown RESP type|Protocol error|Please report this/.test(reason)) return garbage(f);
  if (/max number of clients/i.test(reason)) {
    return connect(
      `the server is full (${reason})`,
      "Close some of its clients or raise its maxclients, then try again.",
    );
  }
  if (/^DENIED|protected mode/i.test(reason)) {
    return connect(
      "the server refuses clients from other machines (protected mode, no password set)",
      "Give the server a password (requirepass) or bind it to this network on purpose, or connect from its own machine.",
    );
  }
  if (/^LOADING|^BUSY|^MASTERDOWN/.test(reason)) {
    return connect(`the server cannot serve yet (${reason})`, "Try again in a moment.");
  }
  if (/^NOPERM/.test(reason)) {
    return connect(
      `the server refuses this user a command it needs (${reason})`,
      "Check the user in --url / REDIS_URL and its ACL rules (ACL GETUSER on the server).",
    );
  }
  if (f.command === "ping") {
    return protocol(`the server answered PING with an error (${reason}), which a Redis-protocol server does not do`);
  }
  if (f.command === "hello") {
    return {
      exitCode: ExitCode.Protocol,
      what: `the server refused HELLO, the handshake clients start with (${reason})`,
      fix:
        "A Redis-protocol server answers HELLO, or says NOPROTO or unknown command when it is too old: check that --url points at Redis, KeyDB or Valkey, not at a proxy that breaks the handshake.",
    };
  }
  if (f.command === "auth") {
    return connect(
      `the server refused the login (${reason})`,
      "Check the user name and password in --url or REDIS_URL.",
    );
  }
  if ((CLOSED.test(reason) || CLOSED.test(f.code ?? "")) && !f.timedOut) {
    const greeted = mysqlGreeting(f.firstBytes ?? "");
    if (greeted) return protocol(greeted);
    if ((f.bytesIn ?? 0) > 0) return protocol("the server closed the connection in the middle of its answer");
    return {
      exitCode: ExitCode.Protocol,
      closedAtOnce: true,
      what: "the server accepted the connection and closed it without a word",
      fix: f.tls
        ? "That is what some servers do to a TLS client they cannot serve: check the port and the server's TLS settings (and its log)."
        : "Check the port: what listens there is not a Redis-protocol server, or it turns this client away (see its log).",
    };
  }
  if (f.timedOut || /ETIMEDOUT/.test(reason)) {
    if (!f.accepted) {
      return connect(
        `no connection within ${secs} (the host does not answer)`,
        "Check the host, the port and any firewall on the way.",
      );
    }
    if ((f.bytesIn ?? 0) > 0) {
      const size = /^\$(\d+)\r\n/.exec(f.lastChunk ?? "")?.[1] ?? /^\$(\d+)\r\n/.exec(f.firstBytes ?? "")?.[1];
      const announced = size ? `; it announced a string of ${formatBytes(Number(size))}` : "";
      return protocol(`the server began its answer but did not finish it within ${secs}${announced}`);
    }
    if (f.tls) {
      return connect(
        `the server accepted the connection but did not answer the TLS handshake within ${secs}: probably not a TLS port`,
        "Use redis:// for a plain-text port, or the server's TLS port (tls-port) with rediss://.",
      );
    }
    return connect(
      `the server accepted the connection but gave no answer within ${secs}`,
      "It may be stuck (a long command, a full disk) or not a Redis-protocol server: check it and --url / REDIS_URL.",
    );
  }
  return connect(reason || "the connection failed", START_SERVER_HINT);
}

function connect(what: string, fix: string): Diagnosis {
  return { exitCode: ExitCode.Connect, what, fix };
}

function protocol(what: string): Diagnosis {
  return { exitCode: ExitCode.Protocol, what, fix: PROTOCOL_HINT };
}

/**
 * The verdict for a server that speaks first, before any command (a Redis-protocol server never does): seen by
 * {@linkcode greeting} in tls_probe.ts after a connection was closed without a word.
 *
 * @param first the first bytes it sent, as Latin-1 text
 * @returns the verdict (exit code 7)
 * @example
 * ```ts
 * import { spokeFirst } from "./server_faults.ts";
 * import assert from "node:assert/strict";
 * const d = spokeFirst("SSH-2.0-OpenSSH_9.2\r\n");
 * assert.equal(d.exitCode, 7);
 * assert.ok(d.what.startsWith("the server spoke first"));
 * ```
 */
export function spokeFirst(first: string): Diagnosis {
  return protocol(
    mysqlGreeting(first) ?? `the server spoke first (it began ${shownBytes(first)}), which a ` +
        "Redis-protocol server never does: it is not one",
  );
}

/** A MySQL/MariaDB handshake in words (its version), or undefined for other bytes. */
function mysqlGreeting(first: string): string | undefined {
  // A 3-byte length, sequence 0, protocol version 10, then the server's version up to a NUL.
  // deno-lint-ignore no-control-regex
  const version = /^[\s\S]{3}\x00\x0a([\x20-\x7e]+)/.exec(first)?.[1];
  return version && `the server is MySQL/MariaDB (its greeting says version ${version}), not a Redis-protocol server`;
}

/** The first bytes as a quoted string, control bytes as \xNN. */
function shownBytes(first: string): string {
  return JSON.stringify(first.slice(0, 24)).replace(/\\u00([0-9a-f]{2})/g, "\\x$1");
}

/** Bytes that do not parse as RESP: TLS, HTTP, or anything else, shown by how they began. */
function garbage(f: FailureFacts): Diagnosis {
  const first = f.lastChunk ?? f.firstBytes ?? "";
  // A TLS record (alert 0x15 or handshake 0x16, version 3.x) where a RESP type byte belongs.
  // deno-lint-ignore no-control-regex
  if (/^[\x15\x16]\x03/.test(first)) return TLS_PORT;
  if (!first) return protocol("the server's answer is not the Redis protocol");
  return protocol(
    mysqlGreeting(first) ?? `the server's answer is not the Redis protocol (it began ${shownBytes(first)})`,
  );
}

/**
 * The verdict for an error a command failed with because the reply could not
 * be read (ioredis ends such messages with "Please report this."), or
 * undefined for any other error.
 *
 * @param err what a command or a script failed with
 * @returns the verdict (exit code 7), or undefined
 * @example
 * ```ts
 * import { unreadableReply } from "./server_faults.ts";
 * import assert from "node:assert/strict";
 * const d = unreadableReply(new Error('Unknown RESP type 83 "S". Please report this.'));
 * assert.equal(d?.exitCode, 7);
 * assert.equal(d.what, "the server's answer is not the Redis protocol");
 * assert.equal(unreadableReply(new Error("ERR wrong type")), undefined);
 * ```
 */
export function unreadableReply(err: unknown): Diagnosis | undefined {
  const message = err instanceof Error ? err.message : "";
  return message.endsWith(". Please report this.") ? diagnose({ reason: message }) : undefined;
}
