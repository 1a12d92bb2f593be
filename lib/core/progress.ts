/**
 * A live count and rate on stderr, for `--quiet` runs under load.
 *
 * @module
 */
import type { Printer } from "./output.ts";
import { formatNumber, type MessageCounter } from "./stats.ts";

/**
 * Shows the counter's total and current rate: rewritten in place every
 * 500 ms on a terminal, a new line every 5 s otherwise. Dispose to stop.
 *
 * @param printer where to write (stderr)
 * @param counter what to show
 * @param verb what the count is, e.g. "received"
 * @returns a handle that stops the display
 * @example
 * ```ts
 * import { liveProgress } from "./progress.ts";
 * import { Printer } from "./output.ts";
 * import { MessageCounter } from "./stats.ts";
 * using _p = liveProgress(new Printer(Deno.stderr), new MessageCounter());
 * ```
 */
export function liveProgress(printer: Printer, counter: MessageCounter, verb = "received"): Disposable {
  const tty = printer.writer.isTerminal();
  const everyMs = tty ? 500 : 5000;
  let lastTotal = counter.total;
  let lastAt = performance.now();
  const show = () => {
    const now = performance.now();
    const rate = ((counter.total - lastTotal) * 1000) / (now - lastAt);
    lastTotal = counter.total;
    lastAt = now;
    const text = `${verb} ${formatNumber(counter.total)} messages, ${formatNumber(rate)}/s`;
    if (tty) printer.write(`\r\x1b[K${text}`);
    else printer.line(text);
  };
  const timer = setInterval(show, everyMs);
  return {
    [Symbol.dispose]() {
      clearInterval(timer);
      if (tty) printer.write("\r\x1b[K");
    },
  };
}
