/**
 * One HTTP/1.1 request written by hand on a socket, with whatever `Host` the test wants (fetch always sends the
 * URL's own, as a browser does; a page of another site reaching 127.0.0.1 under its own name sends its name).
 *
 * @module
 */
import { withTimeout } from "../lib/core/timing.ts";

/** What came back: the status, the headers (names lower-cased) and the body read (maybe cut at `until`). */
export interface RawResponse {
  status: number;
  headers: Map<string, string>;
  body: string;
}

/** What to send. */
export interface RawRequest {
  /** GET (default), HEAD or POST. */
  method?: string;
  /** The `Host` header, or null to send none. */
  host: string | null;
  /** Other headers. */
  headers?: Record<string, string>;
  /** A body (Content-Length is added). */
  body?: string;
  /** Stop reading once the body matches (for a stream that never ends); otherwise read until the server closes. */
  until?: RegExp;
  /** How long at most (default 10 s). */
  ms?: number;
}

/**
 * Sends one request to `base` (an `http://127.0.0.1:PORT` address) on a connection of its own and reads the answer.
 *
 * @param base the server's address
 * @param path the request target, e.g. `/kv`
 * @param request method, Host, headers, body
 * @returns the response
 */
export async function rawHttp(base: string, path: string, request: RawRequest): Promise<RawResponse> {
  const { hostname, port } = new URL(base);
  const conn = await Deno.connect({ hostname: hostname.replace(/^\[|\]$/g, ""), port: Number(port) });
  try {
    const body = request.body ?? "";
    const lines = [
      `${request.method ?? "GET"} ${path} HTTP/1.1`,
      ...(request.host === null ? [] : [`Host: ${request.host}`]),
      "Connection: close",
      ...Object.entries(request.headers ?? {}).map(([k, v]) => `${k}: ${v}`),
      ...(body ? [`Content-Length: ${new TextEncoder().encode(body).length}`] : []),
    ];
    await conn.write(new TextEncoder().encode(lines.join("\r\n") + "\r\n\r\n" + body));
    let bytes = new Uint8Array(0);
    const buffer = new Uint8Array(16 * 1024);
    const ms = request.ms ?? 10_000;
    const split = () => {
      const head = new TextDecoder().decode(bytes);
      const end = head.indexOf("\r\n\r\n");
      if (end < 0) return undefined;
      const headerBytes = new TextEncoder().encode(head.slice(0, end + 4)).length;
      const [statusLine = "", ...headerLines] = head.slice(0, end).split("\r\n");
      const headers = new Map(headerLines.map((l) => {
        const colon = l.indexOf(":");
        return [l.slice(0, colon).trim().toLowerCase(), l.slice(colon + 1).trim()];
      }));
      const rest = bytes.subarray(headerBytes);
      const body = new TextDecoder().decode(headers.get("transfer-encoding") === "chunked" ? unchunk(rest) : rest);
      return { status: Number(statusLine.split(" ")[1]), headers, body };
    };
    await withTimeout(
      (async () => {
        for (;;) {
          const n = await conn.read(buffer);
          if (n === null) break;
          const more = new Uint8Array(bytes.length + n);
          more.set(bytes);
          more.set(buffer.subarray(0, n), bytes.length);
          bytes = more;
          if (request.until && request.until.test(split()?.body ?? "")) break;
        }
      })(),
      ms,
      () => new Error(`No answer to ${path} within ${ms} ms; got ${JSON.stringify(new TextDecoder().decode(bytes))}`),
    );
    const response = split();
    if (!response) throw new Error(`No HTTP answer to ${path}: ${JSON.stringify(new TextDecoder().decode(bytes))}`);
    return response;
  } finally {
    conn.close();
  }
}

/** The data of a chunked body (as much of it as was read). */
function unchunk(bytes: Uint8Array): Uint8Array {
  const parts: Uint8Array[] = [];
  let at = 0;
  for (;;) {
    let eol = at;
    while (eol + 1 < bytes.length && !(bytes[eol] === 13 && bytes[eol + 1] === 10)) eol++;
    if (eol + 1 >= bytes.length) break;
    const size = parseInt(new TextDecoder().decode(bytes.subarray(at, eol)), 16);
    if (!(size > 0)) break;
    parts.push(bytes.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) (out.set(p, offset), offset += p.length);
  return out;
}
