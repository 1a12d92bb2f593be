/**
 * A deadline for one server command: a server that accepted the connection
 * may still stop answering, and a script must then say which command went
 * unanswered instead of waiting for ever.
 *
 * @module
 */
import { withTimeout } from "./timing.ts";

/** A command got no answer in time. */
export class NoAnswerError extends Error {
  /**
   * Creates a NoAnswerError.
   *
   * @param what the command that went unanswered, e.g. `INFO`
   * @param ms how long it was given, in ms
   */
  constructor(readonly what: string, readonly ms: number) {
    super(`${what} got no answer within ${ms / 1000} s`);
    this.name = "NoAnswerError";
  }
}

/**
 * Waits for a command's reply at most `ms` milliseconds.
 *
 * @param reply the command's promise
 * @param ms the deadline in ms
 * @param what the command, for the error (e.g. `PING`)
 * @returns the reply
 * @throws {NoAnswerError} when the deadline passes first
 * @example
 * ```ts
 * import { answerWithin, NoAnswerError } from "./no_answer.ts";
 * import assert from "node:assert/strict";
 * assert.equal(await answerWithin(Promise.resolve("PONG"), 100, "PING"), "PONG");
 * const late = await answerWithin(new Promise(() => {}), 10, "INFO").catch((err) => err);
 * assert.ok(late instanceof NoAnswerError);
 * assert.equal(late.message, "INFO got no answer within 0.01 s");
 * ```
 */
export function answerWithin<T>(reply: Promise<T>, ms: number, what: string): Promise<T> {
  return withTimeout(reply, ms, () => new NoAnswerError(what, ms));
}
