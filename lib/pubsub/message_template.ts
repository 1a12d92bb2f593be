/**
 * Message bodies with placeholders: `{{n}}` sequence number (from 1),
 * `{{ts}}` epoch milliseconds, `{{iso}}` ISO-8601 time.
 *
 * @module
 */

/** Renders the body of message number `n` (from 1). */
export type Template = (n: number) => string;

/**
 * Compiles a body template once so rendering each message is cheap.
 *
 * @param body text with `{{n}}`, `{{ts}}` and `{{iso}}` placeholders
 * @returns a function from sequence number to body
 * @example
 * ```ts
 * import { compileTemplate } from "./message_template.ts";
 * console.assert(compileTemplate("msg {{n}}")(7) === "msg 7");
 * ```
 */
export function compileTemplate(body: string): Template {
  const parts = body.split(/(\{\{(?:n|ts|iso)\}\})/);
  if (parts.length === 1) return () => body;
  return (n) => {
    const now = Date.now();
    let out = "";
    for (const part of parts) {
      if (part === "{{n}}") out += n;
      else if (part === "{{ts}}") out += now;
      else if (part === "{{iso}}") out += new Date(now).toISOString();
      else out += part;
    }
    return out;
  };
}
