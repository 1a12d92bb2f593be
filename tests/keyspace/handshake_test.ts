import assert from "node:assert/strict";
import { isReadOnlyError } from "../../lib/keyspace/handshake.ts";

Deno.test("isReadOnlyError() finds READONLY on its own and wrapped in a script error (Redis 6, KeyDB)", () => {
  assert.ok(isReadOnlyError("READONLY You can't write against a read only replica."));
  assert.ok(
    isReadOnlyError(
      "ERR Error running script (call to f_5b2b0e1f): @user_script:5: @user_script: 5: " +
        "-READONLY You can't write against a read only replica.",
    ),
  );
  assert.ok(!isReadOnlyError("ERR unknown command 'EVALSHA'"));
  assert.ok(!isReadOnlyError("NOPERM this user has no permissions to access the key"));
  assert.ok(!isReadOnlyError("ERR value is not READONLYISH"));
});
