/**
 * The server's output buffer for the benchmark's subscribers: `CLIENT LIST`
 * read about once a second on a command connection, `omem` of the
 * subscribers' client ids, the peak kept.
 *
 * @module
 */
import type { Redis } from "ioredis";

/**
 * `omem` (bytes) of each client in a `CLIENT LIST` reply, by id.
 *
 * @param list the reply
 * @returns omem by client id
 * @example
 * ```ts
 * import { parseOmem } from "./omem_sampler.ts";
 * const m = parseOmem("id=3 addr=127.0.0.1:5 omem=0 cmd=x\nid=4 addr=127.0.0.1:6 omem=20504 cmd=y\n");
 * console.assert(m.get(4) === 20504 && m.get(3) === 0);
 * ```
 */
export function parseOmem(list: string): Map<number, number> {
  const out = new Map<number, number>();
  for (const line of list.split("\n")) {
    const id = /(?:^|\s)id=(\d+)/.exec(line), omem = /\somem=(\d+)/.exec(line);
    if (id && omem) out.set(Number(id[1]), Number(omem[1]));
  }
  return out;
}

/** Samples the subscribers' output buffers until stopped; `peak` is undefined when CLIENT LIST is refused. */
export class OmemSampler {
  /** The largest `omem` seen for one subscriber, in bytes. */
  peak: number | undefined;
  /** The last `omem` read for each subscriber, by client id, with when (epoch ms). */
  readonly last = new Map<number, { bytes: number; at: number }>();
  #timer: ReturnType<typeof setInterval> | undefined;
  #busy = false;

  /**
   * Creates a sampler.
   *
   * @param redis a command connection (not subscribed)
   * @param ids the subscribers' client ids
   */
  constructor(private readonly redis: Redis, private readonly ids: ReadonlySet<number>) {}

  /**
   * Reads once now, then every `everyMs` until {@linkcode OmemSampler.stop}.
   *
   * @param everyMs the interval
   */
  start(everyMs = 1000): void {
    void this.sample();
    this.#timer = setInterval(() => void this.sample(), everyMs);
  }

  /** Reads `CLIENT LIST` once (skipped while a read is still out). */
  async sample(): Promise<void> {
    if (this.#busy || this.ids.size === 0) return;
    this.#busy = true;
    try {
      const at = Date.now();
      for (const [id, bytes] of parseOmem(String(await this.redis.client("LIST")))) {
        if (!this.ids.has(id)) continue;
        this.last.set(id, { bytes, at });
        this.peak = Math.max(this.peak ?? 0, bytes);
      }
    } catch {
      // Refused (ACL, renamed) or the connection is going: no figure, nothing else changes.
    } finally {
      this.#busy = false;
    }
  }

  /** Stops sampling. */
  stop(): void {
    clearInterval(this.#timer);
  }
}
