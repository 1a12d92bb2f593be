/**
 * Reading what the KV updater stored: the types under a prefix and their
 * stored values.
 *
 * @module
 */
import type { Redis } from "ioredis";
import type { Link } from "../endpoint/link.ts";
import type { LinkedNode, NodeLinkOptions, NodeSet } from "../endpoint/node_set.ts";
import { typeNameProblem, updateEventJson } from "./message.ts";

/** Keys asked for per SCAN step. */
const SCAN_COUNT = 1000;

/**
 * The candidate types under `prefix` on one server (or one master of a
 * cluster): string keys `<prefix><type>` whose type part is a safe type
 * name, sorted. Found with SCAN, never KEYS. Their values are not checked:
 * {@linkcode readAllStored} keeps only stored updates.
 *
 * @param redis a connection to the server (or master)
 * @param prefix the key prefix the updater uses
 * @returns the type names
 * @example
 * ```ts ignore
 * console.log(await listTypes(redis, "kv:")); // ["AQI", "Moon", "Weather"]
 * ```
 */
export async function listTypes(redis: Redis, prefix: string): Promise<string[]> {
  const types = new Set<string>();
  await scanTypes(redis, prefix, types);
  return [...types].sort();
}

/** A connection to one node that holds data, to scan its keys. */
interface Scanner {
  node: LinkedNode;
  close(): Promise<void>;
}

/**
 * What the KV updater stored, read through a link: values by type, and every
 * type under the prefix (scanned on every node that holds data: the server,
 * or each master of a cluster, followed as they change).
 */
export class KvStore {
  private constructor(
    /** The link values are read through. */
    readonly link: Link,
    /** The key prefix the updater uses. */
    readonly prefix: string,
    private readonly scanners: NodeSet<Scanner>,
  ) {}

  /**
   * Opens the nodes' connections to scan (on one server, the link's own).
   *
   * @param link the link to read through
   * @param prefix the key prefix the updater uses
   * @param options how the nodes' connections behave
   * @returns the store
   * @throws {CliError} when a node cannot be used at the start
   */
  static async open(link: Link, prefix: string, options: NodeLinkOptions): Promise<KvStore> {
    const scanners = await link.nodes<Scanner>({
      open: (node) => Promise.resolve({ node, close: () => Promise.resolve() }),
    }, options);
    return new KvStore(link, prefix, scanners);
  }

  /** The candidate types under the prefix, on every node, sorted (see {@linkcode listTypes}). */
  async types(): Promise<string[]> {
    const types = new Set<string>();
    await Promise.all(this.scanners.entries().map(([, s]) => scanTypes(s.node.redis, this.prefix, types)));
    return [...types].sort();
  }

  /**
   * The stored texts of some types (see {@linkcode readStored}).
   *
   * @param types the types to read
   * @returns each type's stored text, or null when absent
   */
  read(types: readonly string[]): Promise<(string | null)[]> {
    return readStored(this.link, this.prefix, types);
  }

  /** Every stored update under the prefix, sorted by type (see {@linkcode readAllStored}). */
  async all(): Promise<StoredUpdate[]> {
    return await readAllStored(this, this.prefix);
  }

  /** Closes the nodes' connections (not the link). */
  close(): Promise<void> {
    return this.scanners.close();
  }
}

/** Adds the candidate types one server holds to `types`. */
async function scanTypes(redis: Redis, prefix: string, types: Set<string>): Promise<void> {
  let cursor = "0";
  do {
    const [next, keys] = await redis.scan(cursor, "MATCH", `${prefix}*`, "COUNT", SCAN_COUNT, "TYPE", "string");
    cursor = next;
    for (const key of keys) {
      const type = key.slice(prefix.length);
      if (typeNameProblem(type) === undefined) types.add(type);
    }
  } while (cursor !== "0");
}

/**
 * The stored texts of some types, in one round trip (one MGET on one server;
 * on a cluster, one GET per key, routed by slot and sent together per node
 * when the link pipelines automatically).
 *
 * @param link the link to read through
 * @param prefix the key prefix
 * @param types the types to read
 * @returns each type's stored text, or null when absent
 * @example
 * ```ts ignore
 * const [weather] = await readStored(link, "", ["Weather"]);
 * ```
 */
export async function readStored(link: Link, prefix: string, types: readonly string[]): Promise<(string | null)[]> {
  return await link.getMany(types.map((t) => prefix + t));
}

/** One stored update, as {@linkcode readAllStored} finds it. */
export interface StoredUpdate {
  /** The type (the key without the prefix). */
  type: string;
  /** The stored text, as kv_updater wrote it. */
  stored: string;
  /** The event JSON for it (`{"type": ..., "updated": ..., "valid": ..., "values": ...}`). */
  event: string;
}

/**
 * Every stored update under `prefix`, sorted by type: keys whose value is not
 * a stored update (another lab's keys, with an empty prefix) are left out.
 *
 * @param store where to read (its types, and their values)
 * @param prefix the key prefix the updater uses
 * @returns the stored updates
 * @example
 * ```ts ignore
 * for (const { type, stored } of await readAllStored(store, "kv:")) console.log(type, stored);
 * ```
 */
export async function readAllStored(store: KvStore, prefix: string): Promise<StoredUpdate[]> {
  const types = await store.types();
  const found: StoredUpdate[] = [];
  for (let start = 0; start < types.length; start += SCAN_COUNT) {
    const batch = types.slice(start, start + SCAN_COUNT);
    const values = await readStored(store.link, prefix, batch);
    batch.forEach((type, n) => {
      const stored = values[n];
      const event = stored ? updateEventJson(type, stored) : undefined;
      if (stored && event) found.push({ type, stored, event });
    });
  }
  return found;
}
