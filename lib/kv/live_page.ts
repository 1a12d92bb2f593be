/**
 * The API server's live page (`GET /`): plain HTML and JavaScript, no build
 * step. It lists each stored type with its values and last update time and
 * follows `/events`; the browser's EventSource reconnects by itself and
 * resumes with Last-Event-ID. Its status line says `live` only while both
 * the stream and the Redis server behind it are up (the `server` status).
 *
 * @module
 */

/**
 * The page. Every value is shown with `textContent`, never as HTML.
 *
 * @example
 * ```ts
 * import { LIVE_PAGE_HTML } from "./live_page.ts";
 * import assert from "node:assert/strict";
 * assert.ok(LIVE_PAGE_HTML.includes("EventSource"));
 * ```
 */
export const LIVE_PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>pubsub-lab · live values</title>
<style>
  :root { color-scheme: light dark; --accent: #0a7; --muted: #888; --card: rgba(127,127,127,.08); }
  body { font: 15px/1.45 system-ui, sans-serif; margin: 0 auto; padding: 1.5rem; max-width: 72rem; }
  header { display: flex; align-items: baseline; gap: 1rem; flex-wrap: wrap; }
  h1 { font-size: 1.3rem; margin: 0; }
  #status { font-size: .9rem; color: var(--muted); }
  #status.live::before { content: "● "; color: var(--accent); }
  #status.down::before { content: "● "; color: #d33; }
  #types { display: grid; grid-template-columns: repeat(auto-fill, minmax(18rem, 1fr)); gap: 1rem; margin-top: 1rem; }
  .card { background: var(--card); border-radius: .6rem; padding: .8rem 1rem; transition: box-shadow .6s; }
  .card.flash { box-shadow: 0 0 0 3px var(--accent); transition: none; }
  .card h2 { font-size: 1.05rem; margin: 0 0 .2rem; word-break: break-all; }
  .times { font-size: .8rem; color: var(--muted); margin-bottom: .5rem; }
  .expired { color: #d33; }
  table { border-collapse: collapse; width: 100%; }
  td { padding: .15rem .3rem; vertical-align: top; border-top: 1px solid rgba(127,127,127,.2); }
  td.k { color: var(--muted); white-space: nowrap; width: 1%; }
  td.v { font-family: ui-monospace, monospace; word-break: break-word; }
  #empty { color: var(--muted); margin-top: 2rem; }
</style>
</head>
<body>
<header>
  <h1>Live values</h1>
  <span id="status" class="down">connecting…</span>
</header>
<div id="types"></div>
<p id="empty">Nothing stored yet. Publish an update, e.g.<br>
<code>deno run -A scripts/publisher.ts update '{"type":"Moon","updated":"2025-01-01T00:00:00Z","valid":"2030-01-01T00:00:00Z","values":{"phase":0.5}}'</code></p>
<script>
"use strict";
const cards = new Map();
const box = document.getElementById("types");
const status = document.getElementById("status");

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

// kv_updater reads a time without a zone as UTC: so does the page (Date.parse would take local time).
function timeOf(iso) {
  return Date.parse(/([Zz]|[+-]\\d{2}(:?\\d{2})?)$/.test(iso) ? iso : iso + "Z");
}

function ago(iso) {
  const ms = Date.now() - timeOf(iso);
  if (!Number.isFinite(ms)) return "";
  const s = Math.round(Math.abs(ms) / 1000);
  const text = s < 60 ? s + " s" : s < 3600 ? Math.round(s / 60) + " min" : s < 172800 ? Math.round(s / 3600) + " h"
    : Math.round(s / 86400) + " days";
  return ms >= 0 ? text + " ago" : "in " + text;
}

function showTimes(card) {
  const u = card.update;
  const expired = timeOf(u.valid) < Date.now();
  card.times.textContent = "updated " + u.updated + " (" + ago(u.updated) + ") · " +
    (expired ? "expired " + ago(u.valid) : "valid until " + u.valid);
  card.times.classList.toggle("expired", expired);
}

function show(update) {
  let card = cards.get(update.type);
  if (!card) {
    const root = el("section", "card");
    root.dataset.type = update.type;
    const title = el("h2", "", update.type);
    const times = el("div", "times");
    const table = el("table");
    root.append(title, times, table);
    card = { root, times, table };
    cards.set(update.type, card);
    const names = [...cards.keys()].sort();
    box.insertBefore(root, cards.get(names[names.indexOf(update.type) + 1])?.root ?? null);
  }
  card.update = update;
  card.table.replaceChildren(...Object.entries(update.values ?? {}).map(([k, v]) => {
    const row = el("tr");
    row.append(el("td", "k", k), el("td", "v", typeof v === "string" ? v : JSON.stringify(v)));
    return row;
  }));
  showTimes(card);
  card.root.classList.add("flash");
  setTimeout(() => card.root.classList.remove("flash"), 50);
  document.getElementById("empty").hidden = true;
}

// Live only when both are up: the stream to the API server, and the API server's link to the Redis server.
let streaming = false, server;
const clock = (ms) => new Date(ms).toLocaleTimeString([], { hour12: false });
function showStatus() {
  const [text, live] = !streaming ? ["reconnecting…", false]
    : !server ? ["connecting…", false]
    : server.state === "lost" ? ["Redis server lost since " + clock(server.since) + ": the API server is reconnecting; " +
      "values shown may be out of date", false]
    : [server.outages > 0 ? "live · Redis server back since " + clock(server.since) : "live", true];
  status.textContent = text;
  status.className = live ? "live" : "down";
}
const events = new EventSource("events");
events.addEventListener("open", () => { streaming = true; showStatus(); });
events.addEventListener("error", () => { streaming = false; server = undefined; showStatus(); });
events.addEventListener("server", (e) => { server = JSON.parse(e.data); showStatus(); });
events.addEventListener("update", (e) => show(JSON.parse(e.data)));
setInterval(() => cards.forEach(showTimes), 1000);
</script>
</body>
</html>
`;
