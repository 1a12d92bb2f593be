import assert from "node:assert/strict";

const scripts = new URL("../../scripts/", import.meta.url);

Deno.test("every script with a shebang is executable, and ./scripts/ping.ts runs as it is", async () => {
  const withShebang: string[] = [];
  for await (const entry of Deno.readDir(scripts)) {
    if (!entry.isFile || !entry.name.endsWith(".ts")) continue;
    const path = new URL(entry.name, scripts);
    if (!(await Deno.readTextFile(path)).startsWith("#!")) continue;
    withShebang.push(entry.name);
    const mode = (await Deno.stat(path)).mode ?? 0;
    assert.equal(mode & 0o111, 0o111, `${entry.name}: chmod +x (mode ${mode.toString(8)})`);
  }
  assert.ok(withShebang.includes("ping.ts") && withShebang.length > 5, withShebang.join(", "));
  const { code, stdout } = await new Deno.Command("./scripts/ping.ts", {
    args: ["--help"],
    cwd: new URL("../..", import.meta.url).pathname,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(code, 0);
  assert.match(new TextDecoder().decode(stdout), /^ping\.ts — /);
});
