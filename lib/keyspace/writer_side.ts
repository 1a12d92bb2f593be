/**
 * Where lab 3's writer writes and watches: its key and rounds go through the
 * Endpoint's link (routed by key on a cluster); the handshake key's keyspace
 * notifications are watched on the node that holds it, with its
 * notifications checked or turned on, and followed to its new master after a
 * failover or a resharding.
 *
 * @module
 */
import { Connection } from "../core/client.ts";
import { toSeconds } from "../core/json_event.ts";
import type { Reporter } from "../core/output.ts";
import type { Endpoint } from "../endpoint/endpoint.ts";
import type { Link } from "../endpoint/link.ts";
import type { LinkedNode, NodeSet } from "../endpoint/node_set.ts";
import { HANDSHAKE_NOTIFY_FLAGS, HandshakeWatcher } from "./handshake.ts";
import { NotifyingNode } from "./notifying_node.ts";

/** What the writer's side needs to know. */
export interface WriterSideOptions {
  /** The server or cluster. */
  endpoint: Endpoint;
  /** The database written. */
  db: number;
  /** The key the listener acknowledges on. */
  handshakeKey: string;
  /** false (`--no-config`): change no node's notifications. */
  change: boolean;
  /** `--restore-config`. */
  restore: boolean;
  /** Where connections and changes are reported. */
  status: Reporter;
  /** Stops the connects (Ctrl+C). */
  signal: AbortSignal;
}

/** The outage fields of the writer's summary. */
export interface WriterOutages {
  /** How many times the server (or a node) was lost. */
  outages: number;
  /** How long the handshake key went unwatched, in seconds. */
  disconnected_seconds: number;
  /** On a cluster: how many times the slot map changed. */
  topology_changes?: number;
}

/** The handshake key watched on one node: its notifications, its subscriber connection. */
interface Watch {
  node: LinkedNode;
  sub: Connection;
  close(): Promise<void>;
}

const LOSS_NOTE = "Rounds until it is back are skipped or time out.";

/**
 * The writer's connections: a link to write with, and the handshake key
 * watched where it lives.
 *
 * @example
 * ```ts ignore
 * await using side = await WriterSide.open({ endpoint, db: 0, handshakeKey: "handshake_key", change: true,
 *   restore: false, status, signal });
 * const seen = side.watcher.wait("writer timestamp 1", 5000);
 * await side.set("shared_key", "writer timestamp 1");
 * ```
 */
export class WriterSide implements AsyncDisposable {
  #watcher: HandshakeWatcher | undefined;
  #watches: NodeSet<Watch> | undefined;

  private constructor(private readonly options: WriterSideOptions, private readonly link: Link) {}

  /**
   * Connects, checks the handshake key's node's notifications and starts watching it.
   *
   * @param options the endpoint, the db, the handshake key and how to report
   * @returns the side, watching
   * @throws {CliError} when the server cannot be used or notifications cannot be had
   */
  static async open(options: WriterSideOptions): Promise<WriterSide> {
    const { endpoint, status, signal, db, handshakeKey } = options;
    const link = await endpoint.link({ reporter: status, signal, db, topology: { lossNote: LOSS_NOTE } });
    const side = new WriterSide(options, link);
    let watching = "";
    try {
      side.#watches = await link.nodes({
        open: (node) => side.#watchOn(node),
        openFailed: (node, err, first) => {
          if (first) throw err;
          status.warn(
            `Could not watch ${handshakeKey} on its new master ${node.id} (${err.message.split("\n")[0]}): ` +
              "rounds time out until it can be watched.",
          );
        },
        opened: (node, _watch, first) => {
          if (!first) {
            status.ok(
              `Watching ${handshakeKey} on ${node.id} now (its slot moved from ${watching}); a handshake written ` +
                "while it moved may have been missed (that round times out).",
            );
          }
          watching = node.id;
        },
      }, { reporter: status, offlineQueue: true, signal, holding: handshakeKey });
    } catch (err) {
      await side[Symbol.asyncDispose]();
      throw err;
    }
    return side;
  }

  /** Checks `node`'s notifications and watches the handshake key there (moving the watcher from where it was). */
  async #watchOn(node: LinkedNode): Promise<Watch> {
    const { status, signal, restore, db, handshakeKey } = this.options;
    const notify = await NotifyingNode.open({
      node,
      db,
      needed: HANDSHAKE_NOTIFY_FLAGS, // the watcher subscribes to the handshake key's keyspace channel
      change: this.options.change,
      reporter: status,
    });
    try {
      // A restarted server may have lost the setting: check again once its command connection is back too.
      const ensureAgain = () =>
        node.whenReady().then(() => notify.ensure()).catch((err) =>
          status.warn(`Could not check notify-keyspace-events again: ${(err as Error).message.split("\n")[0]}`)
        );
      const sub = await Connection.open({
        url: node.url,
        reporter: status,
        lossNote: LOSS_NOTE,
        clusterNode: node.clusterNode,
        onRestored: () => void ensureAgain(),
        signal,
      });
      try {
        if (this.#watcher) await this.#watcher.moveTo(sub.redis);
        else {this.#watcher = await HandshakeWatcher.start({
            sub: sub.redis,
            read: this.link.redis,
            db,
            key: handshakeKey,
          });}
      } catch (err) {
        await sub.close();
        throw err;
      }
      return {
        node,
        sub,
        close: async () => {
          await sub.close();
          await notify.settle(restore);
        },
      };
    } catch (err) {
      await notify.settle(restore);
      throw err;
    }
  }

  /** Waits for the handshakes. */
  get watcher(): HandshakeWatcher {
    return this.#watcher!;
  }

  /** The server (or cluster), password hidden. */
  get address(): string {
    return this.options.endpoint.address;
  }

  /** Whether a write can go out now. */
  get ready(): boolean {
    return this.link.ready;
  }

  /**
   * Writes one round's value.
   *
   * @param key the key
   * @param value the value
   * @returns the server's reply
   */
  set(key: string, value: string): Promise<unknown> {
    return this.link.redis.set(key, value);
  }

  /**
   * Where `key` is written, for the first line.
   *
   * @param key the key
   * @returns the server and database, or the cluster and the key's master
   */
  where(key: string): string {
    const master = this.link.nodeOf(key);
    return master === undefined
      ? `${this.address} db ${this.options.db}`
      : `${this.address} (its master ${master || "none"})`;
  }

  /** Where the handshake key is watched, when there are several nodes to tell apart: ` on host:port`, else `""`. */
  watching(): string {
    const label = this.#watches?.entries()[0]?.[1].node.label;
    return label === undefined ? "" : ` on ${label}`;
  }

  /** The summary's outage counts. */
  outageFields(): WriterOutages {
    const downMs = (this.#watches?.all() ?? []).reduce((t, w) => t + w.sub.downMs, 0);
    const slotMapChanges = this.link.outageJson().slot_map_changes;
    return {
      outages: this.link.outages,
      disconnected_seconds: toSeconds(downMs),
      ...(slotMapChanges !== undefined ? { topology_changes: slotMapChanges } : {}),
    };
  }

  /** Stops watching, says or undoes what was changed, and closes everything. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.#watcher?.[Symbol.asyncDispose]().catch(() => {});
    await this.#watches?.close();
    await this.link.close();
  }
}
