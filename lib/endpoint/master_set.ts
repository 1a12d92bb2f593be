/**
 * A {@linkcode NodeSet} on a cluster: one `T` per master (or on the master of
 * one key), opened and closed as the connection's slot map changes.
 *
 * @module
 */
import { Connection } from "../core/client.ts";
import type { Reporter } from "../core/output.ts";
import type { ClusterConnection } from "../cluster/cluster_connection.ts";
import { PerMaster } from "../cluster/per_master.ts";
import { describeSlots, hashTagOn, rangesOf, slotOf, type SlotOwners, topologyChanges } from "../cluster/topology.ts";
import {
  type Closable,
  type LinkedNode,
  linkedNode,
  type NodeHooks,
  type NodeLinkOptions,
  type NodeRef,
  type NodeSet,
} from "./node_set.ts";

/**
 * One `T` per master of `conn` (only the master of `holding`, when given), following its slot map until closed;
 * `conn` itself stays open.
 *
 * @param conn the cluster
 * @param hooks what to open on each master
 * @param reporter where a master that cannot be opened is reported (unless `hooks.openFailed` says)
 * @param holding a key: only the master serving it
 * @returns the set, opened on the masters of the slot map now
 * @throws what `hooks.openFailed` threw at the start
 */
export async function followMasters<T extends Closable>(
  conn: ClusterConnection,
  hooks: NodeHooks<T>,
  reporter: Reporter,
  holding?: string,
): Promise<NodeSet<T>> {
  const ref = (id: string): NodeRef => ({
    id,
    url: conn.nodeUrl(id),
    clusterNode: true,
    get slots() {
      return describeSlots(rangesOf(conn.owners, id));
    },
    get keyTag() {
      return hashTagOn(conn.owners, id) ?? "";
    },
    label: id,
  });
  const select = holding === undefined ? undefined : (owners: SlotOwners) => {
    const owner = owners[slotOf(holding)] ?? "";
    return owner === "" ? [] : [owner];
  };
  const masters = new PerMaster<T>(
    conn,
    {
      open: (id) => hooks.open(ref(id)),
      ...(hooks.openFailed ? { openFailed: (id, err, first) => hooks.openFailed!(ref(id), err, first) } : {}),
      ...(hooks.opened ? { opened: (id, value, first) => hooks.opened!(ref(id), value, first) } : {}),
      ...(hooks.dropped
        ? {
          dropped: (id, value, before) => {
            const to = topologyChanges(before, conn.owners).filter((m) => m.from === id).map((m) => m.to);
            hooks.dropped!(id, value, describeSlots(rangesOf(before, id)), [...new Set(to.filter((t) => t !== ""))]);
          },
        }
        : {}),
    },
    reporter,
    select,
  );
  try {
    await masters.sync();
  } catch (err) {
    await masters.close();
    throw err;
  }
  const untrack = conn.onTopologyChange(() => void masters.sync());
  return {
    entries: () => masters.entries(),
    all: () => masters.all(),
    settled: () => masters.settled(),
    close: async () => {
      untrack();
      await masters.close();
    },
  };
}

/** A `T` with the node connection it was opened with. */
interface WithConnection<T extends Closable> extends Closable {
  node: LinkedNode;
  value: T;
}

/**
 * {@linkcode followMasters} with a command connection of its own to each master, opened before `hooks.open` and
 * closed after its `T`.
 *
 * @param conn the cluster
 * @param hooks what to open on each master, given its connection
 * @param options how the masters' connections are opened, and which masters
 * @returns the set
 * @throws what `hooks.openFailed` threw at the start
 */
export async function linkMasters<T extends Closable>(
  conn: ClusterConnection,
  hooks: NodeHooks<T, LinkedNode>,
  options: NodeLinkOptions,
): Promise<NodeSet<T>> {
  const set = await followMasters<WithConnection<T>>(
    conn,
    {
      open: async (ref) => {
        const cmd = await Connection.open({
          url: ref.url,
          reporter: options.reporter,
          clusterNode: true,
          ...(options.offlineQueue ? { offlineQueue: true } : {}),
          ...(options.commandTimeoutMs ? { commandTimeoutMs: options.commandTimeoutMs } : {}),
          ...(options.signal ? { signal: options.signal } : {}),
        });
        const node = linkedNode(ref, cmd);
        try {
          const value = await hooks.open(node);
          return {
            node,
            value,
            close: async () => {
              await value.close();
              await cmd.close();
            },
          };
        } catch (err) {
          await cmd.close();
          throw err;
        }
      },
      ...(hooks.openFailed ? { openFailed: hooks.openFailed } : {}),
      ...(hooks.opened ? { opened: (_ref, pair, first) => hooks.opened!(pair.node, pair.value, first) } : {}),
      ...(hooks.dropped ? { dropped: (id, pair, slots, to) => hooks.dropped!(id, pair.value, slots, to) } : {}),
    },
    options.reporter,
    options.holding,
  );
  return {
    entries: () => set.entries().map(([id, pair]) => [id, pair.value]),
    all: () => set.all().map((pair) => pair.value),
    settled: () => set.settled(),
    close: () => set.close(),
  };
}
