/**
 * The server's output buffer for the benchmark's subscribers: `CLIENT LIST`
 * read about once a second on a command connection to each node that has
 * subscribers (one server, or every master of a cluster), `omem` of the
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
 * import assert from "node:assert/strict";
 * const m = parseOmem("id=3 addr=127.0.0.1:5 omem=0 cmd=x\nid=4 addr=127.0.0.1:6 omem=20504 cmd=y\n");
 * assert.equal(m.get(4), 20504);
 * assert.equal(m.get(3), 0);
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

/** One node the sampler reads: a command connection to it, its name and the subscribers' client ids on it. */
export interface SampledNode {
  /** A command connection (not subscribed). */
  redis: Redis;
  /** The node's name, as {@linkcode omemKey} takes it. */
  node: string;
  /** The subscribers' client ids on that node. */
  ids: ReadonlySet<number>;
}

/**
 * The key of one subscriber connection in {@linkcode OmemSampler.last}: client ids are per node.
 *
 * @param node the node's name
 * @param id the client id on it
 * @returns the key
 */
export function omemKey(node: string, id: number): string {
  return `${node}#${id}`;
}

/** Samples the subscribers' output buffers until stopped; `peak` is undefined when CLIENT LIST is refused. */
export class OmemSampler {
  /** The largest `omem` seen for one subscriber connection, in bytes. */
  peak: number | undefined;
  /** The last `omem` read for each subscriber connection, by {@linkcode omemKey}, with when (epoch ms). */
  readonly last = new Map<string, { bytes: number; at: number }>();
  #timer: ReturnType<typeof setInterval> | undefined;
  #busy = false;

  /**
   * Creates a sampler.
   *
   * @param nodes the nodes to read, each with the subscribers' client ids on it
   */
  constructor(private readonly nodes: readonly SampledNode[]) {}

  /**
   * Reads once now, then every `everyMs` until {@linkcode OmemSampler.stop}.
   *
   * @param everyMs the interval
   */
  start(everyMs = 1000): void {
    void this.sample();
    this.#timer = setInterval(() => void this.sample(), everyMs);
  }

  /** Reads `CLIENT LIST` once on every node (skipped while a read is still out). */
  async sample(): Promise<void> {
    if (this.#busy) return;
    this.#busy = true;
    try {
      await Promise.all(this.nodes.map((n) => this.#sampleNode(n)));
    } finally {
      this.#busy = false;
    }
  }

  async #sampleNode({ redis, node, ids }: SampledNode): Promise<void> {
    if (ids.size === 0) return;
    try {
      const at = Date.now();
      for (const [id, bytes] of parseOmem(String(await redis.client("LIST")))) {
        if (!ids.has(id)) continue;
        this.last.set(omemKey(node, id), { bytes, at });
        this.peak = Math.max(this.peak ?? 0, bytes);
      }
    } catch {
      // Refused (ACL, renamed) or the connection is going: no figure, nothing else changes.
    }
  }

  /** Stops sampling. */
  stop(): void {
    clearInterval(this.#timer);
  }
}
