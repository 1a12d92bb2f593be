/**
 * Taking a POST from a page safely: only from the page's own origin (a JSON
 * body, which no other site can send without a CORS preflight that is never
 * granted; an `Origin` or `Sec-Fetch-Site` naming another site refused), and
 * a body of bounded size. A page of another site under a re-pointed name
 * (DNS rebinding) is refused before, on every route, by
 * {@link ./host_rule.ts}.
 *
 * @module
 */

/**
 * A request refused, with the HTTP status to answer and a message saying why.
 *
 * @example
 * ```ts
 * import { HttpError } from "./post.ts";
 * import assert from "node:assert/strict";
 * assert.equal(new HttpError(413, "too large").status, 413);
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

/**
 * Refuses a request that another site could have made: a body that is not
 * JSON (415), and an `Origin` that is not the request's own or a
 * `Sec-Fetch-Site` other than `same-origin` (403).
 *
 * @param request the request
 * @throws {HttpError} saying why
 * @example
 * ```ts
 * import { refuseCrossSite } from "./post.ts";
 * import assert from "node:assert/strict";
 * const ok = new Request("http://127.0.0.1:8080/publish", {
 *   method: "POST",
 *   headers: { "content-type": "application/json", origin: "http://127.0.0.1:8080" },
 * });
 * refuseCrossSite(ok);
 * const evil = new Request("http://127.0.0.1:8080/publish", {
 *   method: "POST",
 *   headers: { "content-type": "application/json", origin: "http://evil.example" },
 * });
 * assert.throws(() => refuseCrossSite(evil), { status: 403 });
 * ```
 */
export function refuseCrossSite(request: Request): void {
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
 * import assert from "node:assert/strict";
 * const body = await readJsonBody(new Request("http://x/", { method: "POST", body: '{"a":1}' }), 100);
 * assert.equal((body as { a: number }).a, 1);
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
