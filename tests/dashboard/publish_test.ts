/**
 * The dashboard's `POST /publish`, without a browser: what is published and
 * answered, and every request another site could make, refused with its
 * status before anything reaches the server.
 */
import assert from "node:assert/strict";
import { handlePublish, MAX_PUBLISH_BYTES, type PublishContext } from "../../lib/dashboard/publish.ts";
import { Logger } from "../../lib/core/log.ts";
import { captureIo, eventually, testClient, testServer } from "../harness.ts";

const BASE = "http://127.0.0.1:8080";

function post(body: string, headers: Record<string, string> = {}, base = BASE): Request {
  return new Request(`${base}/publish`, {
    method: "POST",
    headers: { "content-type": "application/json", origin: base, ...headers },
    body,
  });
}

Deno.test("dashboard POST /publish publishes from the page's own origin and refuses what another site could send", async () => {
  await using server = await testServer();
  await using redis = testClient(server.url);
  await using listener = testClient(server.url);
  const channel = `${server.prefix}demo`;
  const heard: string[] = [];
  listener.on("message", (_c: string, payload: string) => heard.push(payload));
  await listener.subscribe(channel);
  const io = captureIo();
  const context: PublishContext = {
    redis,
    enabled: true,
    log: new Logger(io.stderr, "info"),
    samplerLive: () => false,
  };

  const payload = "<script>alert(1)</script> ✓";
  const ok = await handlePublish(post(JSON.stringify({ channel, payload })), context);
  assert.equal(ok.status, 200);
  assert.deepEqual(await ok.json(), {
    channel,
    receivers: 1,
    sampler: false,
    bytes: new TextEncoder().encode(payload).length,
  });
  await eventually(() => heard.length === 1, "the message");
  assert.equal(heard[0], payload);
  assert.match(io.err.text, /Published 29 byte\(s\) on \S+demo from the page: 1 receiver\(s\)\./);
  // curl and other clients that are not browsers send no Origin: taken.
  const noOrigin = post(JSON.stringify({ channel, payload: "x" }));
  noOrigin.headers.delete("origin");
  assert.equal((await handlePublish(noOrigin, context)).status, 200);

  const refused: [string, Request, number, RegExp][] = [
    ["a form's content type", post(`{"channel":"c","payload":"p"}`, { "content-type": "text/plain" }), 415, /JSON/],
    ["another origin", post("{}", { origin: "http://evil.example" }), 403, /another origin/],
    ["another port", post("{}", { origin: "http://127.0.0.1:9999" }), 403, /another origin/],
    ["another site", post("{}", { "sec-fetch-site": "cross-site" }), 403, /another site/],
    ["too large", post(JSON.stringify({ channel, payload: "x".repeat(MAX_PUBLISH_BYTES) })), 413, /larger than/],
    ["not JSON", post("{channel"), 400, /not UTF-8 JSON/],
    ["no channel", post(JSON.stringify({ payload: "p" })), 400, /"channel" must be/],
    ["a payload not text", post(JSON.stringify({ channel, payload: 5 })), 400, /"payload" must be a text/],
  ];
  for (const [what, request, status, error] of refused) {
    const res = await handlePublish(request, context);
    assert.equal(res.status, status, what);
    assert.match((await res.json()).error, error, what);
  }
  const readOnly = await handlePublish(post(JSON.stringify({ channel, payload })), { ...context, enabled: false });
  assert.equal(readOnly.status, 403);
  assert.match((await readOnly.json()).error, /--read-only/);
  // The host name is not looked at here: the dashboard refuses a name it does not answer to on every route (HostRule).
  const open = await handlePublish(
    post(JSON.stringify({ channel, payload: "y" }), {}, "http://lab.example:8080"),
    context,
  );
  assert.equal(open.status, 200);
  await eventually(() => heard.length === 3, "the other messages");
  assert.deepEqual(heard.slice(1), ["x", "y"], "nothing refused was published");
  await listener.unsubscribe();
});
