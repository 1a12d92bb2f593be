/**
 * What a port is, asked only after a plain-text connection was closed without
 * a word, so that the error can say it instead of guessing: whether it speaks
 * TLS ("that is a TLS port: use rediss://"), and whether its server speaks
 * first (a MySQL/MariaDB, SSH or mail server greets every client; a
 * Redis-protocol server never does, and such a server may reset the
 * connection at the client's HELLO before its greeting was read).
 *
 * @module
 */
import { connect } from "node:tls";

/**
 * Tries a TLS handshake (without checking the certificate: only the handshake
 * matters here) and says whether it completed.
 *
 * @param url the `redis://` URL whose host and port to try (6379 by default)
 * @param ms how long the handshake may take
 * @returns true when the port completed a TLS handshake within `ms`
 * @example
 * ```ts
 * import { speaksTls } from "./tls_probe.ts";
 * import assert from "node:assert/strict";
 * const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * const port = (listener.addr as Deno.NetAddr).port;
 * listener.close();
 * assert.equal(await speaksTls(`redis://127.0.0.1:${port}`, 500), false);
 * ```
 */
export function speaksTls(url: string, ms: number): Promise<boolean> {
  const { hostname, port } = new URL(url);
  const host = hostname.replace(/^\[|\]$/g, "");
  return new Promise((resolve) => {
    const isName = /[a-z]/i.test(host) && !host.includes(":");
    const socket = connect({
      host,
      port: Number(port || 6379),
      rejectUnauthorized: false,
      ...(isName ? { servername: host } : {}),
    });
    const done = (answer: boolean) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(answer);
    };
    const timer = setTimeout(() => done(false), ms);
    socket.once("secureConnect", () => done(true));
    socket.once("error", () => done(false));
  });
}

/**
 * Connects in plain text, sends nothing, and waits for the server to speak first.
 *
 * @param url the `redis://` URL whose host and port to try (6379 by default)
 * @param ms how long to wait for the first bytes
 * @returns the first bytes (at most 40, as Latin-1 text), or undefined when it said nothing within `ms` or closed
 * @example
 * ```ts
 * import { greeting } from "./tls_probe.ts";
 * import assert from "node:assert/strict";
 * const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * const port = (listener.addr as Deno.NetAddr).port;
 * const accepted = listener.accept().then(async (c) => {
 *   await c.write(new TextEncoder().encode("SSH-2.0-x\r\n"));
 *   return c;
 * });
 * assert.equal(await greeting(`redis://127.0.0.1:${port}`, 1000), "SSH-2.0-x\r\n");
 * (await accepted).close();
 * listener.close();
 * ```
 */
export async function greeting(url: string, ms: number): Promise<string | undefined> {
  const { hostname, port } = new URL(url);
  let conn: Deno.Conn | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const timeout = new Promise<undefined>((resolve) => timer = setTimeout(() => resolve(undefined), ms));
    const first = (async () => {
      conn = await Deno.connect({ hostname: hostname.replace(/^\[|\]$/g, ""), port: Number(port || 6379) });
      const buf = new Uint8Array(40);
      const n = await conn.read(buf);
      return n === null ? undefined : String.fromCharCode(...buf.subarray(0, n));
    })().catch(() => undefined);
    return await Promise.race([first, timeout]).finally(() => conn?.close());
  } finally {
    clearTimeout(timer);
  }
}
