import assert from "node:assert/strict";
import { checkUrl, DEFAULT_URL, redactUrl, resolveUrl, scrubSecret } from "../../lib/core/config.ts";
import { UsageError } from "../../lib/core/exit_codes.ts";

Deno.test("resolveUrl() prefers --url, then REDIS_URL, then the default", () => {
  const saved = Deno.env.get("REDIS_URL");
  try {
    Deno.env.set("REDIS_URL", "redis://env-host:6400/1");
    assert.equal(resolveUrl("redis://flag-host:6500"), "redis://flag-host:6500");
    assert.equal(resolveUrl(), "redis://env-host:6400/1");
    Deno.env.delete("REDIS_URL");
    assert.equal(resolveUrl(), DEFAULT_URL);
  } finally {
    if (saved === undefined) Deno.env.delete("REDIS_URL");
    else Deno.env.set("REDIS_URL", saved);
  }
});

Deno.test("resolveUrl() rejects other schemes and bad databases without echoing the password", () => {
  assert.throws(() => resolveUrl("http://u:hunter2@host"), (e: Error) => {
    assert.ok(e instanceof UsageError);
    assert.match(e.message, /redis:\/\/ or rediss:\/\//);
    assert.doesNotMatch(e.message, /hunter2/);
    return true;
  });
  assert.throws(() => resolveUrl("redis://host:6379/abc"), /database "abc" must be a number/);
  assert.throws(() => resolveUrl("not a url"), UsageError);
  assert.equal(resolveUrl("rediss://user:pw@host:6380/2"), "rediss://user:pw@host:6380/2");
  assert.throws(() => checkUrl("http://primary", "--write-url"), /Invalid server URL in --write-url/);
});

Deno.test("redactUrl() hides the password and keeps the rest", () => {
  assert.equal(redactUrl("redis://user:secret@host:6379/0"), "redis://user:***@host:6379/0");
  assert.equal(redactUrl("rediss://:secret@host:6380"), "rediss://:***@host:6380");
  assert.equal(redactUrl("redis://host:6379"), "redis://host:6379");
  assert.equal(redactUrl("redis://user@host"), "redis://user@host");
  // The password runs to the last "@", as URL parsers (and ioredis) read it.
  assert.equal(redactUrl("redis://u:hunter2@secret@127.0.0.1:1"), "redis://u:***@127.0.0.1:1");
  // ioredis takes a password from the query too.
  assert.equal(redactUrl("redis://127.0.0.1:1/0?password=hunter2"), "redis://127.0.0.1:1/0?password=***");
  // Not a valid URL ("/" ends the host): still nothing of the password shows.
  assert.equal(redactUrl("redis://user:s3cr/et@127.0.0.1:1"), "redis://user:***@127.0.0.1:1");
});

Deno.test("scrubSecret() removes a URL's password from any text", () => {
  assert.equal(scrubSecret("auth p%40ss failed for p@ss", "redis://u:p%40ss@h"), "auth *** failed for ***");
  assert.equal(scrubSecret("no s3cr/et here", "redis://user:s3cr/et@127.0.0.1:1"), "no *** here");
  assert.equal(scrubSecret("bad hunter2", "redis://h:1/0?password=hunter2"), "bad ***");
  assert.equal(scrubSecret("nothing here", "redis://h:6379"), "nothing here");
});

Deno.test("checkUrl() trims blanks around a URL and refuses blanks or control characters inside it", () => {
  assert.equal(checkUrl(" redis://:TopSecret99@localhost:6379", "REDIS_URL"), "redis://:TopSecret99@localhost:6379");
  assert.equal(checkUrl("redis://h:6379/0\n", "REDIS_URL"), "redis://h:6379/0");
  assert.equal(checkUrl("\tredis://h:6379 ", "--url"), "redis://h:6379");
  for (const bad of ["redis://:Top Secret@h:6379", "redis://:Top\tSecret@h:6379", "redis://h:63\n79"]) {
    assert.throws(() => checkUrl(bad, "REDIS_URL"), (e: Error) => {
      assert.ok(e instanceof UsageError);
      assert.match(e.message, /contains a blank or a control character; percent-encode it/);
      assert.doesNotMatch(e.message, /Secret|Top/);
      return true;
    });
  }
});

Deno.test("scrubSecret() removes the URL in every form a message may carry it", () => {
  const url = " redis://:Top%20Secret99@localhost:6379";
  for (
    const text of [
      `connect ENOENT ${url}`, // as given, with the space
      `getaddrinfo ENOTFOUND redis://${url}`, // taken for a host name
      `connect ENOENT /${url.trim()}`, // taken for a Unix-socket path
      encodeURIComponent(url), // percent-encoded
      `auth failed for "Top Secret99"`, // decoded
      `auth failed for Top%2520Secret99`, // encoded once more
    ]
  ) {
    const scrubbed = scrubSecret(text, url);
    assert.doesNotMatch(scrubbed, /Top|Secret/, `${text} → ${scrubbed}`);
  }
  assert.equal(scrubSecret(`ENOENT ${url}`, url), "ENOENT redis://:***@localhost:6379");
});
