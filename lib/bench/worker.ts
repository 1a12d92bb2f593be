/**
 * A worker of a benchmark run: it holds publishers or subscribers (never
 * both), on connections of its own, and talks to the main thread as
 * lib/bench/worker_protocol.ts says. A worker is an isolate of its own, so
 * it guards its own ioredis before its first client (as the backlog probe's
 * worker does), and once connected, has its clock checked against the main
 * thread's (lib/bench/clock.ts).
 *
 * @module
 */
import { CliError, ExitCode } from "../core/exit_codes.ts";
import { guardIoredis } from "../core/ioredis_guard.ts";
import { Reporter, type Writer } from "../core/output.ts";
import { BenchPublisher } from "./bench_publisher.ts";
import { BenchSubscriber } from "./bench_subscriber.ts";
import { answerClock } from "./clock.ts";
import { threadCpuMs } from "./cpu.ts";
import { LatencyHistogram } from "./latency_histogram.ts";
import { Counters, type FromWorker, type InitMessage, type ToWorker } from "./worker_protocol.ts";

/** The parts of a worker's global scope this uses. */
interface WorkerScope {
  onmessage: ((e: MessageEvent<ToWorker>) => void) | null;
  postMessage(message: FromWorker): void;
  addEventListener(type: "error", listener: (e: ErrorEvent) => void): void;
  addEventListener(type: "unhandledrejection", listener: (e: PromiseRejectionEvent) => void): void;
  close(): void;
}

/**
 * Runs a benchmark worker in `scope` (called at the bottom of this module when it is loaded as a worker).
 *
 * @param scope the worker's global scope
 */
export function runBenchWorker(scope: WorkerScope): void {
  const post = (m: FromWorker) => scope.postMessage(m);
  // An uncaught error ends this worker: said to the main thread in a line (no stack trace on the terminal).
  const die = (err: unknown) => {
    post({ type: "died", message: err instanceof Error ? err.message : String(err) });
    scope.close();
  };
  scope.addEventListener("error", (e) => (e.preventDefault(), die(e.error ?? e.message)));
  scope.addEventListener("unhandledrejection", (e) => (e.preventDefault(), die(e.reason)));
  const decoder = new TextDecoder();
  const logs: Writer = {
    writeSync: (p) => (post({ type: "log", text: decoder.decode(p) }), p.length),
    isTerminal: () => false,
  };
  const reporter = new Reporter(logs);
  const stop = new AbortController();
  let init: InitMessage | undefined;
  let pubs: BenchPublisher[] = [];
  let subs: BenchSubscriber[] = [];
  const latencies = new LatencyHistogram();
  let cpuFrom: number | undefined;
  const cpu = () => {
    const now = threadCpuMs();
    return now === undefined || cpuFrom === undefined ? {} : { cpuMs: now - cpuFrom };
  };

  const open = async (m: InitMessage) => {
    guardIoredis();
    const counters = new Counters(m.counters, m.shape.publishers);
    if (m.role === "publishers") {
      for (const member of m.members) pubs.push(await BenchPublisher.open(member, m.shape, reporter, stop.signal));
    } else {
      for (const member of m.members) {
        subs.push(
          await BenchSubscriber.open(
            member,
            m.shape,
            latencies,
            reporter,
            stop.signal,
            (received, unique) => counters.setReceived(member.index, received, unique),
            (at, leg) => post({ type: "dropped", at, ...leg }),
          ),
        );
      }
      await Promise.all(subs.map((s) => s.start(m.shape.mode, m.shape.pattern)));
    }
    post({ type: "ready", legs: subs.flatMap((s) => s.ids()) });
  };

  const start = async (m: Extract<ToWorker, { type: "start" }>) => {
    cpuFrom = threadCpuMs();
    if (init?.crashAfterMs !== undefined) {
      setTimeout(() => {
        throw new Error("this worker was told to fail (a test)");
      }, init.crashAfterMs);
    }
    if (m.stallMs) subs[0]?.stall(m.stallMs);
    if (pubs.length === 0) return;
    const counters = new Counters(init!.counters, init!.shape.publishers);
    const precise = pubs.length === 1; // a precise wait holds this thread: only when no other publisher shares it
    await Promise.all(
      pubs.map((p, i) =>
        p.run(m.quotas[i] ?? 0, m.durationMs, stop.signal, precise, (n) => counters.setConfirmed(p.id, n))
      ),
    );
    post({ type: "published", publishers: pubs.map((p) => p.figures()), ...cpu() });
  };

  const finish = async () => {
    if (subs.length) {
      post({ type: "result", subscribers: subs.map((s) => s.figures()), histogram: latencies.encode(), ...cpu() });
    }
    const all = [...pubs, ...subs];
    [pubs, subs] = [[], []];
    await Promise.all(all.map((x) => x.close()));
    post({ type: "closed" });
  };

  scope.onmessage = (e) => {
    const m = e.data;
    if (m.type === "init") {
      init = m;
      open(m).catch(async (err) => {
        await Promise.all([...pubs, ...subs].map((x) => x.close()));
        const code = err instanceof CliError ? err.exitCode : ExitCode.Failure;
        post({ type: "ready", legs: [], failed: { code, message: err instanceof Error ? err.message : String(err) } });
      });
    } else if (m.type === "start") void start(m);
    else if (m.type === "clock") {
      post({ type: "clock" });
      answerClock(init!.clock);
    } else if (m.type === "stop") stop.abort();
    else void finish();
  };
}

/** Whether `scope` is a worker's global scope (this module loaded as a worker, not imported). */
function isWorkerScope(scope: object): scope is WorkerScope {
  return !("document" in scope) && "WorkerGlobalScope" in scope && "postMessage" in scope;
}

const scope: object = globalThis;
if (isWorkerScope(scope)) runBenchWorker(scope);
