/**
 * Publishing to a recoverable channel: one server-side script per message
 * numbers it (the channel's next offset), keeps it in the channel's capped
 * history stream and publishes it with its offset and epoch — the three at
 * once, so that no message is in the history and not published, or the
 * other way round.
 *
 * @module
 */
import { formatNumber } from "../core/stats.ts";
import { ReplyError } from "ioredis";
import type { Link } from "../endpoint/link.ts";
import type { BatchSender, Client, Delivery, Outgoing } from "../pubsub/publish.ts";
import { wire } from "../pubsub/publish.ts";
import type { PublishRoute } from "../pubsub/route.ts";
import { noShardedPubSub, shardedUnsupported } from "../pubsub/sharded.ts";
import { historyKeys, type HistoryLimit } from "./history.ts";

/**
 * The script, sent with EVAL each time: EVALSHA with a retry after NOSCRIPT (a restarted server) lets a later
 * message of a pipeline overtake the one sent again. KEYS: the stream, the meta. ARGV: channel, payload, the epoch to
 * take if the meta is missing, `size` or `age`, the limit (messages or ms), PUBLISH or SPUBLISH, and the epoch and
 * offset this publisher last saw (kept as `prev_epoch`/`prev_offset` when the epoch changes, so that a subscriber of
 * the old epoch can tell how many it lost). A new epoch drops any stream left without its meta; `since` is the offset
 * the stream was last started at (what is missing below it went with a deleted stream, not trimmed). The message is
 * published before anything is written: a PUBLISH that fails (SPUBLISH where the server has none) leaves no trace. The last two
 * ARGV, this publisher's id and the message's number in its run, make a message sent again (after an outage left
 * its fate unknown) a no-op returning offset 0 when it went in already: the meta keeps `pub:ID` = the last number.
 */
export const PUBLISH_SCRIPT = `
local epoch = redis.call('HGET', KEYS[2], 'epoch')
local fresh = not epoch
if fresh then epoch = ARGV[3] end
if not fresh and ARGV[9] ~= '' then
  local last = tonumber(redis.call('HGET', KEYS[2], 'pub:' .. ARGV[9]) or '0')
  if tonumber(ARGV[10]) <= last then return {0, epoch, 0} end
end
local offset = fresh and 1 or tonumber(redis.call('HGET', KEYS[2], 'offset')) + 1
local receivers = redis.call(ARGV[6], ARGV[1], '#' .. offset .. '/' .. epoch .. ' ' .. ARGV[2])
if fresh then
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[2], 'epoch', epoch, 'limit', ARGV[4])
  if ARGV[7] ~= '' then redis.call('HSET', KEYS[2], 'prev_epoch', ARGV[7], 'prev_offset', ARGV[8]) end
end
redis.call('HSET', KEYS[2], 'offset', offset)
if ARGV[9] ~= '' then redis.call('HSET', KEYS[2], 'pub:' .. ARGV[9], ARGV[10]) end
local id = offset .. '-0'
if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('HSET', KEYS[2], 'since', offset) end
local limit = tonumber(ARGV[5])
if ARGV[4] == 'size' then
  if limit >= 1000 then
    redis.call('XADD', KEYS[1], 'MAXLEN', '~', limit, id, 'p', ARGV[2])
  else
    redis.call('XADD', KEYS[1], 'MAXLEN', limit, id, 'p', ARGV[2])
  end
else
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  redis.call('XADD', KEYS[1], id, 'p', ARGV[2], 't', now)
  local head = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)
  if tonumber(head[1][2][4]) < now - limit then
    local batch = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 100)
    local keep = id
    for _, e in ipairs(batch) do
      if tonumber(e[2][4]) >= now - limit then keep = e[1]; break end
    end
    redis.call('XTRIM', KEYS[1], 'MINID', keep)
  end
  redis.call('PEXPIRE', KEYS[1], limit)
end
return {offset, epoch, receivers}
`;

/** A random id per process, and a count: each publish offers a new epoch, in case it finds the meta gone. */
const EPOCH_PREFIX = Array.from(crypto.getRandomValues(new Uint8Array(6)), (b) => (b % 36).toString(36)).join("");
let epochCount = 0;

/** What a publisher sent again after an outage left a batch unconfirmed. */
export interface ResentCounts {
  /** Messages sent again. */
  sentAgain: number;
  /** Of those, the ones that had gone in already: not published twice. */
  foundPublished: number;
}

/** The last offset and epoch a publisher saw on each channel. */
type Seen = Map<string, { epoch: string; offset: number }>;

/**
 * The {@linkcode BatchSender} of a recoverable channel: each message through {@linkcode PUBLISH_SCRIPT}, one
 * pipeline per channel (its keys share a slot, so a cluster takes it on one node).
 *
 * @param limit how much history to keep
 * @param sharded SPUBLISH instead of PUBLISH
 * @param resent counts the messages sent again, and those of them that had gone in already
 * @returns the sender; each delivery carries the message's offset and epoch (none, and `resent`, for a message sent
 *   again that had gone in already)
 * @example
 * ```ts ignore
 * const send = historySender({ kind: "size", size: 1000 }, false);
 * const [d] = await send(link.redis, [{ channel: "news", payload: "hi" }]); // d.offset === 1 on a new channel
 * ```
 */
export function historySender(limit: HistoryLimit, sharded: boolean, resent?: ResentCounts): BatchSender {
  const seen: Seen = new Map();
  const mode = limit.kind;
  const amount = String(limit.kind === "size" ? limit.size : limit.ageMs);
  const command = sharded ? "SPUBLISH" : "PUBLISH";
  const publisher = `${EPOCH_PREFIX}.${(++epochCount).toString(36)}`;
  const numbers = new WeakMap<Outgoing, number>(); // the same message sent again keeps its number
  let count = 0;
  const one = (redis: Client | ReturnType<Client["pipeline"]>, m: Outgoing) => {
    const { stream, meta } = historyKeys(m.channel);
    const last = seen.get(m.channel);
    const epoch = `${EPOCH_PREFIX}.${(++epochCount).toString(36)}`;
    let n = numbers.get(m);
    if (n === undefined) numbers.set(m, n = ++count);
    else if (resent) resent.sentAgain++;
    const args = [m.channel, wire(m.payload), epoch, mode, amount, command, last?.epoch ?? "", last?.offset ?? 0];
    return redis.eval(PUBLISH_SCRIPT, 2, stream, meta, ...args, publisher, n);
  };
  const delivery = (channel: string, reply: unknown): Delivery => {
    const [offset, epoch, receivers] = reply as [number, string, number];
    if (Number(offset) === 0) {
      if (resent) resent.foundPublished++;
      return { receivers: 0, epoch: String(epoch), resent: true };
    }
    seen.set(channel, { epoch: String(epoch), offset: Number(offset) });
    return { receivers: Number(receivers), offset: Number(offset), epoch: String(epoch) };
  };
  return async (redis, messages) => {
    if (messages.length === 1) return [delivery(messages[0]!.channel, await one(redis, messages[0]!))];
    const byChannel = new Map<string, number[]>();
    messages.forEach((m, i) => byChannel.set(m.channel, [...byChannel.get(m.channel) ?? [], i]));
    const out: Delivery[] = new Array(messages.length);
    await Promise.all([...byChannel].map(async ([channel, indices]) => {
      const pipeline = redis.pipeline();
      for (const i of indices) one(pipeline, messages[i]!);
      const results = await pipeline.exec() ?? [];
      results.forEach(([err, reply], j) => {
        if (err) throw err;
        out[indices[j]!] = delivery(channel, reply);
      });
    }));
    return out;
  };
}

/** Whether the publish script failed on a command the server does not have (SPUBLISH on KeyDB or Redis < 7). */
function scriptLacksCommand(err: unknown): boolean {
  return err instanceof ReplyError && /Unknown Redis command called from (Lua )?script/i.test((err as Error).message);
}

/**
 * The route of `publisher.ts --history`: every message numbered, kept and published at once.
 *
 * @param link the link to publish over
 * @param limit how much history each channel keeps
 * @param sharded SPUBLISH instead of PUBLISH
 * @returns the route
 */
export function historyRoute(link: Link, limit: HistoryLimit, sharded: boolean): PublishRoute {
  const counts: ResentCounts = { sentAgain: 0, foundPublished: 0 };
  return {
    send: historySender(limit, sharded, counts),
    resent: {
      warnings: (series) => {
        const away: string[] = [];
        if (counts.sentAgain > 0) {
          away.push(
            `${formatNumber(counts.sentAgain)} message(s) unconfirmed when it went away were sent again, ` +
              `${formatNumber(counts.foundPublished)} of them found published already (not published twice)`,
          );
        }
        if (series.delayed > 0) away.push(`${formatNumber(series.delayed)} delayed (sent once it was back)`);
        if (series.skipped > 0) away.push(`${formatNumber(series.skipped)} unconfirmed when you stopped`);
        return away.length > 0 ? [`While the server was away: ${away.join("; ")}.`] : [];
      },
      fields: () => ({ sent_again: counts.sentAgain, found_published: counts.foundPublished }),
    },
    resend: true, // a batch sent again after an outage: what went in already is not published twice
    appends: false,
    keeps: true,
    nodeLocalCount: !sharded && !link.publishCountsAll,
    refusal: (err) =>
      sharded && (noShardedPubSub(err) || scriptLacksCommand(err))
        ? shardedUnsupported(link.address, "SPUBLISH")
        : undefined,
    close: () => Promise.resolve(),
  };
}
