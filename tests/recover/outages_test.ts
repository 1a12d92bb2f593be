/**
 * subscriber.ts --recover through 20 outages of random length (0.1–5 s) while
 * a paced publisher sends sequence-numbered messages with publisher.ts's
 * history: server restarts that keep the data, CLIENT KILL, and a paused
 * subscriber dropped for falling behind — it ends with every message once,
 * in order. On a server (Redis, Valkey or KeyDB: the binary first on PATH).
 */
import { ownServerTest, ScriptProcess, testServer } from "../harness.ts";
import { assertAllRecovered, outageClient, pacedThroughOutages, SequencePublisher, waitForSeq } from "./outage_kit.ts";

const OUTAGES = Number(Deno.env.get("RECOVER_OUTAGES") ?? 20);

ownServerTest(
  "subscriber.ts --recover: 20 outages (restarts, CLIENT KILL, dropped for falling behind), every message once and in order",
  async () => {
    await using server = await testServer({ own: true, args: ["--appendonly", "yes"] });
    const channel = `${server.prefix}seq`;
    const admin = outageClient(server.url);
    const redis = outageClient(server.url);
    const pub = new SequencePublisher(redis, channel);
    await using sub = new ScriptProcess("subscriber.ts", [channel, "--recover", "--json", "--url", server.url]);
    const ready = () => sub.err.waitFor(/Listening on/);
    const rounds = { server, admin, publisherClient: redis, proc: sub, pub, ready };
    const kinds = await pacedThroughOutages(OUTAGES, rounds, (last) => waitForSeq(sub, last, 30_000));
    await assertAllRecovered(sub, pub, kinds);
  },
);
