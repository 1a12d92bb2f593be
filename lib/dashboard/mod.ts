/**
 * Lab 8's live dashboard: the `*` sampler, the server's state (one server's, or every master's on a cluster, through
 * the same path), the processors' statistics, the model behind the page and what changed from one update to the next,
 * the ticks that push it to the pages, the page with its uPlot files, its routes and its publish form's endpoint, and
 * the whole run.
 *
 * @module
 */
export * from "./assets.ts";
export * from "./board.ts";
export * from "./page.ts";
export * from "./processors.ts";
export * from "./publish.ts";
export * from "./routes.ts";
export * from "./run.ts";
export * from "./sampler.ts";
export * from "./server_state.ts";
export * from "./sources.ts";
export * from "./state_delta.ts";
export * from "./updates.ts";
