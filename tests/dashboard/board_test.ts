/**
 * The dashboard's model without a server: what one tick's `state` event holds with many channels, and what the page
 * is sent from one tick to the next.
 */
import assert from "node:assert/strict";
import { Board, type BoardState, CHANNELS_SHOWN, type ConnectionState } from "../../lib/dashboard/board.ts";
import { MessageSampler } from "../../lib/dashboard/sampler.ts";
import type { ServerState } from "../../lib/dashboard/server_state.ts";
import { StateDelta } from "../../lib/dashboard/state_delta.ts";

const CONNECTED: ConnectionState = {
  live: true,
  since: 0,
  subscriberLive: true,
  outages: 0,
  fellBehind: 0,
  restarts: 0,
};
const encoder = new TextEncoder();

function serverWith(activeChannels: number): ServerState {
  return {
    server: "Redis 7.0.15",
    roundTripMs: 0.1,
    memory: "1M",
    clients: 3,
    channels: Array.from({ length: Math.min(100, activeChannels) }, (_, i) => ({ name: `ch:${i}`, subscribers: 1 })),
    activeChannels,
    patterns: 1,
    notify: "",
    stored: [],
    streams: [],
  };
}

/** A sample with `perChannel(i)` messages on channel `ch:<i>`, for `channels` channels. */
function sample(sampler: MessageSampler, channels: number, perChannel: (i: number) => number) {
  for (let i = 0; i < channels; i++) {
    for (let n = perChannel(i); n > 0; n--) sampler.add(encoder.encode(`ch:${i}`), encoder.encode("x"));
  }
  return sampler.take();
}

Deno.test("Board with 10,000 channels lists the 20 busiest and counts the others; the server's own list is not sent", () => {
  const board = new Board(500, "redis://localhost:6379");
  const sampler = new MessageSampler(40);
  const state = board.tick(sample(sampler, 10_000, (i) => i < 5 ? 10 : 1), serverWith(10_000), CONNECTED);
  assert.equal(state.channels.length, CHANNELS_SHOWN);
  assert.deepEqual(state.channels.slice(0, 5).map((c) => c.name), ["ch:0", "ch:1", "ch:2", "ch:3", "ch:4"]);
  assert.equal(state.moreChannels, 10_000 - CHANNELS_SHOWN);
  assert.equal(state.server?.activeChannels, 10_000);
  assert.ok(!("channels" in state.server!), "the server's channel list stays on the dashboard");
  const bytes = encoder.encode(JSON.stringify(state)).length;
  assert.ok(bytes < 8_000, `${bytes} bytes`);
});

Deno.test("Board cuts a long channel name at 200 characters on the page's rows and chart", () => {
  const board = new Board(500, "redis://localhost:6379");
  const sampler = new MessageSampler(40);
  const name = "n".repeat(5000);
  sampler.add(encoder.encode(name), encoder.encode("x"));
  const state = board.tick(sampler.take(), undefined, CONNECTED);
  assert.equal(state.channels[0]!.name, `${"n".repeat(200)}…`);
  assert.equal(state.history.series[1]!.name, `${"n".repeat(200)}…`);
  assert.equal(state.messages[0]!.channel, `${"n".repeat(200)}…`);
});

Deno.test("StateDelta over Board ticks: unchanged parts left out, the chart's point appended as the page does", () => {
  const board = new Board(500, "redis://localhost:6379");
  const sampler = new MessageSampler(40);
  const delta = new StateDelta<BoardState>(["messages", "keyEvents"], { history: (h) => h.series.map((s) => s.name) });
  const server = serverWith(3);
  // The page's merge, as in page.ts: the point appended while the series stay the same, the other parts replaced.
  let page: Record<string, unknown> = {};
  const merge = (d: Record<string, unknown>) => {
    const h = page.history as BoardState["history"] | undefined;
    const point = d.point as BoardState["point"];
    if (!("history" in d) && h) {
      h.times.push(point.time);
      h.series.forEach((s, i) => s.values.push(point.values[i] ?? null));
      while (h.times.length > h.max) (h.times.shift(), h.series.forEach((s) => s.values.shift()));
    }
    page = { ...page, ...structuredClone(d) };
  };
  let full: BoardState | undefined;
  for (let tick = 0; tick < 130; tick++) { // past the chart's 120 points
    full = board.tick(sample(sampler, 3, (i) => (i + 1) * ((tick % 7) + 1)), server, CONNECTED);
    const d = delta.next(full) as Record<string, unknown>;
    if (tick === 0) assert.ok("history" in d && "server" in d && "processors" in d, "the first is whole");
    else {
      assert.ok(!("history" in d), `tick ${tick}: the same series, only the point`);
      for (const part of ["server", "stored", "processors", "address", "publishing"]) {
        assert.ok(!(part in d), `tick ${tick}: ${part} did not change`);
      }
      assert.ok("messages" in d && "keyEvents" in d && "point" in d);
    }
    merge(d);
  }
  assert.deepEqual(page.history, full!.history, "the page's chart is the board's");
  assert.equal(full!.history.times.length, 120);
  // A new channel among the busiest: the chart is sent whole.
  const newcomer = board.tick(sample(sampler, 4, (i) => (i === 3 ? 100 : 1)), server, CONNECTED);
  const d = delta.next(newcomer);
  assert.ok("history" in d);
  assert.deepEqual(delta.full, newcomer);
});
