/**
 * Whether a port speaks TLS: asked only after a plain-text connection was
 * closed without a word, so that the error can say "that is a TLS port: use
 * rediss://" instead of guessing.
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
 * const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * const port = (listener.addr as Deno.NetAddr).port;
 * listener.close();
 * console.assert(await speaksTls(`redis://127.0.0.1:${port}`, 500) === false);
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
