/**
 * Lab 8's live dashboard: the `*` sampler, the server's state, the model behind the page, and the page with its uPlot files.
 *
 * @module
 */
export * from "./assets.ts";
export * from "./board.ts";
export * from "./page.ts";
export * from "./sampler.ts";
export * from "./server_state.ts";
