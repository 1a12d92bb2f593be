/**
 * Deliberately broken servers on loopback for fault tests: one that stops
 * answering, one that answers with a reply nested 200,000 deep, with garbage,
 * with a 600 MB bulk-string header and then nothing, one that closes every
 * connection at once, one that refuses HELLO or AUTH — and a proxy in front of
 * a real server that can slip such bytes into a working connection, send
 * the server another command in place of a client's (so that a real server's
 * null comes back where, say, an UNSUBSCRIBE's confirmation belongs), lose a
 * reply after the command was carried out, damage one reply on its way, or
 * hand its clients to another server.
 *
 * @module
 */

/** A fake server on 127.0.0.1; dispose it to close it and every connection it holds. */
export interface FakeServer extends AsyncDisposable {
  /** Its port on 127.0.0.1. */
  port: number;
  /** `redis://127.0.0.1:<port>`. */
  url: string;
  /** Resolves once it has accepted `n` connections in all. */
  accepted(n: number): Promise<void>;
}

/** Counts accepted connections and wakes whoever waits for a count. */
function acceptCounter(): { add(): void; accepted(n: number): Promise<void> } {
  let count = 0;
  const waiters: { n: number; resolve: () => void }[] = [];
  return {
    add() {
      count++;
      for (const w of waiters.filter((w) => w.n <= count)) w.resolve();
    },
    accepted(n) {
      if (count >= n) return Promise.resolve();
      const { promise, resolve } = Promise.withResolvers<void>();
      waiters.push({ n, resolve });
      return promise;
    },
  };
}

/** What a fake server does with one command: bytes to send, nothing (stay silent), or close the connection. */
export type FakeAnswer = Uint8Array | string | undefined | "close";

/** How a fake server behaves. */
export interface FakeBehaviour {
  /** Sent as soon as a connection is accepted; `"close"` closes it at once. */
  onAccept?: FakeAnswer;
  /** The answer to each command (its words, the first upper-cased); the `n`-th command of the connection is `n`. */
  onCommand?: (words: string[], n: number) => FakeAnswer;
  /** A password to put in its `url` (so clients send AUTH). */
  password?: string;
  /**
   * Waits this long (ms) before sending `onAccept`, and closes a connection whose client speaks first: what a
   * client of a greeting server sees when the server resets the connection at its first command before the
   * greeting was read (the reset discards it).
   */
  greetAfterMs?: number;
}

const encoder = new TextEncoder();

/**
 * Starts a fake server that reads RESP commands (arrays of bulk strings) and
 * answers as `behaviour` says.
 *
 * @param behaviour what it does on accept and on each command
 * @returns the fake server
 */
export function fakeServer(behaviour: FakeBehaviour): FakeServer {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns = new Set<Deno.Conn>();
  const loops: Promise<void>[] = [];
  const counter = acceptCounter();
  const accepting = (async () => {
    for await (const c of listener) {
      counter.add();
      conns.add(c);
      loops.push(
        serve(c, behaviour).finally(() => {
          if (conns.delete(c)) c.close();
        }),
      );
    }
  })();
  const port = (listener.addr as Deno.NetAddr).port;
  return {
    port,
    url: `redis://${behaviour.password ? `:${behaviour.password}@` : ""}127.0.0.1:${port}`,
    accepted: counter.accepted,
    [Symbol.asyncDispose]: async () => {
      listener.close();
      await accepting.catch(() => {});
      for (const c of conns) c.close();
      conns.clear();
      await Promise.all(loops);
    },
  };
}

/** Sends `answer` on `c`; false when the connection is to be closed or is gone. */
async function send(c: Deno.Conn, answer: FakeAnswer): Promise<boolean> {
  if (answer === "close") return false;
  if (answer === undefined) return true;
  const bytes = typeof answer === "string" ? encoder.encode(answer) : answer;
  try {
    for (let off = 0; off < bytes.length;) off += await c.write(bytes.subarray(off));
    return true;
  } catch {
    return false;
  }
}

async function serve(c: Deno.Conn, behaviour: FakeBehaviour): Promise<void> {
  const buf = new Uint8Array(64 * 1024);
  const first = c.read(buf).catch(() => null);
  if (behaviour.greetAfterMs !== undefined) {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const quiet = new Promise<"quiet">((resolve) => timer = setTimeout(() => resolve("quiet"), behaviour.greetAfterMs));
    const spoke = await Promise.race([first, quiet]);
    clearTimeout(timer);
    if (spoke !== "quiet") return; // the client spoke first: closed without a word
  }
  if (!await send(c, behaviour.onAccept)) return;
  const decoder = new TextDecoder();
  let pending = "";
  let n = 0;
  for (let got = await first; got !== null; got = await c.read(buf).catch(() => null)) {
    pending += decoder.decode(buf.subarray(0, got), { stream: true });
    for (let cmd = takeCommand(pending); cmd; cmd = takeCommand(pending)) {
      pending = pending.slice(cmd.used);
      if (!await send(c, behaviour.onCommand?.(cmd.words, ++n))) return;
    }
  }
}

/** Reads one `*N\r\n$L\r\nword\r\n…` command off the front of `text`, if complete. */
function takeCommand(text: string): { words: string[]; used: number } | undefined {
  const head = /^\*(\d+)\r\n/.exec(text);
  if (!head) return undefined;
  let at = head[0].length;
  const words: string[] = [];
  for (let i = 0; i < Number(head[1]); i++) {
    const len = /^\$(\d+)\r\n/.exec(text.slice(at));
    if (!len) return undefined;
    at += len[0].length;
    if (text.length < at + Number(len[1]) + 2) return undefined;
    words.push(text.slice(at, at + Number(len[1])));
    at += Number(len[1]) + 2;
  }
  if (words[0] !== undefined) words[0] = words[0].toUpperCase();
  return { words, used: at };
}

/**
 * A fake server that accepts connections and answers every command with
 * `+PONG` until the `nth` `command` (e.g. the 2nd `PING`), and from then on
 * never answers. Without a command it never answers at all.
 *
 * @param command the command (upper case) from which it goes silent
 * @param nth which occurrence of `command` is the first left unanswered
 * @returns the fake server
 */
export function stallingServer(command?: string, nth = 1): FakeServer {
  let seen = 0;
  let silent = command === undefined;
  return fakeServer({
    onCommand: ([name]) => {
      if (name === command && ++seen >= nth) silent = true;
      return silent ? undefined : "+PONG\r\n";
    },
  });
}

/** The bytes of a reply nested `depth` arrays deep: `*1\r\n` × depth, then `:1\r\n`. */
export function nestedReply(depth = 200_000): Uint8Array {
  return encoder.encode("*1\r\n".repeat(depth) + ":1\r\n");
}

/** Bytes no Redis-protocol server sends: a banner of another protocol with control bytes in it. */
export const GARBAGE = encoder.encode("SSH-2.0-OpenSSH_9.2\r\n\x00\x01\x02\xfe\xff garbage \x1b[31m\r\n");

/** A bulk-string header announcing 600 MB. */
export const HUGE_BULK_HEADER = `$${600 * 1024 * 1024}\r\n`;

/** The greeting a MariaDB server sends every client as it connects (a MySQL handshake, protocol version 10). */
export const MARIADB_GREETING: Uint8Array = (() => {
  const body = [0x0a, ...encoder.encode("5.5.5-10.11.6-MariaDB\0"), 1, 0, 0, 0, ...encoder.encode("abcdefgh\0")];
  return new Uint8Array([body.length, 0, 0, 0, ...body]);
})();

/** The fake servers every script is tried against, by what they do wrong. */
export const HOSTILE_SERVERS: Record<string, () => FakeServer> = {
  "a reply nested 200,000 deep": () => fakeServer({ onCommand: () => nestedReply() }),
  "garbage bytes": () => fakeServer({ onCommand: () => GARBAGE }),
  "a 600 MB bulk-string header, then nothing": () => fakeServer({ onCommand: () => HUGE_BULK_HEADER }),
  "accept and close at once": () => fakeServer({ onAccept: "close" }),
  // MariaDB: a greeting first, then a close at the client's first command (not a MySQL packet).
  "a MariaDB greeting, then a close at the first command": () =>
    fakeServer({ onAccept: MARIADB_GREETING, onCommand: () => "close" }),
  // The same, when the close (a reset) came before the client read the greeting: the client sees no byte at all.
  "a MariaDB greeting lost to the client's first command": () =>
    fakeServer({ greetAfterMs: 100, onAccept: MARIADB_GREETING, onCommand: () => "close" }),
  // A RESP2 client sends no HELLO: then the PING after the handshake is what this one refuses.
  "HELLO refused with an error": () =>
    fakeServer({
      onCommand: ([name]) => name === "HELLO" ? "-ERR HELLO is disabled here\r\n" : "-ERR unknown command\r\n",
    }),
  "AUTH refused with an error": () =>
    fakeServer({
      password: "fake-server-pw",
      onCommand: ([name]) =>
        name === "HELLO"
          ? "-NOPROTO sorry, this protocol version is not supported\r\n"
          : name === "AUTH"
          ? "-ERR internal error while checking the password\r\n"
          : "+PONG\r\n",
    }),
};

/** A TCP proxy in front of a real server that can slip bytes into what the clients receive. */
export interface FaultProxy extends FakeServer {
  /** Sends `bytes` to every client connected now, as if the server had sent them. */
  inject(bytes: Uint8Array | string): Promise<void>;
  /** How many commands were sent as the proxy's `rewrite` said instead of as the client sent them. */
  readonly rewritten: number;
  /**
   * The next bytes a server sends back (on any connection) are not passed on: that connection is closed instead.
   * What the client sent was carried out, and it never hears so. Resolves once a reply was lost.
   */
  loseNextReply(): Promise<void>;
  /**
   * Closes every connection, and sends the ones accepted from now on to `127.0.0.1:port`: another server taking
   * over the address (as a promoted replica behind a fixed address would).
   */
  retarget(port: number): void;
  /**
   * Damages the next reply that carries `text`, on whichever connection: it
   * reaches its client with that `text` replaced by `damaged` (as long), as
   * from a server that wrote a wrong byte; everything else passes unchanged.
   * The text is looked for in each piece as read from the server (a reply of
   * a few hundred bytes arrives whole on loopback).
   *
   * @param text what to look for, e.g. the end of one entry's payload
   * @param damaged what the client gets instead
   * @param options `thenClose`: close every connection right after that reply, as a server that went away
   * @returns resolves once the damaged reply has been sent
   */
  damageOnce(text: string, damaged: string, options?: { thenClose?: boolean }): Promise<void>;
  /** From now on every piece a server sends back waits `ms` before it is passed on: a server slow to answer. */
  slowReplies(ms: number): void;
}

/** A one-time rewrite armed by {@linkcode FaultProxy.damageOnce}. */
interface Damage {
  text: Uint8Array;
  damaged: Uint8Array;
  thenClose: boolean;
  done: () => void;
}

/**
 * Sends the server another command in place of one a client sent: given the client's command (its words, the first
 * upper-cased), the words to send instead, or undefined to pass it on as it is. The server's answer to the command
 * sent comes back in its place, in order: e.g. `["GET", "no-such-key"]` makes a real server answer a null there.
 */
export type Rewrite = (words: string[]) => string[] | undefined;

/**
 * Starts a proxy on 127.0.0.1 that forwards both ways to `127.0.0.1:port`.
 *
 * @param port the real server's port
 * @param rewrite what to send the server instead of some of the clients' commands (default: nothing changed)
 * @returns the proxy
 */
export function faultProxy(port: number, rewrite?: Rewrite): FaultProxy {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const clients = new Set<Deno.Conn>();
  const open = new Set<Deno.Conn>();
  const pairs = new Set<[Deno.Conn, Deno.Conn]>();
  const loops: Promise<void>[] = [];
  const counter = acceptCounter();
  let rewritten = 0;
  const counted: Rewrite | undefined = rewrite && ((words) => {
    const instead = rewrite(words);
    if (instead) rewritten++;
    return instead;
  });
  let target = port;
  let lose: (() => void) | undefined;
  const closeBoth = (a: Deno.Conn, b: Deno.Conn) => {
    for (const c of [a, b]) if (open.delete(c)) c.close();
    clients.delete(a);
  };
  let damage: Damage | undefined;
  let replyDelayMs = 0;
  /** Damaged pieces not yet sent, with their damage. */
  const applied = new WeakMap<Uint8Array, Damage>();
  /** What a piece read from the server becomes: damaged when it holds the armed text (once). */
  const damageIn = (piece: Uint8Array): Uint8Array => {
    const at = damage ? indexOf(piece, damage.text) : -1;
    if (at < 0) return piece;
    const copy = piece.slice();
    copy.set(damage!.damaged, at);
    applied.set(copy, damage!);
    damage = undefined;
    return copy;
  };
  /** After a piece was sent: a damaged one settles its damage, closing everything when asked. */
  const sent = (out: Uint8Array) => {
    const damaged = applied.get(out);
    if (!damaged) return;
    if (damaged.thenClose) {
      for (const c of open) c.close();
      open.clear();
    }
    damaged.done();
  };
  const accepting = (async () => {
    for await (const client of listener) {
      counter.add();
      open.add(client);
      let server: Deno.Conn;
      try {
        server = await Deno.connect({ hostname: "127.0.0.1", port: target });
      } catch {
        closeBoth(client, client);
        continue;
      }
      open.add(server);
      clients.add(client);
      const pair: [Deno.Conn, Deno.Conn] = [client, server];
      pairs.add(pair);
      const losing = () => {
        if (!lose) return false;
        closeBoth(client, server);
        lose();
        lose = undefined;
        return true;
      };
      loops.push(
        Promise.all([
          counted ? copyRewriting(client, server, counted) : copy(client, server),
          copy(server, client, { drop: losing, change: damageIn, sent, delayMs: () => replyDelayMs }),
        ]).then(() => {
          pairs.delete(pair);
          closeBoth(client, server);
        }),
      );
    }
  })();
  const proxyPort = (listener.addr as Deno.NetAddr).port;
  return {
    port: proxyPort,
    url: `redis://127.0.0.1:${proxyPort}`,
    accepted: counter.accepted,
    get rewritten() {
      return rewritten;
    },
    inject: async (bytes) => {
      // Only the connections open now: a client that reconnects meanwhile gets a clean one.
      for (const c of [...clients]) await send(c, bytes);
    },
    loseNextReply: () => {
      const { promise, resolve } = Promise.withResolvers<void>();
      lose = resolve;
      return promise;
    },
    retarget: (to) => {
      target = to;
      for (const [client, server] of pairs) closeBoth(client, server);
    },
    damageOnce: (text, damaged, options = {}) => {
      const [t, d] = [encoder.encode(text), encoder.encode(damaged)];
      if (t.length !== d.length || t.length === 0) {
        throw new RangeError("damageOnce needs two texts of the same length");
      }
      const { promise, resolve } = Promise.withResolvers<void>();
      damage = { text: t, damaged: d, thenClose: options.thenClose ?? false, done: resolve };
      return promise;
    },
    slowReplies: (ms) => {
      replyDelayMs = ms;
    },
    [Symbol.asyncDispose]: async () => {
      listener.close();
      await accepting.catch(() => {});
      for (const c of open) c.close();
      open.clear();
      await Promise.all(loops);
    },
  };
}

/**
 * Copies `from` to `to` until either side ends, or until `drop` (which closes both) says that what was just read is
 * dropped; then ends both. Each piece read goes through `change` first, and `sent` is told once it is written.
 */
async function copy(
  from: Deno.Conn,
  to: Deno.Conn,
  how: {
    drop?: () => boolean;
    change?: (piece: Uint8Array) => Uint8Array;
    sent?: (out: Uint8Array) => void;
    delayMs?: () => number;
  } = {},
): Promise<void> {
  const buf = new Uint8Array(64 * 1024);
  try {
    for (let n = await from.read(buf); n !== null; n = await from.read(buf)) {
      if (how.drop?.()) return;
      const ms = how.delayMs?.() ?? 0;
      const piece = ms ? buf.slice(0, n) : buf.subarray(0, n);
      if (ms) await new Promise((resolve) => setTimeout(resolve, ms));
      const out = how.change?.(piece) ?? piece;
      for (let off = 0; off < out.length;) off += await to.write(out.subarray(off));
      how.sent?.(out);
    }
  } catch {
    // either side closed
  }
  await to.closeWrite().catch(() => {}); // already closed
}

/** Copies the commands `from` sends to `to`, each as it is or as `rewrite` says, until either side ends. */
async function copyRewriting(from: Deno.Conn, to: Deno.Conn, rewrite: Rewrite): Promise<void> {
  const buf = new Uint8Array(64 * 1024);
  const latin1 = new TextDecoder("latin1"); // one character per byte: lengths in the text are lengths in bytes
  let pending = new Uint8Array(0);
  try {
    for (let n = await from.read(buf); n !== null; n = await from.read(buf)) {
      const joined = new Uint8Array(pending.length + n);
      joined.set(pending);
      joined.set(buf.subarray(0, n), pending.length);
      const text = latin1.decode(joined);
      let at = 0;
      for (let cmd = takeCommand(text); cmd; cmd = takeCommand(text.slice(at))) {
        const instead = rewrite(cmd.words);
        const bytes = instead ? encodeCommand(instead) : joined.subarray(at, at + cmd.used);
        for (let off = 0; off < bytes.length;) off += await to.write(bytes.subarray(off));
        at += cmd.used;
      }
      pending = joined.slice(at);
    }
  } catch {
    // either side closed
  }
  await to.closeWrite().catch(() => {}); // already closed
}

/** A command as a client sends it: an array of bulk strings. */
function encodeCommand(words: string[]): Uint8Array {
  const parts = words.map((w) => encoder.encode(w));
  const chunks = [
    encoder.encode(`*${parts.length}\r\n`),
    ...parts.flatMap((p) => [encoder.encode(`$${p.length}\r\n`), p, encoder.encode("\r\n")]),
  ];
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}

/** Where `needle` first occurs in `hay`, or -1. */
function indexOf(hay: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= hay.length; i++) {
    for (let j = 0; j < needle.length; j++) if (hay[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}
