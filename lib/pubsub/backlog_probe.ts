/**
 * The worker behind {@linkcode BacklogWatch}: on its own thread, so it
 * still reads the subscriber's backlog when the script's event loop is
 * slow or stuck (a stalled stdout blocks it). While the script is behind it
 * asks `CLIENT LIST ID <id>` about once a second and writes what it saw
 * into the shared {@linkcode ProbeSlot}s.
 *
 * Messages in: `{ url, shared }` to start, `"close"` to stop. Out: `"connected"` each time its connection is
 * ready, `"closed"` when it has let it go.
 *
 * @module
 */
import { Redis, ReplyError } from "ioredis";
import { guardIoredis } from "../core/ioredis_guard.ts";

/** Where each figure lives in the shared Float64Array (epoch ms for times, 0 for none). */
export const ProbeSlot = {
  /** The script's last timer tick (written by the script). */
  tick: 0,
  /** When the script last saw itself behind: a stall of its event loop, or messages piling up (written by it). */
  behindAt: 1,
  /** The subscribed connection's id, 0 while it is down (written by the script). */
  clientId: 2,
  /** Bytes the server held for it when last read. */
  bytes: 3,
  /** When they were read. */
  bytesAt: 4,
  /** When a read first found the server no longer had the connection. */
  goneAt: 5,
  /** 1 once the server refused CLIENT LIST (not asked again). */
  refused: 6,
} as const;

/** How many slots the shared array has. */
export const PROBE_SLOTS = 7;

/** A tick this much older than now means the script's event loop is stuck. */
const STUCK_MS = 700;
/** After the script saw itself behind, how long it still counts as behind. */
const BEHIND_FOR_MS = 3000;
const EVERY_MS = 1000;
const CHECK_MS = 250;

interface WorkerScope {
  onmessage: ((e: MessageEvent) => void) | null;
  postMessage(message: unknown): void;
  close(): void;
}

/**
 * Runs the probe in this worker (called at the bottom of this module when it is loaded as a worker).
 *
 * @param scope the worker's global scope
 */
export function runProbe(scope: WorkerScope): void {
  let redis: Redis | undefined;
  let timer: ReturnType<typeof setInterval> | undefined;
  let asking = false;
  let lastAsked = 0;
  scope.onmessage = (e: MessageEvent) => {
    if (e.data === "close") {
      clearInterval(timer);
      const done = () => {
        scope.postMessage("closed");
        scope.close();
      };
      if (redis?.status === "ready") void redis.quit().then(done, done);
      else (redis?.disconnect(), done());
      return;
    }
    const { url, shared } = e.data as { url: string; shared: SharedArrayBuffer };
    const slots = new Float64Array(shared);
    guardIoredis(); // this worker's own ioredis: a reply it fails on drops the connection, as in the script's
    redis = new Redis(url, {
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
      enableReadyCheck: false,
      connectTimeout: 5000,
      retryStrategy: (attempt) => Math.min(attempt * 200, 2000),
    });
    redis.on("error", () => {}); // the script's own connection reports outages
    redis.on("ready", () => scope.postMessage("connected"));
    const client = redis;
    timer = setInterval(() => {
      const now = Date.now();
      const id = slots[ProbeSlot.clientId]!;
      const behind = now - slots[ProbeSlot.tick]! > STUCK_MS || now - slots[ProbeSlot.behindAt]! < BEHIND_FOR_MS;
      if (!behind || asking || id === 0 || slots[ProbeSlot.refused] || client.status !== "ready") return;
      if (now - lastAsked < EVERY_MS) return;
      asking = true;
      lastAsked = now;
      client.client("LIST", "ID", String(id)).then(
        (reply) => {
          if (slots[ProbeSlot.clientId] !== id) return; // reconnected meanwhile: about the old connection
          const omem = String(reply).match(/\bomem=(\d+)/);
          if (!omem) {
            if (!slots[ProbeSlot.goneAt]) slots[ProbeSlot.goneAt] = Date.now();
            return;
          }
          slots[ProbeSlot.bytes] = Number(omem[1]);
          slots[ProbeSlot.bytesAt] = Date.now();
        },
        (err) => {
          if (err instanceof ReplyError) slots[ProbeSlot.refused] = 1; // ACL or a renamed command
        },
      ).finally(() => (asking = false));
    }, CHECK_MS);
  };
}

/** Whether `scope` is a worker's global scope (this module loaded as a worker, not imported by the script). */
function isWorkerScope(scope: object): scope is WorkerScope {
  return !("document" in scope) && "WorkerGlobalScope" in scope && "postMessage" in scope && "close" in scope;
}

const scope: object = globalThis;
if (isWorkerScope(scope)) runProbe(scope);
