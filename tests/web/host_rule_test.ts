import assert from "node:assert/strict";
import { HostRule } from "../../lib/web/host_rule.ts";
import { serveOrExplain } from "../../lib/web/listen.ts";
import { UsageError } from "../../lib/core/exit_codes.ts";
import { Logger } from "../../lib/core/log.ts";
import { captureIo } from "../harness.ts";
import { rawHttp } from "../raw_http.ts";

Deno.test("HostRule allows localhost, IP addresses, the --host name, this machine's name and --allowed-host names", () => {
  const rule = new HostRule("dash.internal", ["lab.example", ".class.test"]);
  const allowed = [
    "localhost",
    "LocalHost.",
    "app.localhost",
    "127.0.0.1",
    "10.1.2.3",
    "[::1]",
    "[fe80::1]",
    "dash.internal",
    "lab.example",
    "LAB.EXAMPLE",
    "class.test",
    "pc7.class.test",
    Deno.hostname(),
  ];
  for (const name of allowed) assert.ok(rule.allows(name), name);
  const refused = [
    "evil.example",
    "localhost.evil.example",
    "127.0.0.1.nip.io",
    "sub.lab.example",
    "notclass.test",
    "lab.example.evil.example",
    "",
  ];
  for (const name of refused) assert.ok(!rule.allows(name), name);
  // Listening everywhere changes nothing: the machine's addresses are IP addresses, its name is allowed.
  assert.ok(!new HostRule("0.0.0.0").allows("evil.example"));
  assert.ok(new HostRule("::").allows("[2001:db8::5]"));
});

Deno.test("HostRule refuses with a 403 in plain text naming the flag, logs each name once, and answers a request without Host", async () => {
  const io = captureIo();
  const rule = new HostRule("127.0.0.1", [], new Logger(io.stderr, "info"));
  const refused = rule.refusal(new Request("http://attacker.com:8000/kv", { headers: { host: "attacker.com:8000" } }));
  assert.equal(refused?.status, 403);
  assert.equal(refused?.headers.get("content-type"), "text/plain; charset=utf-8");
  assert.equal(
    await refused?.text(),
    'Host "attacker.com" is not allowed: this server answers under its own address (localhost, an IP address) and ' +
      "names given with --allowed-host. To reach it as attacker.com, start it with --allowed-host attacker.com.\n",
  );
  rule.refusal(new Request("http://attacker.com:8000/events", { headers: { host: "attacker.com:8000" } }));
  assert.equal(io.err.count(/Refused a request for host "attacker\.com" \(403\)/), 1, io.err.text);
  assert.equal(
    rule.refusal(new Request("http://localhost:8000/kv", { headers: { host: "localhost:8000" } })),
    undefined,
  );
  assert.equal(rule.refusal(new Request("http://localhost/kv")), undefined, "no Host header: not a browser");
});

Deno.test("HostRule refuses an --allowed-host that is not a host name", () => {
  for (const bad of ["http://lab.example", "lab.example:8000", "lab.example/x", "a b", "", ".", "user@lab.example"]) {
    assert.throws(() => new HostRule("127.0.0.1", [bad]), UsageError, bad);
  }
});

Deno.test("serveOrExplain applies the host rule before the handler, on every route", async () => {
  let handled = 0;
  const server = serveOrExplain(
    { port: 0, hostname: "127.0.0.1", hosts: new HostRule("127.0.0.1"), onListen: () => {} },
    () => (handled++, new Response("data")),
  );
  try {
    const base = `http://127.0.0.1:${(server.addr as Deno.NetAddr).port}`;
    for (const path of ["/", "/anything", "/events"]) {
      assert.equal((await rawHttp(base, path, { host: "evil.example" })).status, 403);
    }
    assert.equal(handled, 0);
    assert.equal((await rawHttp(base, "/", { host: "localhost" })).body, "data");
    assert.equal((await rawHttp(base, "/", { host: null })).body, "data", "HTTP/1.0, no Host");
  } finally {
    await server.shutdown();
  }
});
