/**
 * ChannelRecovery on a real server's history: live messages that pour in
 * during a recovery are held up to MAX_HELD, the rest read back from the
 * history, every message delivered once and in order.
 */
import assert from "node:assert/strict";
import { closeClient, testClient, testServer } from "../harness.ts";
import { historySender } from "../../lib/recover/history_publisher.ts";
import { historyExists, readMeta, readRange } from "../../lib/recover/history_reader.ts";
import { ChannelRecovery, MAX_HELD } from "../../lib/recover/recovery.ts";

Deno.test("ChannelRecovery: more live messages than it holds during a recovery, each delivered once in order", async () => {
  await using server = await testServer();
  const redis = testClient(server.url);
  try {
    const channel = `${server.prefix}flood`;
    const total = MAX_HELD * 2 + 500;
    const send = historySender({ kind: "size", size: 100_000 }, false);
    for (let n = 0; n < total; n += 1000) {
      const batch = Array.from(
        { length: Math.min(1000, total - n) },
        (_, i) => ({ channel, payload: `s${n + i + 1}` }),
      );
      await send(redis, batch);
    }
    const meta = (await readMeta(redis, channel))!;
    const source = {
      meta: (c: string) => readMeta(redis, c),
      range: (c: string, from: number, to: number, count: number) => readRange(redis, c, from, to, count),
      exists: (c: string) => historyExists(redis, c),
    };
    const delivered: number[] = [];
    const r = new ChannelRecovery(channel, source, (m) => delivered.push(m.offset), () => {});
    r.begin({ ...meta, offset: 0 });
    const recovering = r.recover();
    const payload = new Uint8Array();
    for (let offset = 1; offset <= total; offset++) r.live({ offset, epoch: meta.epoch, payload }); // all during it
    await recovering;
    assert.equal(delivered.length, total);
    assert.ok(delivered.every((o, i) => o === i + 1), "in order, once");
    assert.equal(r.recovered + r.duplicates >= total, true);
  } finally {
    await closeClient(redis);
  }
});
