import assert from "node:assert/strict";
import { parse } from "yaml";
import { answersPing, freePort, LocalServer } from "../lib/core/local_server.ts";
import { eventually } from "./harness.ts";

interface Service {
  image: string;
  command: string[];
  ports: string[];
  healthcheck: { test: string[] };
}

const text = await Deno.readTextFile(new URL("../compose.yaml", import.meta.url));
const compose = parse(text) as { services: Record<string, Service> };
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

Deno.test("compose.yaml runs KeyDB from an overridable image, with notifications", () => {
  assert.deepEqual(Object.keys(compose.services).sort(), ["keydb_01", "keydb_02"]);
  for (const [name, service] of Object.entries(compose.services)) {
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
