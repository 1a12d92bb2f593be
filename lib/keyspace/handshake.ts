/**
 * The handshake of lab 3, both sides. The listener reads the key that
 * changed and acknowledges by writing the handshake key — in one round trip
 * (a small Lua script) when it reads and writes the same server, in two
 * when the handshake goes to another one (`--write-url`). The writer waits
 * for the handshake woken by its keyspace notification, never by polling.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import { type Redis, ReplyError } from "ioredis";
import { CliError, ExitCode } from "../core/exit_codes.ts";
import type { Commands } from "../endpoint/link.ts";
import { keyspaceChannel, parseNotification } from "./channels.ts";
import { onMessage, subscribeAll, type Subscription, unsubscribeAll } from "../pubsub/subscribe.ts";

/** The key lab 3's writer writes and its listener watches. */
export const LAB_KEY = "shared_key";

/** The key lab 3's listener acknowledges on. */
export const HANDSHAKE_KEY = "handshake_key";

/** The notification letters the writer's {@linkcode HandshakeWatcher} needs: the keyspace channel, string commands. */
export const HANDSHAKE_NOTIFY_FLAGS = "K$";

/** The most bytes of the original value copied into the handshake value. */
export const HANDSHAKE_COPY_BYTES = 256;

/**
 * Reads KEYS[1] (its type; its value if a string) and, when ARGV[1] is not
 * empty, writes KEYS[2] = ARGV[1] .. (the value's first bytes, or its type).
 */
export const RESPOND_SCRIPT = `local t = redis.call('TYPE', KEYS[1])['ok']
local v = false
if t == 'string' then v = redis.call('GET', KEYS[1]) end
if ARGV[1] ~= '' then
  local shown = v and string.sub(v, 1, ${HANDSHAKE_COPY_BYTES}) or ('(' .. t .. ')')
  redis.call('SET', KEYS[2], ARGV[1] .. shown)
end
return {t, v}`;

const RESPOND_SHA = createHash("sha1").update(RESPOND_SCRIPT).digest("hex");

/**
 * The start of a handshake value; the original value (or its type) follows.
 *
 * @param name who acknowledges
 * @param atMs when, in epoch ms
 * @returns e.g. `listener handshake 1725543675123 for `
 * @example
 * ```ts
 * import { handshakePrefix } from "./handshake.ts";
 * import assert from "node:assert/strict";
 * assert.equal(handshakePrefix("l", 5), "l handshake 5 for ");
 * ```
 */
export function handshakePrefix(name: string, atMs: number): string {
  return `${name} handshake ${atMs} for `;
}

/**
 * The listener's time in a handshake value, in epoch ms.
 *
 * @param value a handshake value
 * @returns the time, or undefined when the value is not a handshake
 * @example
 * ```ts
 * import { handshakeTime } from "./handshake.ts";
 * import assert from "node:assert/strict";
 * assert.equal(handshakeTime("l handshake 1725543675123 for x"), 1725543675123);
 * ```
 */
export function handshakeTime(value: string): number | undefined {
  const m = / handshake (\d+) for /.exec(value);
  return m ? Number(m[1]) : undefined;
}

/** How the listener reads and acknowledges. */
export type RespondMode = "script" | "pipeline" | "read-only";

/** What the listener read, and what it wrote. */
export interface Response {
  /** The key's type (`none` when it is gone). */
  type: string;
  /** The value, for strings. */
  value: Buffer | null;
  /** Whether the handshake was written. */
  handshake: boolean;
}

/** Where the listener reads and writes. */
export interface ResponderOptions {
  /** The commands of a link to the server listened to (or to the cluster). */
  read: Commands;
  /** The commands of a link to the server the handshake goes to, when it is another one (`--write-url`). */
  write?: Commands;
  /** The handshake key, or undefined for `--no-handshake`. */
  handshakeKey?: string;
  /** The listener's name in the handshake value. */
  name: string;
  /** Told once when the Lua script is refused and two round trips are used instead. */
  onFallback?: (reason: string) => void;
  /**
   * Whether one script may read and write both keys ({@linkcode Link.combinable}; default: always): a key of another
   * slot of a cluster than the handshake key's is read, then acknowledged (2 round trips).
   */
  combinable?: (keys: readonly string[]) => boolean;
}

/**
 * The listener's side: reads a key and writes the handshake, in as few
 * round trips as the setup allows.
 *
 * @example
 * ```ts ignore
 * const responder = new HandshakeResponder({ read: conn.redis, handshakeKey: "handshake_key", name: "listener" });
 * const { type, value } = await responder.respond("shared_key");
 * ```
 */
export class HandshakeResponder {
  /** `script`: 1 round trip; `pipeline`: read, then write (2); `read-only`: no handshake (1). */
  mode: RespondMode;
  /**
   * Creates a HandshakeResponder.
   *
   * @param options connections, handshake key and name
   */
  constructor(private readonly options: ResponderOptions) {
    this.mode = options.handshakeKey === undefined ? "read-only" : options.write ? "pipeline" : "script";
  }

  /**
   * Reads `key` and writes the handshake (never for the handshake key itself).
   *
   * @param key the key that changed
   * @returns its type and value, and whether the handshake was written
   * @throws {CliError} (exit code 1) when the server is a read-only replica and no `--write-url` was given
   */
  async respond(key: string): Promise<Response> {
    const writes = this.options.handshakeKey !== undefined && key !== this.options.handshakeKey;
    try {
      if (this.mode === "script" && (this.options.combinable?.([key, this.options.handshakeKey!]) ?? true)) {
        try {
          return await this.#viaScript(key, writes);
        } catch (err) {
          if (!isScriptRefusal(err)) throw err;
          this.mode = "pipeline";
          this.options.onFallback?.((err as Error).message);
        }
      }
      return await this.#viaPipeline(key, writes);
    } catch (err) {
      if (err instanceof Error && isReadOnlyError(err.message)) {
        throw new CliError(
          ExitCode.Failure,
          `Cannot write the handshake: the server is a read-only replica (${err.message.split("\n")[0]}).\n` +
            "Point --write-url at its primary, or use --no-handshake.",
        );
      }
      throw err;
    }
  }

  async #viaScript(key: string, writes: boolean): Promise<Response> {
    const prefix = writes ? handshakePrefix(this.options.name, Date.now()) : "";
    const args = [2, key, this.options.handshakeKey!, prefix];
    let reply: unknown;
    try {
      reply = await this.options.read.callBuffer("EVALSHA", [RESPOND_SHA, ...args]);
    } catch (err) {
      if (!(err instanceof Error) || !/^NOSCRIPT/.test(err.message)) throw err;
      reply = await this.options.read.callBuffer("EVAL", [RESPOND_SCRIPT, ...args]);
    }
    const [type, value] = reply as [Buffer, Buffer | null];
    return { type: type.toString(), value, handshake: writes };
  }

  async #viaPipeline(key: string, writes: boolean): Promise<Response> {
    const results = await this.options.read.pipeline().type(key).getBuffer(key).exec() ?? [];
    const [typeErr, type] = results[0] ?? [new Error("no reply")];
    if (typeErr) throw typeErr;
    const [, value] = results[1] ?? []; // WRONGTYPE for non-strings: the type says enough
    const read = { type: String(type), value: type === "string" ? (value as Buffer | null) : null };
    if (!writes) return { ...read, handshake: false };
    const shown = read.value ? read.value.subarray(0, HANDSHAKE_COPY_BYTES) : Buffer.from(`(${read.type})`);
    const prefix = Buffer.from(handshakePrefix(this.options.name, Date.now()));
    await (this.options.write ?? this.options.read).set(this.options.handshakeKey!, Buffer.concat([prefix, shown]));
    return { ...read, handshake: true };
  }
}

/**
 * Whether an error says the server is a read-only replica: a plain
 * `READONLY …` reply, or one wrapped in a script error as Redis 6 and KeyDB
 * give it (`ERR Error running script … -READONLY You can't write …`).
 *
 * @param message the server's error
 * @returns true when a write was refused because the server is a replica
 * @example
 * ```ts
 * import { isReadOnlyError } from "./handshake.ts";
 * import assert from "node:assert/strict";
 * assert.ok(isReadOnlyError("READONLY You can't write against a read only replica."));
 * assert.ok(isReadOnlyError("ERR Error running script (call to f_1): @user_script:5: -READONLY You can't write"));
 * assert.ok(!isReadOnlyError("ERR unknown command"));
 * ```
 */
export function isReadOnlyError(message: string): boolean {
  return /\bREADONLY\b/.test(message);
}

function isScriptRefusal(err: unknown): boolean {
  return (err instanceof ReplyError || err instanceof Error) &&
    /^(NOPERM|ERR unknown command|ERR .*(script|Lua).*(disabled|not allowed))/i.test((err as Error).message);
}

/** A handshake the writer saw. */
export interface SeenHandshake {
  /** When its notification arrived, on `performance.now()`'s clock. */
  arrivedAt: number;
  /** The listener's time in it, in epoch ms. */
  listenerMs?: number;
}

/**
 * The writer's side: subscribed to the keyspace channel of the handshake
 * key, it wakes on each `set` event, reads the value and hands it to the
 * round waiting for it.
 *
 * @example
 * ```ts ignore
 * await using watcher = await HandshakeWatcher.start({ sub: subConn.redis, read: conn.redis, db: 0, key: "handshake_key" });
 * const seen = await watcher.wait("writer timestamp 1725543675123", 5000);
 * ```
 */
export class HandshakeWatcher implements AsyncDisposable {
  #waiting: { token: string; resolve: (seen: SeenHandshake) => void } | undefined;
  #stop: () => void = () => {};
  readonly #subscription: Subscription;

  private constructor(private sub: Redis, private readonly read: Commands, db: number, key: string) {
    this.#subscription = { kind: "channel", name: keyspaceChannel(db, key) };
  }

  /**
   * Subscribes to the handshake key's keyspace channel.
   *
   * @param options the subscriber connection (on a cluster: to the node owning the key), a link's commands to read
   *   with, the db and the handshake key
   * @returns the watcher, subscribed
   */
  static async start(options: { sub: Redis; read: Commands; db: number; key: string }): Promise<HandshakeWatcher> {
    const watcher = new HandshakeWatcher(options.sub, options.read, options.db, options.key);
    watcher.#stop = await watcher.#listen(options.sub);
    return watcher;
  }

  async #listen(sub: Redis): Promise<() => void> {
    const stop = onMessage(sub, (m) => {
      const arrivedAt = performance.now();
      const n = parseNotification(m.channel, m.payload);
      if (n?.event === "set") void this.#check(n.key, arrivedAt);
    });
    await subscribeAll(sub, [this.#subscription], () => {}).catch((err) => {
      stop();
      throw err;
    });
    return stop;
  }

  /**
   * Follows the handshake key to another server (on a cluster, the node that
   * serves its slot after a failover): subscribes there first, then leaves
   * the old one. A round waiting goes on waiting.
   *
   * @param sub a subscriber connection to the new server
   * @returns when subscribed there
   */
  async moveTo(sub: Redis): Promise<void> {
    const stop = await this.#listen(sub);
    const [oldSub, oldStop] = [this.sub, this.#stop];
    this.sub = sub;
    this.#stop = stop;
    oldStop();
    if (oldSub.status === "ready") {
      await unsubscribeAll(oldSub, [this.#subscription]).catch(() => {}); // the old node may be gone
    }
  }

  async #check(key: string, arrivedAt: number): Promise<void> {
    const waiting = this.#waiting;
    if (!waiting) return;
    const value = await this.read.get(key).catch(() => null);
    if (value === null || !value.includes(waiting.token) || this.#waiting !== waiting) return;
    this.#waiting = undefined;
    const listenerMs = handshakeTime(value);
    waiting.resolve({ arrivedAt, ...(listenerMs !== undefined ? { listenerMs } : {}) });
  }

  /**
   * Waits for the handshake whose value contains `token`.
   *
   * @param token text the round's handshake carries (the written value)
   * @param timeoutMs how long to wait
   * @param signal stops the wait early
   * @returns the handshake, or undefined on timeout or stop
   */
  wait(token: string, timeoutMs: number, signal?: AbortSignal): Promise<SeenHandshake | undefined> {
    return new Promise((resolve) => {
      const finish = (seen: SeenHandshake | undefined) => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        if (this.#waiting === waiting) this.#waiting = undefined;
        resolve(seen);
      };
      const onAbort = () => finish(undefined);
      const waiting = { token, resolve: finish };
      this.#waiting = waiting;
      const timer = setTimeout(() => finish(undefined), timeoutMs);
      signal?.addEventListener("abort", onAbort, { once: true });
      if (signal?.aborted) onAbort();
    });
  }

  /** Unsubscribes and stops listening. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.#stop();
    await unsubscribeAll(this.sub, [this.#subscription]);
  }
}
