import assert from "node:assert/strict";
import { COMMON_OPTIONS, helpText, parseDuration, parseFlags, type ScriptSpec } from "../../lib/core/cli.ts";
import { EXIT_CODE_SUMMARY, ExitCode, UsageError } from "../../lib/core/exit_codes.ts";

const spec: ScriptSpec = {
  name: "x.ts",
  summary: "does x.",
  usage: ["[--count N]"],
  options: {
    count: { type: "string", arg: "N", help: "how many" },
    config: { type: "boolean", negatable: true, help: "touch CONFIG" },
    tag: { type: "string", short: "t", multiple: true, help: "a tag" },
    ...COMMON_OPTIONS,
  },
  examples: ["x.ts --count 3"],
};

Deno.test("parseFlags() names an unknown flag in its usage error", () => {
  assert.throws(() => parseFlags(spec, ["--colour"]), (e: Error) => {
    assert.ok(e instanceof UsageError);
    assert.match(e.message, /--colour/);
    return true;
  });
  assert.throws(() => parseFlags(spec, ["--no-json"]), /--no-json/);
  assert.throws(() => parseFlags(spec, ["--count"]), /--count/);
  assert.throws(() => parseFlags(spec, ["stray"]), /Unexpected argument "stray"/);
});

Deno.test("Flags accessors validate numbers, durations and repeatable flags", () => {
  const flags = parseFlags(spec, ["--count", "3", "-t", "a", "--tag", "b", "--no-config"]);
  assert.equal(flags.int("count", { min: 1 }), 3);
  assert.deepEqual(flags.list("tag"), ["a", "b"]);
  assert.equal(flags.enabled("config"), false);
  assert.equal(parseFlags(spec, []).enabled("config"), true);
  assert.throws(() => parseFlags(spec, ["--count", "x"]).int("count"), /--count expects a whole number, got "x"/);
  assert.throws(() => parseFlags(spec, ["--count", "0"]).int("count", { min: 1 }), /--count must be at least 1/);
});

Deno.test("parseDuration() reads ms, s, m, h and bare seconds", () => {
  assert.equal(parseDuration("250ms", "--t"), 250);
  assert.equal(parseDuration("2s", "--t"), 2000);
  assert.equal(parseDuration("1.5m", "--t"), 90_000);
  assert.equal(parseDuration("3", "--t"), 3000);
  assert.throws(() => parseDuration("soon", "--timeout"), /--timeout expects a duration/);
  // Timers cannot wait longer than 2^31-1 ms; longer ones would fire at once.
  assert.throws(() => parseDuration("600h", "--heartbeat"), /--heartbeat must be at most 24 days/);
});

Deno.test("helpText() has USAGE, OPTIONS and EXAMPLES", () => {
  const text = helpText(spec);
  for (const heading of ["USAGE", "OPTIONS", "EXAMPLES"]) assert.match(text, new RegExp(`^${heading}$`, "m"));
  assert.match(text, /--\[no-\]config/);
  assert.match(text, /-t, --tag VALUE +a tag \(repeatable\)/);
});

Deno.test("every exit code of the table is in every --help and has a row in docs/reference/exit_codes.md", async () => {
  const codes = Object.values(ExitCode).sort((a, b) => a - b);
  assert.deepEqual(Object.keys(EXIT_CODE_SUMMARY).map(Number), codes);
  const help = helpText(spec).split("Exit codes:")[1]!.replace(/\s+/g, " ");
  for (const code of codes) assert.ok(help.includes(`${code} ${EXIT_CODE_SUMMARY[code]}`), `${code} missing: ${help}`);
  const page = await Deno.readTextFile(new URL("../../docs/reference/exit_codes.md", import.meta.url));
  const rows = [...page.matchAll(/^\| (\d+) +\|/gm)].map((m) => Number(m[1]));
  assert.deepEqual(rows, codes);
});

Deno.test("parseFlags() suggests the nearest flag for an unknown one, and none when nothing is near", () => {
  const cases: [string[], RegExp][] = [
    [["--cuont", "3"], /^Unknown option '--cuont' \(did you mean --count\?\)$/],
    [["--jsno"], /^Unknown option '--jsno' \(did you mean --json\?\)$/],
    [["--tls-ca-file", "x"], /^Unknown option '--tls-ca-file' \(did you mean --tls-ca\?\)$/],
    [["--no-confg"], /^Unknown option '--no-confg' \(did you mean --no-config\?\)$/],
    [["--xyzzy"], /^Unknown option '--xyzzy'$/],
  ];
  for (const [args, message] of cases) {
    assert.throws(() => parseFlags(spec, args), (e: Error) => e instanceof UsageError && message.test(e.message));
  }
});

Deno.test("parseFlags() takes a negative number after a flag as its value, and says how to pass another dash", () => {
  const negative = parseFlags(spec, ["--count", "-5"]);
  assert.throws(() => negative.int("count", { min: 1 }), /: --count must be at least 1, got -5$/);
  assert.equal(parseFlags(spec, ["-t", "-1.5", "--tag", "-.5"]).list("tag").join(" "), "-1.5 -.5");
  assert.throws(
    () => parseFlags(spec, ["--count", "--json"]),
    /: --count needs a value, and the next argument starts with a dash: give it as --count=VALUE$/,
  );
  assert.deepEqual(parseFlags({ ...spec, positionals: true }, ["--", "--count", "-5"]).positionals, ["--count", "-5"]);
});
