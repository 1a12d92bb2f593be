/**
 * The long-running scripts that take `--metrics-port`, each with the
 * arguments that make it do its job on a test's server: what the ops tests
 * run (readiness per script, a real Prometheus scraping them all).
 *
 * @module
 */

/** One long-running script as the ops tests run it. */
export interface LongRunning {
  /** Its name in a test's name. */
  name: string;
  /** Its file under scripts/. */
  file: string;
  /** Its arguments but `--metrics-port`, on the server at `url`, its names under `prefix`. */
  args: (url: string, prefix: string) => string[];
}

/** Every long-running script, wired to lib/ops. */
export const LONG_RUNNING: LongRunning[] = [
  {
    name: "subscriber.ts",
    file: "subscriber.ts",
    args: (url, prefix) => ["--url", url, "--quiet", "--json", `${prefix}news`, "-p", `${prefix}alerts:*`],
  },
  {
    name: "keyspace_listener.ts",
    file: "keyspace_listener.ts",
    args: (url, prefix) => ["--url", url, "--key", `${prefix}ks:*`, "--json"],
  },
  {
    name: "dashboard.ts",
    file: "dashboard.ts",
    args: (url, prefix) => ["--url", url, "--port", "0", "--prefix", prefix],
  },
  {
    name: "kv_updater.ts",
    file: "kv_updater.ts",
    args: (url, prefix) => ["--url", url, "--channel", `${prefix}kv`, "--prefix", prefix, "--json"],
  },
  {
    name: "kv_updater.ts --stream",
    file: "kv_updater.ts",
    args: (url, prefix) => ["--url", url, "--stream", `${prefix}kv`, "--prefix", prefix, "--json"],
  },
  {
    name: "api_server.ts",
    file: "api_server.ts",
    args: (url, prefix) => ["--url", url, "--port", "0", "--channel", `${prefix}kv`, "--prefix", prefix, "--json"],
  },
  {
    name: "event_processor.ts",
    file: "event_processor.ts",
    args: (url) => ["--url", url, "--quiet", "--json", "--publish-stats", "0"],
  },
  {
    name: "event_processor.ts --durable",
    file: "event_processor.ts",
    args: (url, prefix) => [
      "--durable",
      "--url",
      url,
      "--quiet",
      "--json",
      "--group",
      `${prefix}processors`,
      "--publish-stats",
      "0",
    ],
  },
  {
    name: "stream_tail.ts --follow",
    file: "stream_tail.ts",
    args: (url, prefix) => ["--url", url, `${prefix}log`, "--follow", "--json"],
  },
];
