/**
 * Reconciling a keyspace listener after an outage: what it last saw of each
 * watched key (its type and a digest of its value, computed on the server),
 * compared with what is there now through SCAN — each key changed, added or
 * deleted while it was away reported once. Bounded: at most `maxKeys` keys
 * remembered and compared, SCAN and digests in batches. What it cannot know:
 * the values a key had in between (two changes look like one, a change and
 * its undoing like none), and the events of keys no longer watched.
 *
 * @module
 */
import type { Redis } from "ioredis";
import { slotOf } from "../cluster/topology.ts";

/**
 * The digest script: for each key, its type and a SHA-1 of its value (a hash's and a set's members sorted, a
 * stream's length and last id), read on the server so that only 40 characters per key travel.
 */
export const DIGEST_SCRIPT = `
local out = {}
for _, k in ipairs(KEYS) do
  local t = redis.call('TYPE', k)['ok']
  local d = ''
  if t == 'string' then
    d = redis.sha1hex(redis.call('GET', k))
  elseif t == 'hash' then
    local v = redis.call('HGETALL', k)
    local parts = {}
    for i = 1, #v, 2 do parts[#parts + 1] = v[i] .. '\\0' .. v[i + 1] end
    table.sort(parts)
    d = redis.sha1hex(table.concat(parts, '\\1'))
  elseif t == 'set' then
    local v = redis.call('SMEMBERS', k)
    table.sort(v)
    d = redis.sha1hex(table.concat(v, '\\1'))
  elseif t == 'zset' then
    d = redis.sha1hex(table.concat(redis.call('ZRANGE', k, 0, -1, 'WITHSCORES'), '\\1'))
  elseif t == 'list' then
    d = redis.sha1hex(table.concat(redis.call('LRANGE', k, 0, -1), '\\1'))
  elseif t == 'stream' then
    local last = redis.call('XREVRANGE', k, '+', '-', 'COUNT', 1)
    d = redis.call('XLEN', k) .. ':' .. (last[1] and last[1][1] or '')
  end
  out[#out + 1] = t .. ':' .. d
end
return out
`;

/** A watched key found changed, added or deleted when reconciling. */
export interface MissedChange {
  /** The key. */
  key: string;
  /** What happened to it while the listener was away (its last state compared with now). */
  change: "changed" | "added" | "deleted";
  /** Its type now (`none` when deleted). */
  type: string;
}

/** What one reconciliation did. */
export interface ReconcileRun {
  /** Keys compared (those found now). */
  keys: number;
  /** Changed, added, deleted. */
  changed: number;
  /** Added. */
  added: number;
  /** Deleted. */
  deleted: number;
  /** How long it took, in ms. */
  ms: number;
  /** Whether it stopped at `maxKeys` (the rest neither compared nor remembered). */
  truncated: boolean;
  /** Whether it only took note of the keys (no earlier state to compare with). */
  baseline: boolean;
}

/** A node to SCAN: its connection, and whether its keys must be digested per slot (a cluster node). */
export interface ScanNode {
  /** Commands to the node itself. */
  redis: Redis;
  /** A cluster node: a script may only touch keys of one slot. */
  perSlot: boolean;
}

/** Keys per SCAN round and per digest script. */
const BATCH = 500;

/** The state saved between runs (`--reconcile-state`). */
interface SavedState {
  version: 1;
  patterns: string[];
  keys: [string, string][];
}

/**
 * What a listener last saw of the watched keys, and the reconciliation.
 *
 * @example
 * ```ts ignore
 * const r = new KeyReconciler(["user:*"], 100_000);
 * await r.reconcile([{ redis, perSlot: false }], (c) => console.log(c.key, c.change)); // a baseline, nothing said
 * // … an outage …
 * await r.reconcile([{ redis, perSlot: false }], (c) => console.log(c.key, c.change));
 * ```
 */
export class KeyReconciler {
  #seen: Map<string, string> | undefined;
  readonly #dirty = new Set<string>();
  /** The runs so far. */
  readonly runs: ReconcileRun[] = [];

  /**
   * @param patterns the watched keys or glob patterns
   * @param maxKeys at most this many keys remembered and compared
   */
  constructor(readonly patterns: readonly string[], readonly maxKeys: number) {}

  /**
   * Starts from a saved state (what an earlier run saw), if it watched the same patterns.
   *
   * @param text the saved state's JSON
   * @returns whether it was taken
   */
  restore(text: string): boolean {
    const saved = JSON.parse(text) as SavedState;
    if (saved.version !== 1 || saved.patterns.join("\n") !== this.patterns.join("\n")) return false;
    this.#seen = new Map(saved.keys.slice(0, this.maxKeys));
    return true;
  }

  /** The state to save, as JSON (undefined before any reconciliation). */
  save(): string | undefined {
    if (!this.#seen) return undefined;
    return JSON.stringify({ version: 1, patterns: [...this.patterns], keys: [...this.#seen] } satisfies SavedState);
  }

  /**
   * A live event about `key`: its digest is taken again at the next {@linkcode refresh}, so that a change it already
   * reported is not reported again as missed.
   *
   * @param key the key
   */
  touched(key: string): void {
    if (this.#seen && this.#dirty.size < this.maxKeys) this.#dirty.add(key);
  }

  /**
   * Takes the digests of the keys touched by live events since the last call.
   *
   * @param digest reads the digests of keys (routed as the link routes them)
   */
  async refresh(digest: (keys: string[]) => Promise<string[]>): Promise<void> {
    const seen = this.#seen;
    if (!seen || this.#dirty.size === 0) return;
    const keys = [...this.#dirty].slice(0, BATCH);
    for (const k of keys) this.#dirty.delete(k);
    const digests = await digest(keys);
    keys.forEach((k, i) => {
      const d = digests[i]!;
      if (d.startsWith("none:")) seen.delete(k);
      else if (seen.has(k) || seen.size < this.maxKeys) seen.set(k, d);
    });
  }

  /**
   * SCANs the watched keys on every node and compares them with what was last seen: each key changed, added or
   * deleted is reported once; the first run (with no saved state) only takes note.
   *
   * @param nodes the nodes holding the keys
   * @param report called for each change found
   * @returns what it did
   */
  async reconcile(nodes: readonly ScanNode[], report: (c: MissedChange) => void): Promise<ReconcileRun> {
    const started = performance.now();
    const before = this.#seen;
    const now = new Map<string, string>();
    let truncated = false;
    for (const node of nodes) {
      truncated = await this.#scanNode(node, now) || truncated;
      if (truncated) break;
    }
    const run: ReconcileRun = {
      keys: now.size,
      changed: 0,
      added: 0,
      deleted: 0,
      ms: 0,
      truncated,
      baseline: before === undefined,
    };
    if (before) {
      for (const [key, d] of now) {
        const was = before.get(key);
        if (was === d) continue;
        const change = was === undefined ? "added" : "changed";
        run[change]++;
        report({ key, change, type: d.slice(0, d.indexOf(":")) });
      }
      if (!truncated) {
        for (const key of before.keys()) {
          if (now.has(key)) continue;
          run.deleted++;
          report({ key, change: "deleted", type: "none" });
        }
      }
    }
    this.#seen = now;
    this.#dirty.clear();
    run.ms = Math.round(performance.now() - started);
    this.runs.push(run);
    return run;
  }

  /** SCANs one node into `now`; true when it stopped at maxKeys. */
  async #scanNode(node: ScanNode, now: Map<string, string>): Promise<boolean> {
    for (const pattern of this.patterns) {
      let cursor = "0";
      for (let round = 0; round < 1_000_000; round++) {
        const [next, found] = await node.redis.scan(cursor, "MATCH", pattern, "COUNT", BATCH);
        const keys = found.filter((k) => !now.has(k));
        if (now.size + keys.length > this.maxKeys) return true;
        const digests = await digestOn(node, keys);
        keys.forEach((k, i) => {
          if (!digests[i]!.startsWith("none:")) now.set(k, digests[i]!);
        });
        cursor = next;
        if (cursor === "0") break;
      }
    }
    return false;
  }
}

/**
 * The digests of `keys` on one node: one script for all of them, or one per slot on a cluster node.
 *
 * @param node the node
 * @param keys the keys
 * @returns `TYPE:DIGEST` of each, in order (`none:` for a key that is gone)
 */
export async function digestOn(node: ScanNode, keys: readonly string[]): Promise<string[]> {
  if (keys.length === 0) return [];
  if (!node.perSlot) return (await node.redis.eval(DIGEST_SCRIPT, keys.length, ...keys)) as string[];
  const bySlot = new Map<number, number[]>();
  keys.forEach((k, i) => bySlot.set(slotOf(k), [...bySlot.get(slotOf(k)) ?? [], i]));
  const pipeline = node.redis.pipeline();
  for (const indices of bySlot.values()) {
    pipeline.eval(DIGEST_SCRIPT, indices.length, ...indices.map((i) => keys[i]!));
  }
  const results = await pipeline.exec() ?? [];
  const out: string[] = new Array(keys.length);
  [...bySlot.values()].forEach((indices, g) => {
    const [err, digests] = results[g]!;
    if (err) throw err;
    indices.forEach((i, j) => (out[i] = (digests as string[])[j]!));
  });
  return out;
}
