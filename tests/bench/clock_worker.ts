/**
 * A worker that answers lib/bench/clock.ts's clock check once: `deno task bench goals` measures the clock between
 * two threads of one process with it.
 *
 * @module
 */
import { answerClock } from "../../lib/bench/clock.ts";

interface Scope {
  onmessage: ((e: MessageEvent<SharedArrayBuffer>) => void) | null;
  postMessage(m: unknown): void;
}

const isScope = (s: object): s is Scope => "postMessage" in s && "WorkerGlobalScope" in s;

const scope: object = globalThis;
if (isScope(scope)) {
  scope.onmessage = (e) => {
    scope.postMessage("ready");
    answerClock(e.data);
  };
}
