import assert from "node:assert/strict";
import { ExitCode } from "../../lib/core/exit_codes.ts";
import { captureIo } from "../harness.ts";

const scripts = [...Deno.readDirSync(new URL("../../scripts/", import.meta.url))]
  .filter((e) => e.isFile && e.name.endsWith(".ts"))
  .map((e) => e.name)
  .sort();

for (const script of scripts) {
  Deno.test(`${script} --help shows USAGE, OPTIONS and EXAMPLES`, async () => {
    const { main } = await import(`../../scripts/${script}`) as {
      main: (args: string[], io: ReturnType<typeof captureIo>) => Promise<number>;
    };
    const io = captureIo();
    assert.equal(await main(["--help"], io), ExitCode.Ok);
    for (const heading of ["USAGE", "OPTIONS", "EXAMPLES"]) assert.match(io.out.text, new RegExp(`^${heading}$`, "m"));
    assert.match(io.out.text, new RegExp(`scripts/${script.replace(".", "\\.")}`));
    const bad = captureIo();
    // check.ts follows the Nagios plugin convention instead of the project's table: bad flags are UNKNOWN (3).
    assert.equal(await main(["--definitely-not-a-flag"], bad), script === "check.ts" ? 3 : ExitCode.Usage);
    assert.match(bad.err.text, /--definitely-not-a-flag/);
  });
}
