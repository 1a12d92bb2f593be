import assert from "node:assert/strict";
import { parse } from "yaml";
import { answersPing, freePort, LocalServer } from "../lib/core/local_server.ts";
import { parseDuration } from "../lib/core/cli.ts";
import { withTimeout } from "../lib/core/timing.ts";
import { eventually, TextSink } from "./harness.ts";

interface Service {
  image: string;
  command: string[];
  ports: string[];
  healthcheck: { test: string[]; start_period?: string };
  profiles?: string[];
  working_dir?: string;
  volumes?: string[];
  depends_on?: Record<string, { condition: string }>;
  stop_grace_period?: string;
}

const text = await Deno.readTextFile(new URL("../compose.yaml", import.meta.url));
const compose = parse(text) as { services: Record<string, Service>; volumes?: Record<string, unknown> };
const PEERS = { keydb_01: "keydb_02", keydb_02: "keydb_01" } as const;

function flag(service: Service, name: string): string | undefined {
  const i = service.command.indexOf(name);
  return i === -1 ? undefined : service.command[i + 1];
}

/** The shell command of a service's healthcheck (`CMD-SHELL`). */
function healthShell(service: Service): string {
  assert.equal(service.healthcheck.test[0], "CMD-SHELL");
  return service.healthcheck.test[1]!;
}

/** The services `docker compose up` starts: those of no profile. */
const byDefault = Object.fromEntries(Object.entries(compose.services).filter(([, s]) => !s.profiles));

Deno.test("compose.yaml runs KeyDB from an overridable image, with notifications", () => {
  assert.deepEqual(Object.keys(byDefault).sort(), ["keydb_01", "keydb_02"]);
  for (const [name, service] of Object.entries(byDefault)) {
    assert.equal(service.image, "${KEYDB_IMAGE:-eqalpha/keydb:latest}", name);
    assert.equal(service.command[0], "keydb-server", name);
    const events = flag(service, "--notify-keyspace-events") ?? "";
    assert.ok(/[KE]/.test(events) && /[A$g]/.test(events), `${name}: notifications on (${events})`);
  }
  // When to pin which tag, and why.
  for (const said of ["x86_64_v6.3.4", "arm64_v6.3.4", "132", "Snapchat/KeyDB#802"]) {
    assert.ok(text.includes(said), said);
  }
});

Deno.test("compose.yaml publishes on the host's loopback only, on overridable ports, and says how to expose", () => {
  const { keydb_01: one, keydb_02: two } = compose.services;
  assert.deepEqual(one!.ports, ["127.0.0.1:${KEYDB_PORT_1:-6379}:6379"]);
  assert.deepEqual(two!.ports, ["127.0.0.1:${KEYDB_PORT_2:-6380}:6379"]);
  for (const said of ["--requirepass", "--masterauth", "REDISCLI_AUTH"]) assert.ok(text.includes(said), said);
});

Deno.test("compose.yaml: active replicas of each other; each healthcheck needs the node's replication link up", () => {
  for (const [name, peer] of Object.entries(PEERS)) {
    const service = compose.services[name]!;
    assert.equal(flag(service, "--active-replica"), "yes");
    const i = service.command.indexOf("--replicaof");
    assert.deepEqual(service.command.slice(i + 1, i + 3), [peer, "6379"]);
    const shell = healthShell(service);
    assert.match(shell, /^keydb-cli info replication \| grep -q '\^master_link_status:up'$/, name);
  }
});

const keydb = await hasCommands("keydb-server", "keydb-cli");

Deno.test({
  name: "compose.yaml's commands start real KeyDB nodes; the healthcheck fails alone and passes once linked",
  ignore: !keydb,
  async fn() {
    const ports = { keydb_01: await freePort(), keydb_02: await freePort() };
    /** The service's command as given, minus keydb-server and the image's config file, its peer on loopback. */
    const args = (name: keyof typeof PEERS) => {
      const command = compose.services[name]!.command.slice(2);
      const at = command.indexOf("--replicaof");
      command.splice(at + 1, 2, "127.0.0.1", String(ports[PEERS[name]]));
      return command;
    };
    const healthy = async (name: keyof typeof PEERS) => {
      const shell = healthShell(compose.services[name]!).replace("keydb-cli", `keydb-cli -p ${ports[name]}`);
      return (await new Deno.Command("sh", { args: ["-c", shell], stdout: "null", stderr: "null" }).output()).success;
    };
    await using one = await LocalServer.start({ binary: "keydb-server", port: ports.keydb_01, args: args("keydb_01") });
    assert.ok(await answersPing(one.port));
    assert.equal(await healthy("keydb_01"), false, "alone: its link to keydb_02 is down");
    await using _two = await LocalServer.start({
      binary: "keydb-server",
      port: ports.keydb_02,
      args: args("keydb_02"),
    });
    await eventually(() => healthy("keydb_01"), "keydb_01's healthcheck to pass");
    await eventually(() => healthy("keydb_02"), "keydb_02's healthcheck to pass");
  },
});

async function hasCommands(...names: string[]): Promise<boolean> {
  for (const name of names) {
    const found = await new Deno.Command("sh", { args: ["-c", `command -v ${name}`], stdout: "null" }).output();
    if (!found.success) return false;
  }
  return true;
}

// ---- The chain profile ----

const CHAIN = { kv_updater: "kv_updater.ts", api_server: "api_server.ts", event_processor: "event_processor.ts" };
/** Each script's own shutdown deadline when its command does not set it, in seconds. */
const DEADLINE_FLAGS = { kv_updater: "--drain-timeout", api_server: undefined, event_processor: "--shutdown-timeout" };
/** api_server's stop: the event streams closed, HTTP connections waited for at most 2 s. */
const API_SERVER_STOP_S = 2;

const seconds = (text: string) => parseDuration(text, "a duration");

/** The metrics port given to a service's command. */
function metricsPort(service: Service): string {
  const port = flag(service, "--metrics-port");
  assert.ok(port, "--metrics-port");
  return port;
}

Deno.test("compose.yaml's chain profile: kv_updater, api_server and event_processor --durable on the Deno 2 image", () => {
  for (const [name, script] of Object.entries(CHAIN)) {
    const service = compose.services[name]!;
    assert.deepEqual(service.profiles, ["chain"], name);
    assert.match(service.image, /^\$\{DENO_IMAGE:-denoland\/deno:2\.\d+\.\d+\}$/, `${name}: pinned to a 2.x tag`);
    assert.equal(service.working_dir, "/app");
    assert.ok(service.volumes?.includes("./:/app:ro"), `${name}: the project mounted`);
    assert.deepEqual(service.command.slice(0, 5), ["deno", "run", "-A", "--frozen", `scripts/${script}`], name);
    assert.equal(flag(service, "--url"), "redis://keydb_01:6379", name);
    assert.equal(flag(service, "--metrics-host"), "0.0.0.0", `${name}: reachable through its published port`);
  }
  assert.ok(compose.services.event_processor!.command.includes("--durable"));
  assert.ok(compose.volumes && "deno_dir" in compose.volumes);
});

Deno.test("compose.yaml's chain: healthchecks on /readyz, started once what it needs is healthy, ports on loopback", () => {
  const ports = new Set<string>();
  for (const name of Object.keys(CHAIN)) {
    const service = compose.services[name]!;
    assert.deepEqual(service.healthcheck.test, [
      "CMD",
      ...["deno", "run", "--allow-net", "lib/ops/probe.ts", `http://127.0.0.1:${metricsPort(service)}/readyz`],
    ]);
    assert.ok(seconds(service.healthcheck.start_period ?? "0s") >= 30_000, `${name}: time to download the packages`);
    assert.equal(service.depends_on?.keydb_01?.condition, "service_healthy", name);
    for (const dep of Object.values(service.depends_on ?? {})) assert.equal(dep.condition, "service_healthy");
    for (const published of service.ports) {
      assert.match(published, /^127\.0\.0\.1:\d+:\d+$/, `${name}: ${published} on the host's loopback only`);
      assert.ok(!ports.has(published), `${published} twice`);
      ports.add(published);
    }
    assert.ok(service.ports.some((p) => p.endsWith(`:${metricsPort(service)}`)), `${name}: metrics port published`);
  }
  assert.ok(compose.services.api_server!.ports.includes("127.0.0.1:8000:8000"));
  assert.equal(compose.services.api_server!.depends_on?.kv_updater?.condition, "service_healthy");
});

Deno.test("compose.yaml's chain: each stop grace period is longer than the script's own shutdown deadline", () => {
  for (const [name, deadlineFlag] of Object.entries(DEADLINE_FLAGS)) {
    const service = compose.services[name]!;
    const grace = seconds(service.stop_grace_period ?? "10s");
    const deadline = deadlineFlag ? seconds(flag(service, deadlineFlag)!) : API_SERVER_STOP_S * 1000;
    assert.ok(grace > deadline, `${name}: stop_grace_period ${grace} ms, its deadline ${deadline} ms`);
  }
});

Deno.test({
  name: "compose.yaml's chain commands, run without Docker against a local server: healthy in order, stopped in time",
  async fn() {
    await using server = await LocalServer.start({ notifications: "KEA" });
    const root = new URL("..", import.meta.url).pathname;
    const ports = new Map<string, string>();
    for (const name of Object.keys(CHAIN)) {
      for (const published of compose.services[name]!.ports) {
        ports.set(published.split(":").at(-1)!, String(await freePort()));
      }
    }
    /** A command of compose.yaml as it runs here: this deno, the local server, free ports, loopback addresses. */
    const here = (command: string[]) =>
      command.map((word, i) =>
        i === 0 && word === "deno"
          ? Deno.execPath()
          : word === "redis://keydb_01:6379"
          ? server.url
          : word === "0.0.0.0"
          ? "127.0.0.1"
          : ports.get(word) ?? word.replace(/:(\d+)\//, (m, p) => ports.has(p) ? `:${ports.get(p)}/` : m)
      );
    const healthy = async (name: string) => {
      const [cmd, ...args] = here(compose.services[name]!.healthcheck.test.slice(1));
      const { success } = await new Deno.Command(cmd!, { args, cwd: root, stdout: "null", stderr: "null" }).output();
      return success;
    };
    const running = new Map<string, { child: Deno.ChildProcess; err: TextSink }>();
    try {
      const started = new Set<string>();
      while (started.size < Object.keys(CHAIN).length) {
        const next = Object.keys(CHAIN).find((name) =>
          !started.has(name) &&
          Object.keys(compose.services[name]!.depends_on ?? {}).every((d) => d.startsWith("keydb") || started.has(d))
        )!;
        for (const dep of Object.keys(compose.services[next]!.depends_on ?? {})) {
          if (!dep.startsWith("keydb")) await eventually(() => healthy(dep), `${dep} healthy before ${next}`, 30_000);
        }
        const [cmd, ...args] = here(compose.services[next]!.command);
        const child = new Deno.Command(cmd!, { args, cwd: root, stdin: "null", stdout: "null", stderr: "piped" })
          .spawn();
        const err = new TextSink();
        void (async () => {
          for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) err.push(chunk);
        })();
        running.set(next, { child, err });
        started.add(next);
      }
      for (const name of Object.keys(CHAIN)) {
        await eventually(() => healthy(name), `${name}'s healthcheck (stderr: ${running.get(name)!.err.text})`, 30_000);
      }
      for (const [name, { child, err }] of running) {
        child.kill("SIGTERM");
        const grace = seconds(compose.services[name]!.stop_grace_period!);
        const status = await withTimeout(child.status, grace, () => new Error(`${name} still running: ${err.text}`));
        assert.equal(status.code, 0, `${name}: ${err.text}`);
      }
    } finally {
      for (const { child } of running.values()) {
        try {
          child.kill("SIGKILL");
        } catch {
          // already exited
        }
        await child.status;
      }
    }
  },
});
