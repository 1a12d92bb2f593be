import assert from "node:assert/strict";
import { parse } from "yaml";

interface Service {
  image: string;
  command: string[];
  ports: string[];
  healthcheck: { test: string[] };
}

const compose = parse(await Deno.readTextFile(new URL("../compose.yaml", import.meta.url))) as {
  services: Record<string, Service>;
};

function flag(service: Service, name: string): string | undefined {
  const i = service.command.indexOf(name);
  return i === -1 ? undefined : service.command[i + 1];
}

Deno.test("compose.yaml runs KeyDB from its official image with notifications and a healthcheck", () => {
  assert.deepEqual(Object.keys(compose.services).sort(), ["keydb_01", "keydb_02"]);
  for (const [name, service] of Object.entries(compose.services)) {
    assert.match(service.image, /^eqalpha\/keydb(:|$)/, name);
    assert.equal(service.command[0], "keydb-server", name);
    const events = flag(service, "--notify-keyspace-events") ?? "";
    assert.ok(/[KE]/.test(events) && /[A$g]/.test(events), `${name}: notifications on (${events})`);
    assert.deepEqual(service.healthcheck.test, ["CMD", "keydb-cli", "ping"], name);
  }
});

Deno.test("compose.yaml: keydb_01 on host port 6379, keydb_02 on 6380, active replicas of each other", () => {
  const { keydb_01: one, keydb_02: two } = compose.services;
  assert.deepEqual(one!.ports, ["6379:6379"]);
  assert.deepEqual(two!.ports, ["6380:6379"]);
  for (const [service, peer] of [[one!, "keydb_02"], [two!, "keydb_01"]] as const) {
    assert.equal(flag(service, "--active-replica"), "yes");
    const i = service.command.indexOf("--replicaof");
    assert.deepEqual(service.command.slice(i + 1, i + 3), [peer, "6379"]);
  }
});
