/**
 * Lab 3's writer at work: each round writes `"<name> timestamp <epoch-µs>"`
 * (or whole epoch seconds, the seed's form, with `seconds`),
 * waits for the listener's handshake — woken by the handshake key's keyspace
 * notification, never by polling — and is printed; at the end, the summary
 * and the exit code. The same path for one server and a cluster: the
 * {@linkcode WriterSide} gives the writes and the watch.
 *
 * @module
 */
import { ReplyError } from "ioredis";
import { ExitCode } from "../core/exit_codes.ts";
import { answerWithin, NoAnswerError } from "../core/no_answer.ts";
import type { Printer } from "../core/output.ts";
import { delay, whenAborted } from "../core/timing.ts";
import { Rounds } from "./rounds.ts";
import { WriterSide, type WriterSideOptions } from "./writer_side.ts";

/** What the writer was asked to do. */
export interface WriteRoundsOptions extends WriterSideOptions {
  /** The key written each round. */
  key: string;
  /** The name at the start of each value. */
  name: string;
  /** Whole epoch seconds in the value, as the seed's writer (`Python01 timestamp 1725543675`), instead of µs. */
  seconds?: boolean;
  /** Rounds to run. */
  count: number;
  /** The pause between rounds, in ms (0: none). */
  intervalMs: number;
  /** How long a round waits for its handshake, in ms. */
  timeoutMs: number;
  /** `--json`. */
  json: boolean;
  /** Where the rounds and the summary go. */
  out: Printer;
}

/**
 * Runs the rounds until `count` or Ctrl+C.
 *
 * @param o what to write, where, and how often
 * @returns 0; 1 when the server was unavailable for every round; 4 when no handshake arrived at all
 * @throws {CliError} when the server cannot be used or notifications cannot be had
 */
export async function writeRounds(o: WriteRoundsOptions): Promise<number> {
  const { key, handshakeKey, status, count, intervalMs, timeoutMs, signal } = o;
  await using side = await WriterSide.open(o);
  status.info(
    `Writing ${key} on ${side.where(key)}, ${count} time(s) ${
      intervalMs ? `every ${intervalMs / 1000} s` : "back to back"
    }; ` +
      `each round waits up to ${timeoutMs / 1000} s for ${handshakeKey}${side.watching()}. Press Ctrl+C to stop.`,
  );
  const rounds = new Rounds(o.out, o.json);
  let lastStamp = 0;
  for (let n = 1; n <= count && !signal.aborted; n++) {
    // No timer at all for --interval 0: even setTimeout(0) waits a millisecond, and every process falls idle.
    if (n > 1 && intervalMs > 0) await delay(intervalMs, signal);
    if (signal.aborted) break;
    // Epoch µs: one value per round, never repeated, without waiting for the next millisecond between rounds
    // (a wait that lets every process fall idle and doubles the round trip: tests/bench/handshake.ts).
    // Whole seconds (the seed's form): --interval is at least 1 s then (keyspace_writer.ts), so each value differs.
    lastStamp = Math.max(o.seconds ? Math.floor(epochMicros() / 1e6) : epochMicros(), lastStamp + 1);
    await oneRound(o, side, rounds, n, lastStamp);
  }
  rounds.summary(side.outageFields());
  if (rounds.total > 0 && rounds.skipped === rounds.total && !signal.aborted) {
    status.error(
      `The server at ${side.address} was unavailable for every round: no write got through. ` +
        "Check that it is running and answering (deno run -A scripts/ping.ts), then run the writer again.",
    );
    return ExitCode.Failure;
  }
  if (rounds.total > 0 && rounds.times.length === 0 && !signal.aborted) {
    status.warn(
      `No handshake arrived on ${handshakeKey}. Is keyspace_listener.ts running against a node that sees ` +
        `writes to ${side.address}, and writing its handshake where this writer can see it?`,
    );
    return ExitCode.Timeout;
  }
  return ExitCode.Ok;
}

/** Writes round `n`'s value and waits for its handshake; a stop ends it unprinted. */
async function oneRound(
  o: WriteRoundsOptions,
  side: WriterSide,
  rounds: Rounds,
  n: number,
  stamp: number,
): Promise<void> {
  const { key, timeoutMs, signal } = o;
  const value = `${o.name} timestamp ${stamp}`;
  const round = new AbortController();
  const waiting = side.watcher.wait(value, timeoutMs, AbortSignal.any([signal, round.signal]));
  const sentAt = performance.now();
  const written = await Promise.race([
    answerWithin(side.set(key, value), timeoutMs, "SET").then(() => undefined, (err: Error) => err),
    whenAborted(signal).then(() => undefined),
  ]);
  if (signal.aborted) return;
  if (written) {
    round.abort();
    await waiting;
    // A server's error reply is a failed write; no reply (down, or not answering) skips the round.
    const reason = written instanceof NoAnswerError || side.ready ? written.message : "not connected";
    if (written instanceof ReplyError) rounds.failed(n, value, written.message);
    else rounds.unavailable(n, value, reason);
    return;
  }
  const seen = await waiting;
  if (seen) rounds.handshake(n, value, o.seconds ? undefined : stamp, sentAt, seen);
  else if (!signal.aborted) rounds.timedOut(n, value, timeoutMs);
}

/** Now in whole epoch microseconds. */
function epochMicros(): number {
  return Math.floor((performance.timeOrigin + performance.now()) * 1000);
}
