/**
 * Taking a POST from a page safely: only from the page's own origin (a JSON
 * body, which no other site can send without a CORS preflight that is never
 * granted; an `Origin` or `Sec-Fetch-Site` naming another site refused), on
 * a loopback listener only under a loopback host name (no DNS rebinding),
 * and a body of bounded size.
 *
 * @module
 */

/**
 * A request refused, with the HTTP status to answer and a message saying why.
 *
 * @example
 * ```ts
 * import { HttpError } from "./post.ts";
 * console.assert(new HttpError(413, "too large").status === 413);
 * ```
 */
export class HttpError extends Error {
  /**
   * Creates an HttpError.
   *
   * @param status the HTTP status
   * @param message what to tell the client
   */
  constructor(readonly status: number, message: string) {
    super(message);
    this.name = "HttpError";
  }

  /** The answer: `{"error": message}` with the status. */
  response(): Response {
    return Response.json({ error: this.message }, { status: this.status, headers: { "cache-control": "no-store" } });
  }
}

const LOOPBACK_NAMES = /^(localhost|127(\.\d{1,3}){3}|\[::1\]|::1)$/i;

/**
 * Whether an address to listen on (`--host`) is a loopback one.
 *
 * @param hostname the address
 * @returns true for 127.x.x.x, ::1 and localhost
 * @example
 * ```ts
 * import { isLoopback } from "./post.ts";
 * console.assert(isLoopback("127.0.0.1") && isLoopback("::1") && !isLoopback("0.0.0.0"));
 * ```
 */
export function isLoopback(hostname: string): boolean {
  return LOOPBACK_NAMES.test(hostname);
}

/**
 * Refuses a request that another site could have made: a body that is not
 * JSON (415), an `Origin` that is not the request's own or a
 * `Sec-Fetch-Site` other than `same-origin` (403), and — when the server
 * listens on loopback — a `Host` that is not a loopback name (403: a page
 * of another site reaching 127.0.0.1 under its own name).
 *
 * @param request the request
 * @param loopback whether the server listens on a loopback address only
 * @throws {HttpError} saying why
 * @example
 * ```ts
 * import { refuseCrossSite } from "./post.ts";
 * const ok = new Request("http://127.0.0.1:8080/publish", {
 *   method: "POST",
 *   headers: { "content-type": "application/json", origin: "http://127.0.0.1:8080" },
 * });
 * refuseCrossSite(ok, true);
 * const evil = new Request("http://127.0.0.1:8080/publish", {
 *   method: "POST",
 *   headers: { "content-type": "application/json", origin: "http://evil.example" },
 * });
 * try {
 *   refuseCrossSite(evil, true);
 *   console.assert(false);
 * } catch (err) {
 *   console.assert((err as { status: number }).status === 403);
 * }
 * ```
 */
export function refuseCrossSite(request: Request, loopback: boolean): void {
  const type = request.headers.get("content-type") ?? "";
  if (!/^application\/json\s*(;|$)/i.test(type)) {
    throw new HttpError(415, `send the body as JSON (Content-Type: application/json), not "${type || "none"}"`);
  }
  const url = new URL(request.url);
  const origin = request.headers.get("origin");
  if (origin !== null && origin !== url.origin) {
    throw new HttpError(403, `requests from another origin (${origin}) are refused`);
  }
  const site = request.headers.get("sec-fetch-site");
  if (site !== null && site !== "same-origin" && site !== "none") {
    throw new HttpError(403, `requests from another site (Sec-Fetch-Site: ${site}) are refused`);
  }
  if (loopback && !isLoopback(url.hostname)) {
    throw new HttpError(403, `this server listens on loopback: use http://127.0.0.1:${url.port}/, not ${url.host}`);
  }
}

/**
 * Reads a JSON body of at most `maxBytes` (413 past it, 400 when it is not JSON).
 *
 * @param request the request
 * @param maxBytes the largest body taken
 * @returns the parsed body
 * @throws {HttpError} when it is too large or not JSON
 * @example
 * ```ts
 * import { readJsonBody } from "./post.ts";
 * const body = await readJsonBody(new Request("http://x/", { method: "POST", body: '{"a":1}' }), 100);
 * console.assert((body as { a: number }).a === 1);
 * ```
 */
export async function readJsonBody(request: Request, maxBytes: number): Promise<unknown> {
  const tooLarge = () => new HttpError(413, `the body is larger than ${maxBytes.toLocaleString("en")} bytes`);
  if (Number(request.headers.get("content-length") ?? 0) > maxBytes) {
    await request.body?.cancel();
    throw tooLarge();
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  if (request.body) {
    const reader = request.body.getReader();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      size += value.length;
      if (size > maxBytes) {
        await reader.cancel();
        throw tooLarge();
      }
      chunks.push(value);
    }
  }
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) (bytes.set(c, at), at += c.length);
  try {
    return JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    throw new HttpError(400, "the body is not UTF-8 JSON");
  }
}
