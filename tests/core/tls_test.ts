/**
 * `rediss://` against a real TLS server whose certificate comes from a
 * private CA made here with openssl: trusted with `--tls-ca` or
 * `REDIS_TLS_CA`, accepted unchecked with `--tls-insecure` (with a warning),
 * and each mismatch (untrusted certificate, plain URL at the TLS port, TLS URL
 * at the plain port) named as what it is.
 *
 * @module
 */
import assert from "node:assert/strict";
import { ExitCode } from "../../lib/core/exit_codes.ts";
import { freePort } from "../../lib/core/local_server.ts";
import { resolveTls } from "../../lib/core/tls.ts";
import { main as ping } from "../../scripts/ping.ts";
import { main as publisher } from "../../scripts/publisher.ts";
import { captureIo, ownServerTest, ScriptProcess, type TestServer, testServer } from "../harness.ts";

/** A CA and a certificate for 127.0.0.1 and localhost signed by it, in a temp dir removed on dispose. */
interface Certificates extends AsyncDisposable {
  dir: string;
  ca: string;
  cert: string;
  key: string;
}

async function openssl(dir: string, ...args: string[]): Promise<void> {
  const { code, stderr } = await new Deno.Command("openssl", { args, cwd: dir, stdout: "null", stderr: "piped" })
    .output();
  if (code !== 0) throw new Error(`openssl ${args[0]} failed: ${new TextDecoder().decode(stderr)}`);
}

async function makeCertificates(): Promise<Certificates> {
  const dir = await Deno.makeTempDir({ prefix: "pubsub-lab-tls-" });
  const remove = () => Deno.remove(dir, { recursive: true });
  try {
    const days = ["-days", "2"];
    await openssl(
      dir,
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      "ca.key",
      "-out",
      "ca.pem",
      ...days,
      "-subj",
      "/CN=pubsub-lab test CA",
    );
    await openssl(
      dir,
      "req",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      "server.key",
      "-out",
      "server.csr",
      "-subj",
      "/CN=localhost",
    );
    await Deno.writeTextFile(`${dir}/ext.cnf`, "subjectAltName=DNS:localhost,IP:127.0.0.1\n");
    await openssl(
      dir,
      "x509",
      "-req",
      "-in",
      "server.csr",
      "-CA",
      "ca.pem",
      "-CAkey",
      "ca.key",
      "-CAcreateserial",
      "-out",
      "server.pem",
      ...days,
      "-extfile",
      "ext.cnf",
    );
  } catch (err) {
    await remove();
    throw err;
  }
  return {
    dir,
    ca: `${dir}/ca.pem`,
    cert: `${dir}/server.pem`,
    key: `${dir}/server.key`,
    [Symbol.asyncDispose]: remove,
  };
}

/** A server with a plain port (for the harness's ready check) and a TLS port. */
async function tlsServer(certs: Certificates): Promise<{ server: TestServer; tlsPort: number; plainPort: number }> {
  const tlsPort = await freePort();
  const server = await testServer({
    own: true,
    args: [
      "--tls-port",
      String(tlsPort),
      "--tls-cert-file",
      certs.cert,
      "--tls-key-file",
      certs.key,
      "--tls-ca-cert-file",
      certs.ca,
      "--tls-auth-clients",
      "no",
    ],
  });
  return { server, tlsPort, plainPort: server.local!.port };
}

ownServerTest(
  "rediss:// with a private CA: trusted with --tls-ca or REDIS_TLS_CA, named as untrusted without",
  async (t) => {
    await using certs = await makeCertificates();
    const { server, tlsPort, plainPort } = await tlsServer(certs);
    await using _server = server;
    const tlsUrl = `rediss://127.0.0.1:${tlsPort}`;

    await t.step("untrusted: one line saying so and what to pass, exit 3", async () => {
      const io = captureIo();
      assert.equal(await ping(["--url", tlsUrl], io), ExitCode.Connect, io.err.text);
      assert.match(
        io.err.text,
        /error: Cannot connect to rediss:\/\/127\.0\.0\.1:\d+: the server's TLS certificate is not trusted/,
      );
      assert.match(io.err.text, /--tls-ca FILE \(or REDIS_TLS_CA\), or --tls-insecure/);
      assert.doesNotMatch(io.err.text, /docker compose/);
    });

    await t.step("--tls-ca FILE: connects and checks", async () => {
      const io = captureIo();
      assert.equal(await ping(["--url", tlsUrl, "--tls-ca", certs.ca], io), ExitCode.Ok, io.err.text + io.out.text);
      assert.doesNotMatch(io.err.text, /tls-insecure/);
    });

    await t.step("--tls-ca FILE also for a name in the certificate (localhost)", async () => {
      const io = captureIo();
      const url = `rediss://localhost:${tlsPort}`;
      assert.equal(await publisher(["--url", url, "--tls-ca", certs.ca, "tls:ch", "hi"], io), ExitCode.Ok, io.err.text);
    });

    await t.step(
      "publisher --repeat publishes over TLS too (its own socket: same CA, same name, or --tls-insecure)",
      async () => {
        for (
          const [url, flag] of [[`rediss://localhost:${tlsPort}`, ["--tls-ca", certs.ca]], [tlsUrl, ["--tls-insecure"]]]
        ) {
          const io = captureIo();
          const args = [
            "--url",
            url as string,
            ...flag as string[],
            "tls:bulk",
            "m {{n}}",
            "--repeat",
            "3000",
            "--quiet",
            "--json",
          ];
          assert.equal(await publisher(args, io), ExitCode.Ok, io.err.text);
          assert.equal(JSON.parse(io.out.text.trim().split("\n").at(-1)!).published, 3000);
        }
      },
    );

    await t.step("REDIS_TLS_CA, in a real process", async () => {
      await using p = new ScriptProcess("ping.ts", ["--url", tlsUrl], { REDIS_TLS_CA: certs.ca });
      assert.equal(await p.exit(), ExitCode.Ok, p.err.text + p.out.text);
    });

    await t.step("--tls-insecure: connects, and says every run what it gives up", async () => {
      const io = captureIo();
      assert.equal(await ping(["--url", tlsUrl, "--tls-insecure"], io), ExitCode.Ok, io.err.text);
      assert.match(io.err.text, /--tls-insecure: the server's TLS certificate is not checked/);
    });

    await t.step("a CA file that is not there, or not a certificate: usage error", async () => {
      const missing = captureIo();
      assert.equal(await ping(["--url", tlsUrl, "--tls-ca", `${certs.dir}/nope.pem`], missing), ExitCode.Usage);
      assert.match(missing.err.text, /Cannot read the CA certificate ".*nope\.pem" given in --tls-ca/);
      const notPem = captureIo();
      assert.equal(await ping(["--url", tlsUrl, "--tls-ca", `${certs.dir}/ext.cnf`], notPem), ExitCode.Usage);
      assert.match(notPem.err.text, /holds no PEM certificate/);
    });

    await t.step("redis:// at the TLS port: named as a TLS port, with the rediss:// advice", async () => {
      const io = captureIo();
      assert.equal(await ping(["--url", `redis://127.0.0.1:${tlsPort}`], io), ExitCode.Connect, io.err.text);
      assert.match(io.err.text, /that port speaks TLS, and the URL says redis:\/\/ \(plain text\)\.\nUse rediss:\/\//);
      assert.doesNotMatch(io.err.text, /docker compose|EPIPE|ECONNRESET|without a word/);
    });

    await t.step("rediss:// at the plain port: probably not a TLS port, within --timeout", async () => {
      const io = captureIo();
      const started = Date.now();
      const url = `rediss://127.0.0.1:${plainPort}`;
      assert.equal(
        await ping(["--url", url, "--tls-ca", certs.ca, "--timeout", "1s"], io),
        ExitCode.Connect,
        io.err.text,
      );
      assert.ok(Date.now() - started < 3000, `took ${Date.now() - started} ms`);
      assert.match(io.err.text, /did not answer the TLS handshake within 1 s: probably not a TLS port/);
      assert.match(io.err.text, /Use redis:\/\/ for a plain-text port/);
    });
  },
);

Deno.test("resolveTls(): --tls-insecure beats REDIS_TLS_CA, but not --tls-ca given with it", () => {
  const saved = Deno.env.get("REDIS_TLS_CA");
  try {
    Deno.env.set("REDIS_TLS_CA", "/nonexistent/ca.pem");
    assert.deepEqual(resolveTls(undefined, true), { insecure: true });
    assert.throws(
      () => resolveTls(undefined, false),
      /Cannot read the CA certificate "\/nonexistent\/ca\.pem" given in REDIS_TLS_CA/,
    );
    assert.throws(() => resolveTls("/x.pem", true), /--tls-ca and --tls-insecure contradict each other/);
  } finally {
    if (saved === undefined) Deno.env.delete("REDIS_TLS_CA");
    else Deno.env.set("REDIS_TLS_CA", saved);
  }
});
