/**
 * A real Prometheus (Debian's `prometheus`) for the ops tests: started on
 * loopback with a scrape config naming the targets, every second; asked
 * through its HTTP API; stopped and its files removed at the end.
 *
 * @module
 */
import assert from "node:assert/strict";
import { freePort } from "../../lib/core/local_server.ts";
import { eventually, TextSink } from "../harness.ts";

const PROMETHEUS = "prometheus";

/** Whether a prometheus binary is on PATH. */
export const prometheusFound: boolean =
  (await new Deno.Command("sh", { args: ["-c", `command -v ${PROMETHEUS}`], stdout: "null" }).output()).success;

/** Whether a test that needs it is ignored here (it runs in CI, where a missing binary fails it). */
export const prometheusIgnored: boolean = !prometheusFound && Deno.env.get("CI") !== "true";

/** One series of an instant query: its labels and value. */
export interface Series {
  /** Its labels (with `instance` and `job`). */
  metric: Record<string, string>;
  /** Its value. */
  value: number;
}

/** A running Prometheus. */
export interface Prometheus extends AsyncDisposable {
  /** One instant query: its series. */
  query(promql: string): Promise<Series[]>;
  /** Waits until every target was scraped successfully at least once after this call (`up` is 1 at a later time). */
  scrapedAll(): Promise<void>;
}

/**
 * Starts Prometheus scraping `targets` (`host:port`) every second, as the job `lab_service`, and waits until it is
 * ready.
 *
 * @param targets the `host:port` of each service
 * @returns the running Prometheus; dispose it to stop it
 */
export async function startPrometheus(targets: string[]): Promise<Prometheus> {
  const dir = await Deno.makeTempDir({ prefix: "prometheus-test-" });
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  await Deno.writeTextFile(
    `${dir}/prometheus.yml`,
    [
      "global:",
      "  scrape_interval: 1s",
      "  scrape_timeout: 1s",
      "scrape_configs:",
      "  - job_name: lab_service",
      "    static_configs:",
      `      - targets: [${targets.map((t) => `"${t}"`).join(", ")}]`,
      "",
    ].join("\n"),
  );
  const child = new Deno.Command(PROMETHEUS, {
    args: [
      `--config.file=${dir}/prometheus.yml`,
      `--storage.tsdb.path=${dir}/data`,
      `--web.listen-address=127.0.0.1:${port}`,
      "--log.level=warn",
    ],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const log = new TextSink();
  const pumped = (async () => {
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) log.push(chunk);
  })();
  const stop = async () => {
    child.kill("SIGTERM");
    await child.status;
    await pumped;
    await Deno.remove(dir, { recursive: true });
  };
  const query = async (promql: string): Promise<Series[]> => {
    const res = await fetch(`${base}/api/v1/query?query=${encodeURIComponent(promql)}`);
    const body = await res.json() as {
      status: string;
      data: { result: { metric: Record<string, string>; value: [number, string] }[] };
    };
    assert.equal(body.status, "success", JSON.stringify(body));
    return body.data.result.map((r) => ({ metric: r.metric, value: Number(r.value[1]) }));
  };
  try {
    await eventually(
      () => fetch(`${base}/-/ready`).then((r) => (r.body?.cancel(), r.ok), () => false),
      `Prometheus to be ready (its log: ${log.text})`,
      20_000,
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    query,
    async scrapedAll() {
      const after = Date.now() / 1000;
      // `timestamp(up)` is when the last scrape of the target began: one begun after `after` read values from then.
      await eventually(
        async () => {
          const ups = await query('timestamp(up{job="lab_service"} == 1)');
          return ups.length === targets.length && ups.every((s) => s.value > after);
        },
        `a successful scrape of every target (${targets.join(", ")}) after now`,
        20_000,
      );
    },
    [Symbol.asyncDispose]: stop,
  };
}

/**
 * The value of one series in Prometheus text, e.g. `pubsub_lab_ready` or `m_total{channel="news"}`.
 *
 * @param text the exposition
 * @param series the series as it is written there
 * @returns its value, or undefined when it is not there
 */
export function sample(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(series + " "));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}
