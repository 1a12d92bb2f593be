/**
 * The fast way to publish in bulk: PUBLISH commands encoded as RESP by hand,
 * a whole batch into one Buffer, written to a socket of its own whose
 * integer replies are counted — none of the per-command objects (Command,
 * arguments array, promise) a client library makes. The socket is opened
 * with the host, port, TLS settings and login an ioredis client resolved
 * from the same URL, so both reach the same server the same way.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import tls from "node:tls";
import type { Redis } from "ioredis";
import { ReplyError } from "ioredis";
import { CliError } from "../core/exit_codes.ts";
import { diagnose } from "../core/server_faults.ts";
import type { BatchSender, Delivery, Outgoing } from "./publish.ts";

const CRLF = 0x0a0d; // "\r\n" read as a little-endian uint16
const encoder = new TextEncoder();

/** Digits of a non-negative integer. */
function digits(n: number): number {
  return n < 10 ? 1 : n < 100 ? 2 : n < 1000 ? 3 : n < 10_000 ? 4 : n < 100_000 ? 5 : String(n).length;
}

/** Writes `n` in decimal at `at`, `width` digits; returns the offset after it. */
function writeInt(buf: Uint8Array, at: number, n: number, width: number): number {
  for (let i = at + width - 1; i >= at; i--) {
    buf[i] = 0x30 + (n % 10);
    n = Math.floor(n / 10);
  }
  return at + width;
}

/**
 * Writes text as UTF-8 at `at` (room for three bytes a UTF-16 unit is there): a short ASCII text byte by byte, which
 * costs less than a call into the encoder (in a profile of publisher.ts the encoder took 15% for 25-byte messages).
 *
 * @returns how many bytes it took
 */
function writeText(text: string, buf: Uint8Array, at: number): number {
  const n = text.length;
  if (n <= 64) {
    let i = 0;
    for (let c = 0; i < n && (c = text.charCodeAt(i)) < 0x80; i++) buf[at + i] = c;
    if (i === n) return n;
  }
  return encoder.encodeInto(text, buf.subarray(at)).written;
}

/** The fixed start of every PUBLISH to one channel: `*3\r\n$7\r\nPUBLISH\r\n$<len>\r\n<channel>\r\n`. */
function commandHead(command: string, channel: string): Uint8Array {
  const name = encoder.encode(command);
  const ch = encoder.encode(channel);
  const head = `*3\r\n$${name.length}\r\n${command}\r\n$${ch.length}\r\n`;
  return Buffer.concat([encoder.encode(head), ch, encoder.encode("\r\n")]);
}

/**
 * Encodes a batch of PUBLISH (or SPUBLISH) commands as RESP, exactly as a
 * client library would send them, into one buffer: text payloads as UTF-8,
 * byte payloads as they are.
 *
 * @param messages the messages, in order
 * @param command `PUBLISH` (default) or `SPUBLISH`
 * @returns the bytes to write
 * @example
 * ```ts
 * import { encodePublishBatch } from "./publish_lane.ts";
 * const bytes = encodePublishBatch([{ channel: "c", payload: "é" }]);
 * console.assert(new TextDecoder().decode(bytes) === "*3\r\n$7\r\nPUBLISH\r\n$1\r\nc\r\n$2\r\né\r\n");
 * ```
 */
export function encodePublishBatch(messages: readonly Outgoing[], command = "PUBLISH"): Uint8Array {
  let bound = 0;
  let lastChannel: string | undefined;
  let head: Uint8Array = new Uint8Array();
  const heads: Uint8Array[] = [];
  for (const m of messages) {
    if (m.channel !== lastChannel) [lastChannel, head] = [m.channel, commandHead(command, m.channel)];
    heads.push(head);
    const max = typeof m.payload === "string" ? 3 * m.payload.length : m.payload.byteLength;
    bound += head.length + 1 + digits(max) + 4 + max;
  }
  const buf = Buffer.allocUnsafe(bound);
  let at = 0;
  for (let i = 0; i < messages.length; i++) {
    const h = heads[i]!;
    buf.set(h, at);
    at += h.length;
    const payload = messages[i]!.payload;
    if (typeof payload === "string") {
      // Encode first (after room for the longest length the text could have), then write the length before it.
      const room = digits(3 * payload.length);
      const start = at + 1 + room + 2;
      const written = writeText(payload, buf, start);
      const width = digits(written);
      const gap = room - width;
      buf[at] = 0x24; // $
      writeInt(buf, at + 1, written, width);
      buf.writeUInt16LE(CRLF, at + 1 + width);
      if (gap > 0) buf.copyWithin(at + 3 + width, start, start + written);
      at += 3 + width + written;
    } else {
      const width = digits(payload.byteLength);
      buf[at] = 0x24;
      writeInt(buf, at + 1, payload.byteLength, width);
      buf.writeUInt16LE(CRLF, at + 1 + width);
      at += 3 + width;
      buf.set(payload, at);
      at += payload.byteLength;
    }
    buf.writeUInt16LE(CRLF, at);
    at += 2;
  }
  return buf.subarray(0, at);
}

/** One batch written and waiting for its replies. */
interface Pending {
  receivers: number[];
  count: number;
  error?: Error;
  resolve: (receivers: number[]) => void;
  reject: (err: Error) => void;
}

/** What a lane needs of the ioredis client whose connection it mirrors: the options ioredis resolved from the URL. */
export type LaneTarget = Pick<Redis, "options" | "status">;

/** The error a batch fails with when the lane's socket goes away (worded as ioredis words it: see client.ts). */
function lostError(detail?: string): Error {
  return new Error(`Connection is closed${detail ? ` (${detail})` : ""}.`);
}

/**
 * Reads RESP replies of PUBLISH: integers (`:n`), errors (`-…`), and `+OK`
 * for the login; anything else is a broken protocol. Keeps what a chunk
 * left unfinished for the next one.
 */
class ReplyReader {
  #rest: Uint8Array | undefined;

  /**
   * Feeds one chunk; calls `onInteger` or `onError` (or `onStatus`) per reply, in order.
   * @throws {CliError} with exit code 7 when a reply is not one PUBLISH or AUTH can have
   */
  feed(
    chunk: Uint8Array,
    onInteger: (n: number) => void,
    onError: (text: string) => void,
    onStatus: (text: string) => void,
  ): void {
    let buf = chunk;
    if (this.#rest) {
      buf = Buffer.concat([this.#rest, chunk]);
      this.#rest = undefined;
    }
    const end = buf.length;
    let i = 0;
    while (i < end) {
      const type = buf[i]!;
      if (type === 0x3a) { // ':'
        let j = i + 1;
        let negative = false;
        if (buf[j] === 0x2d) [negative, j] = [true, j + 1];
        let n = 0;
        let c = 0;
        while (j < end && (c = buf[j]!) >= 0x30 && c <= 0x39) {
          n = n * 10 + c - 0x30;
          j++;
        }
        if (j + 1 >= end) break; // the line is not all here yet
        if (c !== 0x0d || buf[j + 1] !== 0x0a) throw broken(buf, i);
        onInteger(negative ? -n : n);
        i = j + 2;
      } else if (type === 0x2d || type === 0x2b) { // '-' or '+'
        const lf = buf.indexOf(0x0a, i);
        if (lf < 0) break;
        if (buf[lf - 1] !== 0x0d) throw broken(buf, i);
        const text = Buffer.from(buf.buffer, buf.byteOffset + i + 1, lf - 1 - i - 1).toString();
        if (type === 0x2d) onError(text);
        else onStatus(text);
        i = lf + 1;
      } else {
        throw broken(buf, i);
      }
    }
    if (i < end) this.#rest = buf.slice(i);
  }
}

function broken(buf: Uint8Array, at: number): CliError {
  const shown = String.fromCharCode(...buf.subarray(at, at + 20)).replace(/[^\x20-\x7e]/g, "?");
  const d = diagnose({ reason: `Unexpected reply "${shown}" to PUBLISH. Please report this.` });
  return new CliError(d.exitCode, `${d.what}.\n${d.fix}`);
}

/** The socket a lane writes to: what it does is the same over TCP, a Unix socket and TLS. */
interface LaneSocket {
  /** Queues bytes to send, in order. */
  write(bytes: Uint8Array | string): void;
  /** Drops the connection at once. */
  destroy(): void;
  /** Ends it: sends what is queued, then closes; resolves once it is closed (destroyed after `ms`). */
  end(ms: number): Promise<void>;
}

/** One connection of a lane: its socket once connected, and whether it closed. */
interface Attempt {
  socket?: LaneSocket;
  closed: boolean;
}

/** What a lane hears from its socket. */
interface SocketEvents {
  data(chunk: Uint8Array): void;
  close(): void;
}

/**
 * Connects over plain TCP or a Unix socket with Deno's own sockets: in a profile of publisher.ts and in one-way
 * latency at 1,000 msg/s they beat node:net (under Deno a compatibility layer over them): about 60 µs less from a
 * message's `{{ts}}` to its arrival at a subscriber.
 */
async function denoSocket(where: Deno.ConnectOptions | Deno.UnixConnectOptions, on: SocketEvents): Promise<LaneSocket> {
  const conn = "path" in where ? await Deno.connect(where) : await Deno.connect(where);
  if ("setNoDelay" in conn) conn.setNoDelay(true);
  let closed = false;
  let writing: Promise<unknown> = Promise.resolve();
  const close = () => {
    if (closed) return;
    closed = true;
    try {
      conn.close();
    } catch {
      // closed already
    }
  };
  const reading = (async () => {
    const buf = new Uint8Array(64 * 1024);
    try {
      for (let n = await conn.read(buf); n !== null && !closed; n = await conn.read(buf)) on.data(buf.subarray(0, n));
    } catch {
      // reset, or closed by us: the same end
    }
    close();
    on.close();
  })();
  const writeAll = async (bytes: Uint8Array) => {
    for (let off = 0; off < bytes.length && !closed;) off += await conn.write(bytes.subarray(off));
  };
  return {
    write: (bytes) => {
      const data = typeof bytes === "string" ? encoder.encode(bytes) : bytes;
      writing = writing.then(() => writeAll(data)).catch(close);
    },
    destroy: close,
    end: async (ms) => {
      const timer = setTimeout(close, ms);
      await writing;
      close();
      await reading;
      clearTimeout(timer);
    },
  };
}

/** Connects with node:tls (Deno's own TLS cannot skip the certificate check that `--tls-insecure` asks for). */
function tlsSocket(options: tls.ConnectionOptions, on: SocketEvents): Promise<LaneSocket> {
  const socket = tls.connect(options);
  socket.setNoDelay(true);
  const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
  return new Promise((resolve, reject) => {
    const failed = () => reject(lostError("cannot connect"));
    socket.once("close", failed);
    socket.on("error", () => {}); // "close" follows
    socket.once("secureConnect", () => {
      socket.off("close", failed);
      socket.on("data", (chunk: Uint8Array) => on.data(chunk));
      socket.on("close", () => on.close());
      resolve({
        write: (bytes) => void socket.write(bytes),
        destroy: () => void socket.destroy(),
        end: async (ms) => {
          const timer = setTimeout(() => socket.destroy(), ms);
          socket.end();
          await closed;
          clearTimeout(timer);
        },
      });
    });
  });
}

/**
 * A connection of its own for publishing in bulk (see the module's
 * description). Connects on the first batch, and again on the next batch
 * after its socket was lost; a batch in flight when it is lost fails as a
 * whole with `Connection is closed.` (the same words as ioredis, so
 * `commandLostConnection` in client.ts knows it), and so does a batch for
 * which it cannot connect. A refused PUBLISH fails its batch with the
 * server's error (a `ReplyError`, as ioredis gives), once all its replies
 * came.
 *
 * @example
 * ```ts ignore
 * const lane = new PublishLane(conn.redis);
 * const [d] = await lane.send([{ channel: "news", payload: "hi" }]);
 * await lane.close();
 * ```
 */
export class PublishLane {
  #attempt: Attempt | undefined;
  #ready: Promise<LaneSocket> | undefined;
  #pending: Pending[] = [];
  #reader = new ReplyReader();
  #login: { resolve: () => void; reject: (err: Error) => void } | undefined;
  #fatal: Error | undefined;
  #closed = false;

  /**
   * @param target the ioredis client of the same URL: its host, port (or path), TLS options, user and password;
   *   while its status is not `ready`, the lane does not connect either (a batch fails as lost), so that an outage
   *   is one outage for both, reported and waited for through that client
   * @param command `PUBLISH` or `SPUBLISH`
   */
  constructor(private readonly target: LaneTarget, private readonly command = "PUBLISH") {}

  /** The {@linkcode BatchSender} of this lane (its first argument, a client, is ignored). */
  readonly sender: BatchSender = async (_redis, messages) => {
    const receivers = await this.publish(messages);
    const out: Delivery[] = new Array(receivers.length);
    for (let i = 0; i < receivers.length; i++) out[i] = { receivers: receivers[i]! };
    return out;
  };

  /**
   * Publishes a batch in one write and resolves with the receivers of each, in order.
   *
   * @param messages the messages
   * @returns how many subscribers received each
   * @throws a lost-connection error, the first `ReplyError`, or a {@linkcode CliError} for a broken protocol
   */
  async publish(messages: readonly Outgoing[]): Promise<number[]> {
    if (this.#fatal) throw this.#fatal;
    if (messages.length === 0) return [];
    const socket = await this.#connected();
    const bytes = encodePublishBatch(messages, this.command);
    return new Promise<number[]>((resolve, reject) => {
      this.#pending.push({ receivers: [], count: messages.length, resolve, reject });
      socket.write(bytes);
    });
  }

  #connected(): Promise<LaneSocket> {
    if (this.#closed) return Promise.reject(lostError("closing"));
    if (!this.#ready && this.target.status !== "ready") return Promise.reject(lostError("reconnecting"));
    this.#ready ??= this.#connect().catch((err) => {
      this.#ready = undefined;
      throw err;
    });
    return this.#ready;
  }

  async #connect(): Promise<LaneSocket> {
    const o = this.target.options;
    this.#reader = new ReplyReader();
    // Which connection an event is about: one that closed (even while connecting) is done with for good.
    const token: Attempt = { closed: false };
    this.#attempt = token;
    const on: SocketEvents = { data: (chunk) => this.#onData(token, chunk), close: () => this.#onClose(token) };
    const host = o.host ?? "localhost";
    const port = o.port ?? 6379;
    let socket: LaneSocket;
    try {
      socket = o.tls
        ? await tlsSocket({ ...o.tls, ...(o.path ? { path: o.path } : { host, port }) } as tls.ConnectionOptions, on)
        : await denoSocket(o.path ? { transport: "unix", path: o.path } : { hostname: host, port }, on);
    } catch (err) {
      throw lostError(`cannot connect: ${(err as Error).message}`);
    }
    if (token.closed) throw lostError("closed at once");
    token.socket = socket;
    if (o.password) {
      const auth = o.username ? ["AUTH", o.username, o.password] : ["AUTH", o.password];
      const loggedIn = new Promise<void>((resolve, reject) => (this.#login = { resolve, reject }));
      socket.write(`*${auth.length}\r\n` + auth.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join(""));
      try {
        await loggedIn;
      } catch (err) {
        socket.destroy();
        throw err;
      }
    }
    return socket;
  }

  #onData(token: Attempt, chunk: Uint8Array): void {
    if (token !== this.#attempt || token.closed) return;
    try {
      this.#reader.feed(chunk, (n) => this.#reply(n, undefined), (text) => this.#reply(0, text), (text) => {
        const login = this.#login;
        this.#login = undefined;
        if (login) login.resolve();
        else this.#reply(0, `unexpected status reply ${text}`);
      });
    } catch (err) {
      this.#fatal = err as Error;
      for (const p of this.#pending.splice(0)) p.reject(this.#fatal);
      this.#login?.reject(this.#fatal);
      token.socket?.destroy();
    }
  }

  #reply(n: number, error: string | undefined): void {
    if (error !== undefined && this.#login) {
      const login = this.#login;
      this.#login = undefined;
      login.reject(new ReplyError(error));
      return;
    }
    const p = this.#pending[0];
    if (!p) return;
    if (error !== undefined) p.error ??= new ReplyError(error) as Error;
    p.receivers.push(n);
    if (p.receivers.length === p.count) {
      this.#pending.shift();
      if (p.error) p.reject(p.error);
      else p.resolve(p.receivers);
    }
  }

  #onClose(token: Attempt): void {
    if (token.closed) return;
    token.closed = true;
    if (token !== this.#attempt) return;
    this.#ready = undefined;
    const lost = this.#fatal ?? lostError();
    for (const p of this.#pending.splice(0)) p.reject(lost);
    const login = this.#login;
    this.#login = undefined;
    login?.reject(lostError("closed at login"));
  }

  /** Closes the socket (what is still pending fails as lost) and waits, at most a second, for it to be gone. */
  async close(): Promise<void> {
    this.#closed = true;
    const socket = await this.#ready?.catch(() => undefined);
    await socket?.end(1000);
  }
}
