/**
 * The fast way to publish in bulk: a batch of PUBLISH commands encoded as
 * RESP by hand into one buffer (lib/wire/publish_batch.ts), written to a
 * socket of its own (lib/wire/socket.ts) whose integer replies are counted
 * (lib/wire/simple_replies.ts) — none of the per-command objects (Command,
 * arguments array, promise) a client library makes. The socket is opened
 * with the host, port, TLS settings and login an ioredis client resolved
 * from the same URL, so both reach the same server the same way.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import type { Redis } from "ioredis";
import { ReplyError } from "ioredis";
import { ConnectionLostError } from "../core/client.ts";
import { CliError } from "../core/exit_codes.ts";
import { diagnose } from "../core/server_faults.ts";
import { encodePublishBatch } from "../wire/publish_batch.ts";
import { RespSyntaxError } from "../wire/resp.ts";
import { type SimpleReplyHandler, SimpleReplyReader } from "../wire/simple_replies.ts";
import { connectSocket, type SocketEvents, type SocketTarget, type WireSocket } from "../wire/socket.ts";
import type { BatchSender, Delivery, Outgoing } from "./publish.ts";

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

/** A reply that is not one PUBLISH or AUTH can have: the server broke the protocol (exit code 7). */
function broken(err: RespSyntaxError): CliError {
  const d = diagnose({ reason: `Unexpected reply "${err.shown}" to PUBLISH. Please report this.` });
  return new CliError(d.exitCode, `${d.what}.\n${d.fix}`);
}

/** One connection of a lane: its socket once connected, and whether it closed. */
interface Attempt {
  socket?: WireSocket;
  closed: boolean;
}

/**
 * A connection of its own for publishing in bulk (see the module's
 * description). Connects on the first batch, and again on the next batch
 * after its socket was lost; a batch in flight when it is lost fails as a
 * whole with a {@linkcode ConnectionLostError} (which
 * `commandLostConnection` in client.ts knows), and so does a batch for
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
  #ready: Promise<WireSocket> | undefined;
  #pending: Pending[] = [];
  #reader = new SimpleReplyReader();
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
  publish(messages: readonly Outgoing[]): Promise<number[]> {
    return this.publishEncoded(() => encodePublishBatch(messages, this.command), messages.length);
  }

  /**
   * Publishes a batch its caller encoded itself (`count` commands of this lane's, as RESP, e.g. bench.ts's stamped
   * messages written in place) in one write, and resolves with the receivers of each, in order. Any command answered
   * by an integer or `+OK` goes this way too (kv_updater's MSET chunks): an OK counts as 0.
   *
   * @param encode gives the bytes, once the lane is connected
   * @param count how many commands they hold
   * @returns how many subscribers received each
   * @throws as {@linkcode PublishLane.publish}
   */
  async publishEncoded(encode: () => Uint8Array, count: number): Promise<number[]> {
    if (this.#fatal) throw this.#fatal;
    if (count === 0) return [];
    const socket = await this.#connected();
    // Its close may have been handled while this waited for the socket: nothing would answer the batch any more.
    if (this.#attempt?.socket !== socket || this.#attempt.closed) throw this.#fatal ?? new ConnectionLostError();
    const bytes = encode();
    return new Promise<number[]>((resolve, reject) => {
      this.#pending.push({ receivers: [], count, resolve, reject });
      socket.write(bytes);
    });
  }

  #connected(): Promise<WireSocket> {
    if (this.#closed) return Promise.reject(new ConnectionLostError("closing"));
    if (!this.#ready && this.target.status !== "ready") return Promise.reject(new ConnectionLostError("reconnecting"));
    this.#ready ??= this.#connect().catch((err) => {
      this.#ready = undefined;
      throw err;
    });
    return this.#ready;
  }

  async #connect(): Promise<WireSocket> {
    const o = this.target.options;
    this.#reader = new SimpleReplyReader();
    // Which connection an event is about: one that closed (even while connecting) is done with for good.
    const token: Attempt = { closed: false };
    this.#attempt = token;
    const on: SocketEvents = { data: (chunk) => this.#onData(token, chunk), close: () => this.#onClose(token) };
    let socket: WireSocket;
    try {
      socket = await connectSocket(o as SocketTarget, on);
    } catch (err) {
      throw new ConnectionLostError(`cannot connect: ${(err as Error).message}`);
    }
    if (token.closed) throw new ConnectionLostError("closed at once");
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

  /** What each reply does: an integer counts for the batch it answers, an error fails it (or the login). */
  readonly #replies: SimpleReplyHandler = {
    integer: (n) => this.#reply(n, undefined),
    error: (text) => this.#reply(0, text),
    status: () => {
      const login = this.#login;
      this.#login = undefined;
      if (login) login.resolve();
      else this.#reply(0, undefined); // a command answered OK (MSET through publishEncoded), counted as 0
    },
  };

  #onData(token: Attempt, chunk: Uint8Array): void {
    if (token !== this.#attempt || token.closed) return;
    try {
      this.#reader.feed(chunk, this.#replies);
    } catch (err) {
      this.#fatal = err instanceof RespSyntaxError ? broken(err) : err as Error;
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
    const lost = this.#fatal ?? new ConnectionLostError();
    for (const p of this.#pending.splice(0)) p.reject(lost);
    const login = this.#login;
    this.#login = undefined;
    login?.reject(new ConnectionLostError("closed at login"));
  }

  /** Closes the socket (what is still pending fails as lost) and waits, at most a second, for it to be gone. */
  async close(): Promise<void> {
    this.#closed = true;
    const socket = await this.#ready?.catch(() => undefined);
    await socket?.end(1000);
  }
}
