#!/usr/bin/env -S deno run -A
/**
 * Lab 3's writer (the seed's "Python01"): writes `shared_key` =
 * `"<name> timestamp <epoch-µs>"`, waits for the listener's handshake —
 * woken by the keyspace notification of the handshake key, not by polling —
 * and prints each round trip, then min / p50 / p99 / max and the timeouts.
 *
 *   deno run -A scripts/keyspace_writer.ts                         # lab 3, terminal 1 (keydb_01)
 *   deno run -A scripts/keyspace_writer.ts --count 50 --interval 0 --json
 *
 * @module
 */
import { type Redis, ReplyError } from "ioredis";
import { COMMON_OPTIONS, runScript, type ScriptSpec } from "../lib/core/cli.ts";
import { CLUSTER_OPTIONS, resolveTarget } from "../lib/cluster/target.ts";
import { ClusterConnection } from "../lib/cluster/cluster_connection.ts";
import { slotOf, type SlotOwners } from "../lib/cluster/topology.ts";
import { NotifyingNode } from "../lib/keyspace/node_listeners.ts";
import { Connection } from "../lib/core/client.ts";
import { chooseDb, redactUrl, urlForDb } from "../lib/core/config.ts";
import { ExitCode, UsageError } from "../lib/core/exit_codes.ts";
import {
  HANDSHAKE_COPY_BYTES,
  HANDSHAKE_KEY,
  HANDSHAKE_NOTIFY_FLAGS,
  HandshakeWatcher,
  LAB_KEY,
  type SeenHandshake,
} from "../lib/keyspace/handshake.ts";
import { formatLatency, formatMs, roundMs, summarizeLatency } from "../lib/core/latency.ts";
import { answerWithin, NoAnswerError } from "../lib/core/no_answer.ts";
import { ensureNotifications, NotifyChanges } from "../lib/keyspace/notifications.ts";
import { defaultIo, type Io, Printer, Reporter } from "../lib/core/output.ts";
import { onShutdown } from "../lib/core/shutdown.ts";
import { delay, whenAborted } from "../lib/core/timing.ts";
import { toSeconds } from "../lib/core/json_event.ts";

const SPEC: ScriptSpec = {
  name: "keyspace_writer.ts",
  summary: "write a timestamped key, wait for the listener's handshake, and measure the round trips.",
  usage: ["[--count N] [--interval DURATION] [--timeout DURATION] [--key KEY] [--handshake-key KEY] [--json]"],
  options: {
    count: { type: "string", short: "n", arg: "N", help: "rounds to run (default: 10)" },
    interval: { type: "string", short: "i", arg: "DURATION", help: "pause between rounds (default: 1s; 0 for none)" },
    timeout: {
      type: "string",
      short: "t",
      arg: "DURATION",
      help: "how long each round waits for its handshake (default: 5s)",
    },
    key: { type: "string", short: "k", arg: "KEY", help: `key to write (default: ${LAB_KEY})` },
    "handshake-key": {
      type: "string",
      arg: "KEY",
      help: `key the listener acknowledges on (default: ${HANDSHAKE_KEY})`,
    },
    name: { type: "string", arg: "NAME", help: "name at the start of each value (default: writer)" },
    db: { type: "string", arg: "N", help: "database number (default: the URL's, else 0)" },
    config: {
      type: "boolean",
      negatable: true,
      help: "turn on missing notify-keyspace-events letters (default: on; --no-config changes nothing)",
    },
    "restore-config": {
      type: "boolean",
      help: "at exit, put back the notify-keyspace-events value found (if nobody changed it since)",
    },
    ...COMMON_OPTIONS,
    ...CLUSTER_OPTIONS,
  },
  examples: [
    "deno run -A scripts/keyspace_writer.ts                          # lab 3: keydb_01 on localhost:6379",
    "deno run -A scripts/keyspace_writer.ts --count 100 --interval 0  # measure 100 handshakes back to back",
    "deno run -A scripts/keyspace_writer.ts --name Python01 --key shared_key --timeout 2s",
    "deno run -A scripts/keyspace_writer.ts --json | jq -c 'select(.event == \"summary\")'",
    "deno run -A scripts/keyspace_writer.ts --url redis://127.0.0.1:7000 --cluster   # the keys on different masters",
  ],
};

/**
 * Runs the keyspace writer.
 *
 * @param args command-line arguments
 * @param io output streams and an optional stop signal
 * @returns the exit code: 0; 1 when the server was unavailable for every round; 4 when no handshake arrived at all
 */
export function main(args: string[], io: Io = defaultIo()): Promise<number> {
  return runScript(SPEC, args, io, async (flags) => {
    const target = resolveTarget(flags.list("url"), flags.boolean("cluster"));
    const dbFlag = flags.int("db", { min: 0 });
    if (target.cluster && dbFlag !== undefined && dbFlag !== 0) {
      throw new UsageError("--db must be 0 with --cluster: a cluster has only database 0");
    }
    const db = target.cluster ? 0 : chooseDb(dbFlag, target.url);
    const count = flags.int("count", { min: 1 }) ?? 10;
    const intervalMs = flags.duration("interval") ?? 1000;
    const timeoutMs = flags.duration("timeout") ?? 5000;
    if (timeoutMs <= 0) throw new UsageError("--timeout must be more than 0");
    const key = flags.string("key") ?? LAB_KEY;
    const handshakeKey = flags.string("handshake-key") ?? HANDSHAKE_KEY;
    if (key === "" || handshakeKey === "") throw new UsageError("--key and --handshake-key must not be empty");
    if (key === handshakeKey) throw new UsageError(`--key and --handshake-key must differ (both are "${key}")`);
    const name = flags.string("name") ?? "writer";
    const longest = HANDSHAKE_COPY_BYTES - new TextEncoder().encode(" timestamp 0000000000000000").length;
    if (new TextEncoder().encode(name).length > longest) {
      // The listener copies the value's first bytes into its handshake: the round's value must fit in them.
      throw new UsageError(
        `--name must be at most ${longest} bytes (the handshake carries the first ${HANDSHAKE_COPY_BYTES})`,
      );
    }
    const json = flags.boolean("json");
    const out = new Printer(io.stdout);
    const status = new Reporter(io.stderr);

    using shutdown = onShutdown(io.signal);
    const setup: Setup = {
      db,
      handshakeKey,
      change: flags.enabled("config"),
      restore: flags.boolean("restore-config"),
      status,
      signal: shutdown.signal,
    };
    await using side = target.cluster
      ? await ClusterSide.open(setup, target.urls)
      : await SingleSide.open(setup, target.url);
    status.info(
      `Writing ${key} on ${side.where(key)}, ${count} time(s) ${
        intervalMs ? `every ${intervalMs / 1000} s` : "back to back"
      }; ` +
        `each round waits up to ${timeoutMs / 1000} s for ${handshakeKey}${side.watching()}. Press Ctrl+C to stop.`,
    );
    const rounds = new Rounds(out, json);
    let lastStamp = 0;
    for (let n = 1; n <= count && !shutdown.signal.aborted; n++) {
      // No timer at all for --interval 0: even setTimeout(0) waits a millisecond, and every process falls idle.
      if (n > 1 && intervalMs > 0) await delay(intervalMs, shutdown.signal);
      if (shutdown.signal.aborted) break;
      // Epoch µs: one value per round, never repeated, without waiting for the next millisecond between rounds
      // (a wait that lets every process fall idle and doubles the round trip: tests/bench/handshake.ts).
      const stamp = lastStamp = Math.max(epochMicros(), lastStamp + 1);
      const value = `${name} timestamp ${stamp}`;
      const round = new AbortController();
      const waiting = side.watcher.wait(value, timeoutMs, AbortSignal.any([shutdown.signal, round.signal]));
      const sentAt = performance.now();
      const written = await Promise.race([
        answerWithin(side.set(key, value), timeoutMs, "SET").then(() => undefined, (err: Error) => err),
        whenAborted(shutdown.signal).then(() => undefined),
      ]);
      if (shutdown.signal.aborted) break;
      if (written) {
        round.abort();
        await waiting;
        // A server's error reply is a failed write; no reply (down, or not answering) skips the round.
        const reason = written instanceof NoAnswerError || side.ready ? written.message : "not connected";
        if (written instanceof ReplyError) rounds.failed(n, value, written.message);
        else rounds.unavailable(n, value, reason);
        continue;
      }
      const seen = await waiting;
      if (seen) rounds.handshake(n, value, stamp, sentAt, seen);
      else if (!shutdown.signal.aborted) rounds.timedOut(n, value, timeoutMs);
    }
    rounds.summary(side.outageFields());
    if (rounds.total > 0 && rounds.skipped === rounds.total && !shutdown.signal.aborted) {
      status.error(
        `The server at ${side.address} was unavailable for every round: no write got through. ` +
          "Check that it is running and answering (deno run -A scripts/ping.ts), then run the writer again.",
      );
      return ExitCode.Failure;
    }
    if (rounds.total > 0 && rounds.times.length === 0 && !shutdown.signal.aborted) {
      status.warn(
        `No handshake arrived on ${handshakeKey}. Is keyspace_listener.ts running against a node that sees ` +
          `writes to ${side.address}, and writing its handshake where this writer can see it?`,
      );
      return ExitCode.Timeout;
    }
    return ExitCode.Ok;
  });
}

/** What the writer's connections need to know. */
interface Setup {
  db: number;
  handshakeKey: string;
  change: boolean;
  restore: boolean;
  status: Reporter;
  signal: AbortSignal;
}

/** The outage fields of the writer's summary. */
interface OutageCounts {
  outages: number;
  disconnected_seconds: number;
  topology_changes?: number;
}

/** Where the writer writes and watches: one server, or a cluster. */
interface Side extends AsyncDisposable {
  /** The server (or cluster), password hidden. */
  readonly address: string;
  /** Waits for the handshakes. */
  readonly watcher: HandshakeWatcher;
  /** Whether a write can go out now. */
  readonly ready: boolean;
  /** Writes one round's value. */
  set(key: string, value: string): Promise<unknown>;
  /** Where `key` is written, for the first line. */
  where(key: string): string;
  /** Where the handshake key is watched, when it is another place than where the key is written. */
  watching(): string;
  /** The summary's outage counts. */
  outageFields(): OutageCounts;
}

const LOSS_NOTE = "Rounds until it is back are skipped or time out.";

/** One server: the key and the handshake key live on it. */
class SingleSide implements Side {
  private constructor(
    private readonly setup: Setup,
    private readonly url: string,
    private readonly cmd: Connection,
    private readonly changes: NotifyChanges,
    private readonly sub: Connection,
    readonly watcher: HandshakeWatcher,
  ) {}

  static async open(setup: Setup, url: string): Promise<SingleSide> {
    const { db, status, signal } = setup;
    const cmd = await Connection.open({ url: urlForDb(url, db), reporter: status, signal });
    const changes = new NotifyChanges();
    let sub: Connection | undefined;
    try {
      const ensure = () =>
        ensureNotifications({
          redis: cmd.redis,
          url,
          db,
          needed: HANDSHAKE_NOTIFY_FLAGS, // the watcher subscribes to the handshake key's keyspace channel
          change: setup.change,
          reporter: status,
          address: redactUrl(url),
          changes,
        });
      await ensure();
      // A restarted server may have lost the setting: check again once both connections are back.
      const ensureAgain = () =>
        whenReady(cmd.redis).then(ensure).catch((err) =>
          status.warn(`Could not check notify-keyspace-events again: ${(err as Error).message.split("\n")[0]}`)
        );
      sub = await Connection.open({
        url,
        reporter: status,
        lossNote: LOSS_NOTE,
        onRestored: () => void ensureAgain(),
        signal,
      });
      const watcher = await HandshakeWatcher.start({ sub: sub.redis, read: cmd.redis, db, key: setup.handshakeKey });
      return new SingleSide(setup, url, cmd, changes, sub, watcher);
    } catch (err) {
      await changes.settle({ redis: cmd.redis, restore: setup.restore, reporter: status, address: redactUrl(url) });
      await sub?.close();
      await cmd.close();
      throw err;
    }
  }

  get address(): string {
    return this.sub.address;
  }

  get ready(): boolean {
    return this.cmd.ready;
  }

  set(key: string, value: string): Promise<unknown> {
    return this.cmd.redis.set(key, value);
  }

  where(): string {
    return `${this.sub.address} db ${this.setup.db}`;
  }

  watching(): string {
    return "";
  }

  outageFields(): OutageCounts {
    return { outages: this.sub.outages, disconnected_seconds: toSeconds(this.sub.downMs) };
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.watcher[Symbol.asyncDispose]().catch(() => {});
    const { restore, status } = this.setup;
    await this.changes.settle({ redis: this.cmd.redis, restore, reporter: status, address: redactUrl(this.url) });
    await this.sub.close();
    await this.cmd.close();
  }
}

/**
 * A cluster: writes and reads go through the cluster client; the handshake
 * key's notifications are watched on the master that owns it, followed to
 * its new master after a failover.
 */
class ClusterSide implements Side {
  #node: NotifyingNode;
  #sub: Connection;
  /** Every watch connection so far, for the outage counts. */
  readonly #subs: Connection[] = [];
  #following: Promise<void> = Promise.resolve();
  #untrack: () => void = () => {};

  private constructor(
    private readonly setup: Setup,
    private readonly conn: ClusterConnection,
    node: NotifyingNode,
    sub: Connection,
    readonly watcher: HandshakeWatcher,
  ) {
    this.#node = node;
    this.#sub = sub;
    this.#subs.push(sub);
  }

  static async open(setup: Setup, urls: string[]): Promise<ClusterSide> {
    const conn = await ClusterConnection.open({
      urls,
      reporter: setup.status,
      signal: setup.signal,
      lossNote: LOSS_NOTE,
    });
    try {
      const owner = conn.owners[slotOf(setup.handshakeKey)] ?? "";
      const [node, sub] = await ClusterSide.#watchOn(setup, conn, owner);
      try {
        const watcher = await HandshakeWatcher.start({
          sub: sub.redis,
          read: conn.cluster,
          db: 0,
          key: setup.handshakeKey,
        });
        const side = new ClusterSide(setup, conn, node, sub, watcher);
        side.#untrack = conn.onTopologyChange((owners) => {
          side.#following = side.#following.then(() => side.#follow(owners));
        });
        return side;
      } catch (err) {
        await sub.close();
        await node.close(setup.restore);
        throw err;
      }
    } catch (err) {
      await conn.close();
      throw err;
    }
  }

  /** A checked command connection and a subscriber connection on `owner`. */
  static async #watchOn(setup: Setup, conn: ClusterConnection, owner: string): Promise<[NotifyingNode, Connection]> {
    const { status, signal } = setup;
    const node = await NotifyingNode.open({
      conn,
      node: owner,
      needed: HANDSHAKE_NOTIFY_FLAGS,
      change: setup.change,
      reporter: status,
      signal,
    });
    try {
      const sub = await Connection.open({
        url: node.url,
        reporter: status,
        lossNote: LOSS_NOTE,
        clusterNode: true,
        onRestored: () =>
          void node.ensure().catch((err) =>
            status.warn(`Could not check notify-keyspace-events again: ${(err as Error).message.split("\n")[0]}`)
          ),
        signal,
      });
      return [node, sub];
    } catch (err) {
      await node.close(setup.restore);
      throw err;
    }
  }

  /** The handshake key's slot moved (a failover, a resharding): watch it on its new master. */
  async #follow(owners: SlotOwners): Promise<void> {
    const owner = owners[slotOf(this.setup.handshakeKey)] ?? "";
    const old = this.#node.node;
    if (owner === "" || owner === old) return;
    const { status } = this.setup;
    try {
      const [node, sub] = await ClusterSide.#watchOn(this.setup, this.conn, owner);
      await this.watcher.moveTo(sub.redis);
      const [oldNode, oldSub] = [this.#node, this.#sub];
      [this.#node, this.#sub] = [node, sub];
      this.#subs.push(sub);
      status.ok(
        `Watching ${this.setup.handshakeKey} on ${owner} now (its slot moved from ${old}); ` +
          "a handshake written while it moved may have been missed (that round times out).",
      );
      await oldSub.close();
      await oldNode.close(this.setup.restore);
    } catch (err) {
      status.warn(
        `Could not watch ${this.setup.handshakeKey} on its new master ${owner} ` +
          `(${(err as Error).message.split("\n")[0]}): rounds time out until it can be watched.`,
      );
    }
  }

  get address(): string {
    return this.conn.address;
  }

  get ready(): boolean {
    return this.conn.ready;
  }

  set(key: string, value: string): Promise<unknown> {
    return this.conn.cluster.set(key, value);
  }

  where(key: string): string {
    return `${this.conn.address} (its master ${this.conn.owners[slotOf(key)] || "none"})`;
  }

  watching(): string {
    return ` on ${this.#node.node}`;
  }

  outageFields(): OutageCounts {
    const downMs = this.#subs.reduce((t, s) => t + s.downMs, 0);
    return {
      outages: this.conn.outages,
      disconnected_seconds: toSeconds(downMs),
      topology_changes: this.conn.topologyChanges,
    };
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.#untrack();
    await this.#following;
    await this.watcher[Symbol.asyncDispose]().catch(() => {});
    await this.#sub.close();
    await this.#node.close(this.setup.restore);
    await this.conn.close();
  }
}

/** Now in whole epoch microseconds. */
function epochMicros(): number {
  return Math.floor((performance.timeOrigin + performance.now()) * 1000);
}

/** Resolves when the client is connected (at once if it is). */
function whenReady(redis: Redis): Promise<void> {
  return redis.status === "ready" ? Promise.resolve() : new Promise((resolve) => redis.once("ready", () => resolve()));
}

/** The rounds so far, printed as they finish. */
class Rounds {
  readonly times: number[] = [];
  total = 0;
  timeouts = 0;
  failures = 0;
  skipped = 0;
  readonly startedAt = performance.now();

  constructor(private readonly out: Printer, private readonly json: boolean) {}

  handshake(n: number, value: string, stamp: number, sentAt: number, seen: SeenHandshake): void {
    this.total++;
    const ms = seen.arrivedAt - sentAt;
    this.times.push(ms);
    const listenerDelay = seen.listenerMs === undefined ? undefined : seen.listenerMs - Math.floor(stamp / 1000);
    if (this.json) {
      this.out.event("round", {
        n,
        value,
        outcome: "handshake",
        round_trip_ms: roundMs(ms),
        ...(listenerDelay !== undefined ? { listener_delay_ms: listenerDelay } : {}),
      });
      return;
    }
    const woke = listenerDelay === undefined ? "" : this.out.dim(` (listener answered after ${listenerDelay} ms)`);
    this.out.line(`#${n} ${value} → handshake in ${this.out.green(formatMs(ms))}${woke}`);
  }

  timedOut(n: number, value: string, timeoutMs: number): void {
    this.total++;
    this.timeouts++;
    if (this.json) this.out.event("round", { n, value, outcome: "timeout" });
    else this.out.line(`#${n} ${value} → ${this.out.yellow(`no handshake within ${timeoutMs / 1000} s`)}`);
  }

  failed(n: number, value: string, reason: string): void {
    this.total++;
    this.failures++;
    if (this.json) this.out.event("round", { n, value, outcome: "write_error", error: reason });
    else this.out.line(`#${n} ${value} → ${this.out.red(`write failed: ${reason}`)}`);
  }

  /** The write did not get through: the connection is down or the server did not answer in time. */
  unavailable(n: number, value: string, reason: string): void {
    this.total++;
    this.skipped++;
    if (this.json) this.out.event("round", { n, value, outcome: "skipped", error: reason });
    else this.out.line(`#${n} ${value} → ${this.out.yellow(`server unavailable, round skipped (${reason})`)}`);
  }

  summary(outages: OutageCounts): void {
    const s = summarizeLatency(this.times);
    if (this.json) {
      this.out.event("summary", {
        rounds: this.total,
        handshakes: s.count,
        timeouts: this.timeouts,
        write_errors: this.failures,
        skipped: this.skipped,
        min_ms: roundMs(s.min),
        p50_ms: roundMs(s.p50),
        p99_ms: roundMs(s.p99),
        max_ms: roundMs(s.max),
        seconds: toSeconds(performance.now() - this.startedAt),
        ...outages,
      });
      return;
    }
    const failed = (this.skipped ? `, ${this.skipped} skipped (server unavailable)` : "") +
      (this.failures ? `, ${this.failures} write(s) failed` : "");
    this.out.line(
      `${s.count} handshake(s) in ${this.total} round(s): ${formatLatency(s)} · ${this.timeouts} timed out${failed}.`,
    );
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
