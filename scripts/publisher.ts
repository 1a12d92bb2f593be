#!/usr/bin/env -S deno run -A
/**
 * Lab 1's publisher: plays the lab's demo, publishes one message, every
 * line of stdin, or a templated series at a chosen rate — and says how many
 * subscribers received each message.
 *
 *   deno run -A scripts/publisher.ts                       # the lab's six messages
 *   deno run -A scripts/publisher.ts chat:general "hello"
 *   deno run -A scripts/publisher.ts bench 'msg {{n}}' --repeat 100000 --quiet
 *   deno run -A scripts/publisher.ts --cluster --url redis://127.0.0.1:7000 --sharded orders "hi"   # lab 7
 *
 * @module
 */
import { COMMON_OPTIONS, type Flags, runScript, type ScriptSpec } from "../lib/core/cli.ts";
import { commandLostConnection, Connection } from "../lib/core/client.ts";
import { CLUSTER_OPTIONS, resolveTarget } from "../lib/cluster/target.ts";
import { ClusterConnection } from "../lib/cluster/cluster_connection.ts";
import { slotOf } from "../lib/cluster/topology.ts";
import { noShardedPubSub, shardedUnsupported, spublishSender } from "../lib/pubsub/sharded.ts";
import { clusterOutage } from "../lib/cluster/failover_retry.ts";
import { demoMessages } from "../lib/pubsub/demo_messages.ts";
import { ExitCode, UsageError } from "../lib/core/exit_codes.ts";
import { compileTemplate } from "../lib/pubsub/message_template.ts";
import { defaultIo, escapeControl, type Io, Printer, Reporter, showPayload } from "../lib/core/output.ts";
import {
  type Client,
  type Delivery,
  type Outgoing,
  type Published,
  publishSender,
  publishSeries,
  type SeriesResult,
} from "../lib/pubsub/publish.ts";
import { PublishLane } from "../lib/pubsub/publish_lane.ts";
import { appendSender } from "../lib/streams/stream_publisher.ts";
import { type AppendRecovery, IdempotentAppender, RECHECKED } from "../lib/streams/idempotent_append.ts";
import { onShutdown } from "../lib/core/shutdown.ts";
import { formatNumber, MessageCounter } from "../lib/core/stats.ts";
import { flowRate, toSeconds } from "../lib/core/json_event.ts";
import { readLines } from "../lib/pubsub/stdin_lines.ts";
import { delay } from "../lib/core/timing.ts";

const SPEC: ScriptSpec = {
  name: "publisher.ts",
  summary: "publish messages and show how many subscribers received each one.",
  usage: [
    "                                   # the lab's demo: six messages",
    "CHANNEL MESSAGE                    # one message",
    "CHANNEL --stdin                    # one message per input line",
    "CHANNEL TEMPLATE --repeat N [--rate R | --interval DURATION] [--retry DURATION]",
    "--stream CHANNEL ...               # any of the above, appended to a stream (XADD) instead",
    "--sharded CHANNEL ...              # any of the above, published with SPUBLISH (sharded pub/sub)",
    "--cluster --url SEED ...           # any of the above on a Redis/Valkey cluster",
  ],
  positionals: true,
  options: {
    stdin: { type: "boolean", help: "publish each line read from standard input (empty lines are skipped)" },
    repeat: { type: "string", arg: "N", help: "publish the message N times; {{n}}, {{ts}}, {{iso}} are filled in" },
    rate: { type: "string", arg: "R", help: "at most R messages per second (with --repeat)" },
    interval: {
      type: "string",
      arg: "DURATION",
      help: "pause between messages (--repeat, or the demo's pauses; default 0.5–1.5 s there)",
    },
    retry: {
      type: "string",
      arg: "DURATION",
      help: "with --repeat: when the server goes away, wait this long for it and carry on (default: stop at once)",
    },
    quiet: { type: "boolean", short: "q", help: "print only the summary, not each message" },
    stream: {
      type: "boolean",
      help: "append to the stream CHANNEL (XADD, field payload) instead of publishing: kept for later readers",
    },
    sharded: {
      type: "boolean",
      help: "publish with SPUBLISH (sharded pub/sub, Redis >= 7 or Valkey): on a cluster it stays on its slot's shard",
    },
    ...COMMON_OPTIONS,
    ...CLUSTER_OPTIONS,
  },
  examples: [
    "deno run -A scripts/publisher.ts                                  # lab 1's demo",
    'deno run -A scripts/publisher.ts chat:general "Hello, team!"',
    "printf 'a\\nb\\n' | deno run -A scripts/publisher.ts news --stdin",
    "deno run -A scripts/publisher.ts ticks 'tick {{n}} at {{iso}}' --repeat 10 --interval 1s",
    "deno run -A scripts/publisher.ts bench 'msg {{n}} {{ts}}' --repeat 100000 --quiet",
    `deno run -A scripts/publisher.ts --stream key_submission '{"event_type":"key_submitted","timestamp":"{{iso}}","key_value":"k{{n}}"}' --repeat 1000`,
    "deno run -A scripts/publisher.ts ticks 'tick {{n}}' --repeat 600 --interval 1s --retry 30s",
    "deno run -A scripts/publisher.ts --cluster --url redis://127.0.0.1:7000 --sharded orders 'o {{n}}' --repeat 100",
  ],
};

type Mode =
  | { kind: "demo"; intervalMs?: number }
  | { kind: "one"; message: Outgoing }
  | { kind: "stdin"; channel: string }
  | {
    kind: "repeat";
    channel: string;
    template: string;
    count: number;
    rate?: number;
    intervalMs?: number;
    retryMs?: number;
  };

function chooseMode(flags: Flags): Mode {
  const [channel, message, ...extra] = flags.positionals;
  const repeat = flags.int("repeat", { min: 1 });
  const rate = flags.number("rate", { min: 0.001 });
  const intervalMs = flags.duration("interval");
  const retryMs = flags.duration("retry");
  if (retryMs !== undefined && repeat === undefined) throw new UsageError("--retry goes with --repeat N");
  if (retryMs !== undefined && retryMs <= 0) throw new UsageError("--retry must be more than 0, e.g. 30s");
  if (extra.length > 0) throw new UsageError(`Unexpected argument "${extra[0]}": quote a message that has spaces`);
  if (rate !== undefined && intervalMs !== undefined) throw new UsageError("Use --rate or --interval, not both");
  if (rate !== undefined && repeat === undefined) throw new UsageError("--rate goes with --repeat N");
  if (intervalMs !== undefined && (flags.boolean("stdin") || (message !== undefined && repeat === undefined))) {
    throw new UsageError("--interval goes with --repeat N or the demo (no arguments)");
  }
  if (flags.boolean("stdin")) {
    if (channel === undefined) throw new UsageError("--stdin needs a CHANNEL to publish to");
    if (message !== undefined || repeat !== undefined) {
      throw new UsageError("--stdin takes the messages from standard input: give only a CHANNEL");
    }
    return { kind: "stdin", channel };
  }
  if (repeat !== undefined) {
    if (channel === undefined || message === undefined) throw new UsageError("--repeat needs a CHANNEL and a MESSAGE");
    return { kind: "repeat", channel, template: message, count: repeat, rate, intervalMs, retryMs };
  }
  if (channel === undefined) return { kind: "demo", intervalMs };
  if (message === undefined) {
    throw new UsageError(`Missing MESSAGE after channel "${channel}" (or use --stdin to read messages)`);
  }
  return { kind: "one", message: { channel, payload: message } };
}

/**
 * Runs the publisher.
 *
 * @param args command-line arguments
 * @param io output streams, an optional stop signal, and standard input
 * @returns the exit code
 */
export function main(args: string[], io: Io & { stdin?: ReadableStream<Uint8Array> } = defaultIo()): Promise<number> {
  return runScript(SPEC, args, io, async (flags) => {
    const mode = chooseMode(flags);
    const json = flags.boolean("json");
    const quiet = flags.boolean("quiet");
    const out = new Printer(io.stdout);
    const status = new Reporter(io.stderr);
    const target = resolveTarget(flags.list("url"), flags.boolean("cluster"));
    const stream = flags.boolean("stream");
    const sharded = flags.boolean("sharded");
    if (stream && sharded) throw new UsageError("--stream appends to a stream, --sharded publishes: choose one");
    using shutdown = onShutdown(io.signal);
    const retryMs = mode.kind === "repeat" ? mode.retryMs : undefined;
    const outage = new OutageWait(shutdown.signal, target.cluster);
    const lossNote = retryMs !== undefined
      ? `Publishing waits for it, up to ${retryMs / 1000} s (--retry).`
      : undefined;
    // --stream --retry: what was unconfirmed when the server went away is appended again, never twice.
    const appender = stream && retryMs !== undefined ? new IdempotentAppender() : undefined;
    let conn: Connection | ClusterConnection;
    let client: Client;
    let send;
    /** A series on one server publishes through a socket of its own, encoding PUBLISH itself: see publish_lane.ts. */
    let lane: PublishLane | undefined;
    if (target.cluster) {
      const cluster = await ClusterConnection.open({
        urls: target.urls,
        reporter: status,
        signal: shutdown.signal,
        ...(lossNote ? { lossNote } : {}),
      });
      cluster.onTopologyChange(() => {
        appender?.suspect(); // a replica that took over may lack the last appends
        outage.restored();
      });
      conn = cluster;
      client = cluster.cluster;
      send = stream
        ? appendSender()
        : sharded
        ? spublishSender((channel) => cluster.owners[slotOf(channel)] ?? "")
        : publishSender;
    } else {
      const single = await Connection.open({
        url: target.url,
        reporter: status,
        reconnect: retryMs !== undefined,
        signal: shutdown.signal,
        ...(lossNote ? { lossNote, onRestored: () => outage.restored() } : {}),
      });
      conn = single;
      client = single.redis;
      if (appender) single.redis.on("close", () => appender.suspect()); // the server back may lack the last appends
      send = stream ? appendSender() : sharded ? spublishSender() : publishSender;
      if (mode.kind === "repeat" && !stream && !sharded) {
        lane = new PublishLane(single.redis);
        send = lane.sender;
      }
    }
    if (appender) send = appender.sender;
    // On a cluster a PUBLISH counts the subscribers of the node that took it only: 0 there says nothing.
    const nodeLocalCount = target.cluster && !sharded && !stream;
    const tally = new Tally(stream, nodeLocalCount);
    tally.recovery = appender?.recovery;
    const report = (p: Published) => {
      tally.add(p);
      outage.published();
      if (!quiet) printResult(out, json, p, nodeLocalCount);
      if (!nodeLocalCount && p.receivers === 0 && p.entryId === undefined && tally.unheard === 1) {
        warnUnheard(status, p.channel, mode.kind !== "one" && mode.kind !== "demo");
      }
    };
    try {
      if (mode.kind === "demo") {
        const messages = demoMessages();
        for (const [i, message] of messages.entries()) {
          if (shutdown.signal.aborted) break;
          const [delivery] = await send(client, [message]);
          report({ ...message, n: i + 1, ...delivery! });
          if (i < messages.length - 1) await delay(mode.intervalMs ?? 500 + Math.random() * 1000, shutdown.signal);
        }
      } else if (mode.kind === "one") {
        const [delivery] = await send(client, [mode.message]);
        report({ ...mode.message, n: 1, ...delivery! });
      } else if (mode.kind === "stdin") {
        let n = 0;
        for await (const lines of readLines(io.stdin ?? Deno.stdin.readable, shutdown.signal)) {
          const batch = lines.map((payload) => ({ channel: mode.channel, payload }));
          const deliveries = await send(client, batch);
          batch.forEach((m, i) => report({ ...m, n: ++n, ...deliveries[i]! }));
        }
      } else {
        const template = compileTemplate(mode.template);
        const waitForServer = retryMs === undefined
          ? undefined
          // A command the server refused is no outage: only a lost connection is waited for.
          : (err: Error): Promise<boolean> =>
            conn.ready && !commandLostConnection(err) && !(target.cluster && clusterOutage(err))
              ? Promise.resolve(false)
              : outage.wait(retryMs);
        const reportBatch = (_first: number, batch: readonly Outgoing[], deliveries: readonly Delivery[]) => {
          tally.addBatch(batch, deliveries);
          outage.published();
          if (!nodeLocalCount && tally.unheard > 0 && !warned) {
            warned = true;
            warnUnheard(status, mode.channel, true);
          }
        };
        let warned = false;
        const series = await publishSeries(
          client,
          mode.count,
          (n, at) => ({ channel: mode.channel, payload: template(n, at) }),
          // precise: this process only publishes (its replies wait out a sleep of at most 2.5 ms).
          { rate: mode.rate, intervalMs: mode.intervalMs, precise: true },
          report,
          shutdown.signal,
          // --quiet prints nothing per message: the tally takes whole batches.
          {
            send,
            onFailure: waitForServer,
            resend: appender !== undefined,
            ...(quiet ? { onBatch: reportBatch } : {}),
          },
        );
        if (retryMs !== undefined) tally.series = series;
      }
    } catch (err) {
      if (sharded && noShardedPubSub(err)) throw shardedUnsupported(conn.address, "SPUBLISH");
      if (conn.ready && !commandLostConnection(err) && !(target.cluster && clusterOutage(err))) throw err;
      const server = target.cluster ? "a cluster node" : "the server";
      const why = retryMs === undefined
        ? `${server} went away (--retry DURATION waits for it)`
        : `${server} did not come back within ${retryMs / 1000} s (--retry)`;
      status.error(`Publishing stopped after ${formatNumber(tally.sent)} message(s): ${why}.`);
      return ExitCode.Failure;
    } finally {
      await lane?.close();
      await conn.close();
    }
    tally.print(out, status, json);
    return ExitCode.Ok;
  });
}

function printResult(out: Printer, json: boolean, p: Published, nodeLocalCount: boolean): void {
  if (json) {
    out.event("published", {
      n: p.n,
      channel: p.channel,
      ...showPayload(wireBytes(p.payload)).json,
      ...p.entryId !== undefined ? { entry_id: p.entryId } : { receivers: p.receivers },
      ...p.node !== undefined ? { node: p.node } : {},
    });
    return;
  }
  const body = showPayload(wireBytes(p.payload)).text;
  const who = (p.receivers === 1 ? "1 subscriber" : `${p.receivers} subscribers`) +
    (p.node !== undefined ? ` on ${p.node}` : nodeLocalCount ? " on the node that took it" : "");
  const fate = p.entryId !== undefined ? `appended as ${p.entryId}` : `received by ${who}`;
  out.line(`→ ${out.cyan(escapeControl(p.channel))}: ${body}  ${out.dim(`(${fate})`)}`);
}

/** Says once per run that a message reached nobody, and what that means. */
function warnUnheard(status: Reporter, channel: string, series: boolean): void {
  status.warn(
    `Nobody is subscribed to "${channel}": that message is gone. ` +
      "Pub/sub delivers at most once, only to subscribers connected right now." +
      (series ? " (The summary counts any others.)" : ""),
  );
}

const encoder = new TextEncoder();
function wireBytes(payload: string | Uint8Array): Uint8Array {
  return typeof payload === "string" ? encoder.encode(payload) : payload;
}

/** How often a publisher on a cluster tries again while a node is lost (the slot map may change at any time). */
const CLUSTER_RETRY_MS = 250;

/** Lets a failed publish wait, up to a deadline, for the connection to come back. */
class OutageWait {
  #waiters: (() => void)[] = [];
  /** On a cluster: when publishing began to fail (undefined while it works). */
  #failingSince: number | undefined;

  /**
   * @param stop Ctrl+C
   * @param cluster on a cluster the publish is tried again every {@linkcode CLUSTER_RETRY_MS} until `ms` after the
   *   first failure (a failover moves the slots to another node, a node that comes back moves none)
   */
  constructor(private readonly stop: AbortSignal, private readonly cluster = false) {}

  /** The connection is back (or the slot map changed): wakes every waiter. */
  restored(): void {
    for (const wake of this.#waiters.splice(0)) wake();
  }

  /** A message was published: the outage, if any, is over. */
  published(): void {
    this.#failingSince = undefined;
  }

  /** Resolves true once the connection is back (or on Ctrl+C: the series then ends), false after `ms`. */
  async wait(ms: number): Promise<boolean> {
    if (this.stop.aborted) return true;
    const done = new AbortController();
    const back = new Promise<boolean>((resolve) => this.#waiters.push(() => resolve(true)));
    if (this.cluster) {
      const since = this.#failingSince ??= Date.now();
      const left = since + ms - Date.now();
      if (left <= 0) return false;
      const again = delay(Math.min(CLUSTER_RETRY_MS, left), AbortSignal.any([done.signal, this.stop])).then(() => true);
      try {
        return await Promise.race([back, again]);
      } finally {
        done.abort();
      }
    }
    const late = delay(ms, AbortSignal.any([done.signal, this.stop])).then(() => this.stop.aborted);
    try {
      return await Promise.race([back, late]);
    } finally {
      done.abort();
    }
  }
}

/** Counts what was published and what reached nobody. */
class Tally {
  unheard = 0;
  deliveries = 0;
  appended = 0;
  /** What a series with --retry skipped and delayed (reported only with --retry). */
  series: SeriesResult | undefined;
  /** With --stream --retry: what was appended again after the server went away. */
  recovery: AppendRecovery | undefined;
  readonly startedAt = performance.now();
  /** When the replies came: the rate is over the time messages were flowing. */
  readonly flow = new MessageCounter();

  /**
   * @param stream whether messages are appended (`--stream`): the summary then says how many
   * @param nodeLocalCount PUBLISH on a cluster: receivers are those of the node that took each message only
   */
  constructor(readonly stream: boolean, readonly nodeLocalCount = false) {}

  get sent(): number {
    return this.flow.total;
  }

  add(p: Published): void {
    this.flow.record(p.channel);
    this.deliveries += p.receivers;
    if (p.entryId !== undefined) this.appended++;
    else if (p.receivers === 0) this.unheard++;
  }

  /** Adds a confirmed batch at once: what {@linkcode add} does for each of its messages, with one clock reading. */
  addBatch(batch: readonly Outgoing[], deliveries: readonly Delivery[]): void {
    const at = Date.now();
    let run = 0;
    for (let i = 0; i < batch.length; i++) {
      const d = deliveries[i]!;
      this.deliveries += d.receivers;
      if (d.entryId !== undefined) this.appended++;
      else if (d.receivers === 0) this.unheard++;
      run++;
      const channel = batch[i]!.channel;
      if (i + 1 === batch.length || batch[i + 1]!.channel !== channel) {
        this.flow.recordMany(channel, run, at);
        run = 0;
      }
    }
  }

  print(out: Printer, status: Reporter, json: boolean): void {
    const ms = performance.now() - this.startedAt;
    const seconds = ms / 1000;
    const rate = flowRate(this.sent, this.flow.flowingMs);
    if (this.recovery && this.series) this.#warnRecovery(status, this.recovery, this.series);
    else if (this.series && (this.series.skipped > 0 || this.series.delayed > 0)) {
      status.warn(
        `While the server was away: ${formatNumber(this.series.skipped)} message(s) skipped (sent as it went away, ` +
          `unconfirmed, not sent again so none arrives twice), ${formatNumber(this.series.delayed)} delayed ` +
          "(sent once it was back).",
      );
    }
    if (json) {
      out.event("summary", {
        published: this.sent,
        deliveries: this.deliveries,
        unheard: this.unheard,
        ...(this.stream ? { appended: this.appended } : {}),
        seconds: toSeconds(ms),
        flowing_seconds: toSeconds(this.flow.flowingMs),
        ...(rate !== undefined ? { rate_per_second: rate } : {}),
        ...(this.series ? { skipped: this.series.skipped, delayed: this.series.delayed } : {}),
        ...(this.recovery
          ? {
            sent_again: this.recovery.sentAgain,
            found_appended: this.recovery.foundAppended,
            restored: this.recovery.restored,
          }
          : {}),
      });
      return;
    }
    if (this.sent === 1) return;
    const pace = rate !== undefined ? ` (${formatNumber(rate)}/s)` : "";
    if (this.appended > 0) {
      out.line(`Appended ${formatNumber(this.appended)} message(s) in ${seconds.toFixed(2)} s${pace}.`);
      return;
    }
    out.line(
      `Published ${formatNumber(this.sent)} message(s) in ${seconds.toFixed(2)} s${pace}; ` +
        `${formatNumber(this.deliveries)} deliveries` + (this.nodeLocalCount ? " on the nodes that took them." : "."),
    );
    if (this.unheard > 0 && this.sent > 1 && !this.nodeLocalCount) {
      status.warn(`${formatNumber(this.unheard)} message(s) reached no subscriber and are gone.`);
    }
  }

  /** What --stream --retry did about the server going away: sent again, found, delayed, appended again. */
  #warnRecovery(status: Reporter, r: AppendRecovery, series: SeriesResult): void {
    const away: string[] = [];
    if (r.sentAgain > 0) {
      away.push(
        `${formatNumber(r.sentAgain)} event(s) unconfirmed when it went away were sent again under the same entry ` +
          "ids",
      );
    }
    if (r.foundAppended > 0) {
      away.push(`${formatNumber(r.foundAppended)} found appended already by an earlier try (not appended twice)`);
    }
    if (series.delayed > 0) away.push(`${formatNumber(series.delayed)} delayed (sent once it was back)`);
    if (series.skipped > 0) {
      away.push(
        `${formatNumber(series.skipped)} unconfirmed when you stopped (not sent again: they may or may not be in the ` +
          "stream)",
      );
    }
    if (away.length > 0) status.warn(`While the server was away: ${away.join("; ")}.`);
    if (r.restored > 0) {
      status.warn(
        `The server no longer had ${formatNumber(r.restored)} appended event(s) (a replica took over without them, ` +
          "or it restarted without its data): appended again." +
          (r.restoreIncomplete
            ? ` The oldest of the last ${formatNumber(RECHECKED)} checked was missing too: earlier ones may be as well.`
            : ""),
      );
    }
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
