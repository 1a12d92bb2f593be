/**
 * The charting library the page uses, uPlot, served by the dashboard itself
 * from the npm package's own files (no CDN, no build step).
 *
 * @module
 */
import "uplot"; // so that Deno fetches the package; the page gets its browser build below
import { createRequire } from "node:module";

const require = createRequire(import.meta.url);

/** One file served under a path. */
export interface Asset {
  /** The file's text. */
  body: string;
  /** Its content type. */
  type: string;
}

/**
 * The page's static files, by path: `/uplot.js` (the IIFE build, `window.uPlot`) and `/uplot.css`.
 *
 * @returns path → file
 * @example
 * ```ts
 * import { readAssets } from "./assets.ts";
 * import assert from "node:assert/strict";
 * assert.ok(readAssets().get("/uplot.js")!.body.includes("uPlot"));
 * ```
 */
export function readAssets(): Map<string, Asset> {
  const read = (file: string) => Deno.readTextFileSync(require.resolve(`uplot/dist/${file}`));
  return new Map([
    ["/uplot.js", { body: read("uPlot.iife.min.js"), type: "text/javascript; charset=utf-8" }],
    ["/uplot.css", { body: read("uPlot.min.css"), type: "text/css; charset=utf-8" }],
  ]);
}
