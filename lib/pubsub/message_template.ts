/**
 * Message bodies with placeholders: `{{n}}` sequence number (from 1),
 * `{{ts}}` epoch milliseconds to the microsecond (three decimals, from
 * `performance.timeOrigin + performance.now()`: see `preciseNow` in json_event.ts), `{{iso}}` ISO-8601 time.
 *
 * @module
 */
import { preciseNow } from "../core/json_event.ts";

/** Renders the body of message number `n` (from 1), sent at `at` (epoch ms to the microsecond; default now). */
export type Template = (n: number, at?: number) => string;

/**
 * Compiles a body template once so rendering each message is cheap.
 *
 * @param body text with `{{n}}`, `{{ts}}` and `{{iso}}` placeholders
 * @returns a function from sequence number to body
 * @example
 * ```ts
 * import { compileTemplate } from "./message_template.ts";
 * import assert from "node:assert/strict";
 * assert.equal(compileTemplate("msg {{n}}")(7), "msg 7");
 * assert.ok(/^\d{13}\.\d{3}$/.test(compileTemplate("{{ts}}")(1)));
 * ```
 */
export function compileTemplate(body: string): Template {
  // A series fills thousands of these a second: the parts are matched once, here.
  const parts = body.split(/(\{\{(?:n|ts|iso)\}\})/);
  if (parts.length === 1) return () => body;
  return (n, at) => {
    const now = at ?? preciseNow();
    let out = "";
    for (const part of parts) {
      if (part === "{{n}}") out += n;
      else if (part === "{{ts}}") out += now.toFixed(3);
      else if (part === "{{iso}}") out += new Date(Math.floor(now)).toISOString();
      else out += part;
    }
    return out;
  };
}
