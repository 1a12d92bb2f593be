/**
 * `kv_updater.ts --stream NAME`: updates consumed from a stream in a
 * consumer group instead of a channel, so that updates appended while the
 * updater is away are stored when it is back. Redelivery after a crash (or
 * a slow consumer's entries claimed by another) may bring an older update
 * after a newer one: each write is one small Lua script that stores the
 * update only when its `updated` time is newer than the stored one's, and
 * counts the others as `stale`.
 *
 * @module
 */
import { Connection } from "../core/client.ts";
import type { Commands } from "../endpoint/link.ts";
import type { NodeRef } from "../endpoint/node_set.ts";
import { ExitCode } from "../core/exit_codes.ts";
import { toSeconds } from "../core/json_event.ts";
import { type Io, Printer } from "../core/output.ts";
import type { Shutdown } from "../core/shutdown.ts";
import { delay } from "../core/timing.ts";
import { MalformedEventError } from "../events/subscriber.ts";
import { type KvUpdate, parseIsoTime, parseUpdate, type Rejection } from "./message.ts";
import { newWriterStats, type WriterStats } from "./writer.ts";
import { StreamConsumer } from "../events/stream_consumer.ts";
import type { KvUpdaterOptions } from "./updater_options.ts";
import { reportGroupFigures } from "../events/group_figures.ts";

/** The default consumer group of `kv_updater.ts --stream`. */
export const KV_GROUP = "kv_updater";

// ISO-8601 in Lua by the rule of lib/core/iso_time.ts (the stored text was checked by it when written).
const WRITE_IF_NEWER = `
local function days(y, m, d)
  if m <= 2 then y = y - 1 end
  local era = math.floor(y / 400)
  local yoe = y - era * 400
  local mp = (m + 9) % 12
  local doy = math.floor((153 * mp + 2) / 5) + d - 1
  return era * 146097 + yoe * 365 + math.floor(yoe / 4) - math.floor(yoe / 100) + doy - 719468
end
local function iso_ms(s)
  local y, mo, d, h, mi, rest = string.match(s, '^(%d%d%d%d)%-(%d%d)%-(%d%d)[Tt](%d%d):(%d%d)(.*)$')
  if not y then return nil end
  local sec, frac = 0, 0
  local ss, fr, zone = string.match(rest, '^:(%d%d)[%.,]?(%d*)(.*)$')
  if ss then
    sec = tonumber(ss)
    if fr ~= '' then frac = tonumber('0.' .. fr) end
    rest = zone
  end
  local off = 0
  if rest ~= '' and rest ~= 'Z' and rest ~= 'z' then
    local sign, oh, om = string.match(rest, '^([%+%-])(%d%d):?(%d*)$')
    if not sign then return nil end
    off = tonumber(oh) * 60 + (tonumber(om) or 0)
    if sign == '-' then off = -off end
  end
  local t = days(tonumber(y), tonumber(mo), tonumber(d)) * 86400 + tonumber(h) * 3600 + tonumber(mi) * 60 + sec
  return t * 1000 + math.floor(frac * 1000 + 0.5) - off * 60000
end
local current = redis.call('GET', KEYS[1])
if current then
  local ok, doc = pcall(cjson.decode, current)
  if ok and type(doc) == 'table' and type(doc.updated) == 'string' then
    local stored = iso_ms(doc.updated)
    if stored and stored >= tonumber(ARGV[2]) then return 0 end
  end
end
if ARGV[3] ~= '' then
  redis.call('SET', KEYS[1], ARGV[1], 'PXAT', ARGV[3])
else
  redis.call('SET', KEYS[1], ARGV[1])
end
return 1`;

/**
 * Stores an update unless the stored one is as new or newer — one round
 * trip (a Lua script compares the `updated` times on the server).
 *
 * @param redis a link's commands (the script has one key: on a cluster it runs on the key's node)
 * @param key the key (prefix and type)
 * @param update the checked update
 * @param expireAtValid let the key expire at the update's `valid` time
 * @returns true when written, false when stale
 */
export async function writeIfNewer(
  redis: Pick<Commands, "eval">,
  key: string,
  update: KvUpdate,
  expireAtValid: boolean,
): Promise<boolean> {
  const updatedMs = parseIsoTime(update.updated)!;
  const reply = await redis.eval(
    WRITE_IF_NEWER,
    1,
    key,
    update.stored,
    String(updatedMs),
    expireAtValid ? String(update.validAt) : "",
  );
  return reply === 1;
}

/** What `kv_updater.ts --stream` is told by its command line. */
export interface KvStreamOptions extends KvUpdaterOptions {
  /** The stream to consume (`--stream`). */
  stream: string;
  /** The consumer group (`--group`, default `kv_updater`). */
  group: string;
  /** This consumer's name (`--consumer`, default host-pid). */
  consumer: string;
}

/**
 * Runs the stream mode of the KV updater until the shutdown is requested.
 *
 * @param o the parsed options
 * @param io output streams
 * @param shutdown the stop request
 * @returns 0, or 1 when updates taken could not be stored before exit (they stay pending)
 */
export async function runKvStream(o: KvStreamOptions, io: Io, shutdown: Shutdown): Promise<number> {
  const { log, stats } = o;
  stats.stale = 0;
  const writer: WriterStats = newWriterStats();
  // The keys are written through the link (on a cluster, each on its own node); the stream lives on one node (on a
  // cluster, the master of its slot), where the group is read and acknowledged.
  const writes = await o.endpoint.link({
    reporter: log.reporter("writes: "),
    offlineQueue: true,
    autoPipelining: true,
  });
  let reader: Connection | undefined;
  let commands: Connection | undefined;
  let streamNode: NodeRef | undefined;
  let abandoned = 0;
  let consumer: StreamConsumer | undefined;
  let resolveMoved = (_to: string) => {};
  const moved = new Promise<string>((resolve) => (resolveMoved = resolve));
  let stopFollowing = () => Promise.resolve();
  let streamMoved = false;
  try {
    const followed = await writes.nodes({
      open: async (node) => {
        if (streamNode) throw new Error("the stream moved"); // this consumer stops: it is not opened again elsewhere
        streamNode = node;
        const { url, clusterNode } = node;
        reader = await Connection.open({
          url,
          clusterNode,
          reporter: log.reporter("stream: "),
          lossNote: "Nothing is lost: updates wait in the stream and are read when it is back.",
        });
        commands = await Connection.open({
          url,
          clusterNode,
          reporter: log.reporter("stream commands: "),
          offlineQueue: true,
          autoPipelining: true,
        });
        return { close: () => Promise.resolve() }; // closed at the end, whatever moved
      },
      // Its node lost or its slot moved: this consumer stops (run again, it reads the group where it lives now).
      openFailed: (_node, err, first) => {
        if (first) throw err;
      },
      dropped: (_node, _value, _slots, to) => resolveMoved(to[0] ?? ""),
    }, { reporter: log.reporter("stream: "), holding: o.stream });
    let closed: Promise<void> | undefined;
    stopFollowing = () => (closed ??= followed.close());
    const [streamReader, streamCommands] = [reader!, commands!];
    const redis = writes.redis;
    // Refused updates wait here until they are dead-lettered: the consumer reads an entry refused as unreadable again
    // by id, and one damaged in transit comes back from its stored copy, to count once (received, then stored).
    const refused = new Map<string, Rejection>();
    consumer = new StreamConsumer(streamReader.redis, streamCommands.redis, {
      group: o.group,
      consumer: o.consumer,
      from: { kind: "start" },
      rawStreams: {
        [o.stream]: async (payload, { entryId }) => {
          if (!refused.delete(entryId)) stats.received++;
          const parsed = parseUpdate(new TextEncoder().encode(payload), o.maxBytes);
          if (!parsed.ok) {
            const { reason, detail } = parsed.rejection;
            refused.set(entryId, parsed.rejection);
            throw new MalformedEventError(`${reason}: ${detail}`); // to <stream>:dead, acknowledged
          }
          const key = o.prefix + parsed.update.type;
          const written = await writeIfNewer(redis, key, parsed.update, o.expireAtValid);
          if (written) {
            writer.stored++;
            if (o.expireAtValid && parsed.update.validAt <= Date.now()) writer.expiredOnArrival++;
          } else stats.stale!++;
          if (log.enabled("debug")) {
            log.debug(
              written
                ? `persisted "${key}" (updated ${parsed.update.updated}) from ${entryId}`
                : `stale: "${key}" already holds an update as new as ${parsed.update.updated} (${entryId})`,
            );
          }
        },
      },
      reporter: log.reporter(),
      onDeadLetter: ({ originalId }) => {
        const rejection = refused.get(originalId);
        if (!rejection) return; // delivered too many times: not refused by the handler
        refused.delete(originalId);
        stats.rejectAndLog(rejection, log, { entry_id: originalId });
      },
    });
    if (o.ops) o.stats.report(o.ops.metrics, o.stream, () => writer);
    const created = await consumer.start();
    log.info(
      `Consuming stream "${o.stream}" at ${streamReader.address}${
        streamNode!.label ? ` (its master in ${writes.address})` : ""
      } as ${o.consumer} in group ${o.group}` +
        `${created.length ? " (created, from the start)" : ""}; storing each update under "${o.prefix}<type>" ` +
        "when it is newer than the stored one. Press Ctrl+C to stop.",
    );
    o.ops?.readiness.started();
    const timer = new AbortController();
    const figures = o.ops && reportGroupFigures(consumer, streamCommands.redis, o.group, o.ops.metrics, timer.signal);
    const statsLoop = (async () => {
      while (o.statsEveryMs > 0 && !timer.signal.aborted) {
        await delay(o.statsEveryMs, timer.signal);
        if (!timer.signal.aborted) {
          const inFlight = consumer!.inFlight;
          log.write("info", `stats: ${stats.text(writer, inFlight, false)}`, stats.json(writer, inFlight), "stats");
        }
      }
    })();
    const streamMovedTo = await Promise.race([shutdown.requested.then(() => undefined), moved]);
    if (streamMovedTo !== undefined) {
      log.error(
        `The stream "${o.stream}" moved from ${streamNode!.id} to ${streamMovedTo || "no node"} (a failover or a ` +
          `resharding): stopping. Nothing is lost: run kv_updater again and the updates not acknowledged are ` +
          "delivered again (older ones never win).",
      );
      streamMoved = true;
    }
    await stopFollowing();
    timer.abort();
    await Promise.all([statsLoop, figures]);
    log.info("Stopping: no more updates taken; finishing the ones being written…");
    const end = await consumer.shutdown(shutdown.remaining(o.drainMs));
    abandoned = end.abandoned;
    if (abandoned > 0) {
      log.error(
        `${abandoned} update(s) were not stored within --drain-timeout ${o.drainMs / 1000} s: they stay pending in ` +
          `"${o.stream}" and are stored when an updater of group ${o.group} runs again.`,
      );
    }
  } finally {
    await consumer?.shutdown(0);
    await stopFollowing();
    await Promise.all([commands?.close(), reader?.close()]);
    await writes.close();
  }
  const out = new Printer(io.stdout);
  if (o.json) {
    out.event("summary", {
      ...stats.json(writer, 0),
      outages: reader!.outages,
      disconnected_seconds: toSeconds(reader!.downMs),
    });
  } else {
    out.line(`Stopped. ${stats.text(writer, 0, false)}`);
    const lost = reader!.outageSummary("updates appended meanwhile waited in the stream.");
    if (lost) out.line(lost);
  }
  return abandoned > 0 || streamMoved ? ExitCode.Failure : ExitCode.Ok;
}
