/**
 * The house rules of docs/reference/layout.md, checked on the source: lib/'s folders depend one way, each folder's
 * mod.ts is its complete face, only lib/endpoint asks whether the target is a cluster, and only the ioredis door
 * reaches past ioredis's public API or casts through `unknown`.
 */
import assert from "node:assert/strict";

const LIB = new URL("../lib/", import.meta.url);
const SCRIPTS = new URL("../scripts/", import.meta.url);

/** Every .ts file under `dir`, as paths relative to it. */
function tsFiles(dir: URL, prefix = ""): string[] {
  const out: string[] = [];
  for (const entry of Deno.readDirSync(dir)) {
    if (entry.isDirectory) out.push(...tsFiles(new URL(`${entry.name}/`, dir), `${prefix}${entry.name}/`));
    else if (entry.name.endsWith(".ts")) out.push(`${prefix}${entry.name}`);
  }
  return out.sort();
}

const libFiles = tsFiles(LIB);
const folders = [...new Set(libFiles.map((f) => f.split("/")[0]!))];
const source = (f: string, base = LIB) => Deno.readTextFileSync(new URL(f, base));

/** Which folders each folder of lib/ imports from. */
function folderGraph(): Map<string, Set<string>> {
  const graph = new Map<string, Set<string>>(folders.map((f) => [f, new Set()]));
  for (const file of libFiles) {
    const from = file.split("/")[0]!;
    for (const m of source(file).matchAll(/(?:from|import)\s*\(?\s*"\.\.\/([a-z_]+)\//g)) {
      if (m[1] !== from) graph.get(from)!.add(m[1]!);
    }
  }
  return graph;
}

Deno.test("lib/'s folders depend one way: no folder reaches itself through the folders it imports", () => {
  const graph = folderGraph();
  const cycles: string[] = [];
  for (const start of folders) {
    const path: string[] = [];
    const visit = (folder: string) => {
      for (const next of graph.get(folder) ?? []) {
        if (next === start) {
          cycles.push([start, ...path, folder, start].filter((f, i, a) => a[i - 1] !== f).join(" → "));
        } else if (!path.includes(next)) {
          path.push(next);
          visit(next);
          path.pop();
        }
      }
    };
    visit(start);
  }
  assert.deepEqual(cycles, []);
  assert.ok(graph.get("pubsub")!.size > 0 && !graph.get("pubsub")!.has("endpoint"), "lib/pubsub is under lib/endpoint");
});

Deno.test("each lib/<folder>/mod.ts is its folder's complete face: every export of every module, by the same name", async () => {
  const missing: string[] = [];
  for (const folder of folders) {
    const face = await import(new URL(`${folder}/mod.ts`, LIB).href);
    for (const file of libFiles.filter((f) => f.startsWith(`${folder}/`) && !f.endsWith("/mod.ts"))) {
      if (file.split("/").length > 2) continue; // a sub-folder's files come through their own module
      const module = await import(new URL(file, LIB).href);
      for (const name of Object.keys(module)) {
        if (face[name] !== module[name]) missing.push(`${file}: ${name}`);
      }
    }
  }
  assert.deepEqual(missing, [], "exports that lib/<folder>/mod.ts does not give (or gives another thing by that name)");
});

Deno.test("the examples in lib/ assert for real: no console.assert, which only logs, in a doc test", () => {
  const found = libFiles.filter((f) => source(f).includes("console.assert("));
  assert.deepEqual(found, []);
});

Deno.test("only lib/endpoint asks whether the target is a cluster; no cast through unknown outside the ioredis door", () => {
  const asks = /\btarget\.cluster\b|instanceof ClusterConnection\b|\.isCluster\b/;
  const casts = /as unknown as/;
  const found: string[] = [];
  for (const file of libFiles) {
    const text = source(file);
    if (!file.startsWith("endpoint/") && asks.test(text)) found.push(`lib/${file}: asks`);
    if (file !== "core/ioredis_guard.ts" && casts.test(text)) found.push(`lib/${file}: casts`);
  }
  for (const file of tsFiles(SCRIPTS)) {
    const text = source(file, SCRIPTS);
    if (asks.test(text)) found.push(`scripts/${file}: asks`);
    if (casts.test(text)) found.push(`scripts/${file}: casts`);
  }
  assert.deepEqual(found, []);
});
