/**
 * The dashboard's page (`GET /`): plain HTML and JavaScript, no build step.
 * It follows `/events` (one `state` event at most every tick: the whole
 * state first, then the parts that changed, merged into what it has) and
 * draws the rates with uPlot (`/uplot.js`); its publish form POSTs JSON to
 * `/publish`.
 * Everything from the server — channel names, payloads, keys, stored values,
 * processor names — is shown with `textContent`, never as HTML, as on lab 4's
 * live page.
 *
 * @module
 */

/**
 * The page.
 *
 * @example
 * ```ts
 * import { DASHBOARD_HTML } from "./page.ts";
 * import assert from "node:assert/strict";
 * assert.ok(DASHBOARD_HTML.includes("EventSource"));
 * assert.ok(!DASHBOARD_HTML.includes("innerHTML"));
 * ```
 */
export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>pubsub-lab · dashboard</title>
<link rel="stylesheet" href="uplot.css">
<style>
  :root { color-scheme: dark; --bg: #0f1419; --card: #182029; --line: #2a3440; --text: #e6edf3; --muted: #8b98a5;
    --accent: #3fb950; --warn: #d29922; --bad: #f85149; --blue: #58a6ff; }
  * { box-sizing: border-box; }
  body { font: 15px/1.45 system-ui, sans-serif; margin: 0; background: var(--bg); color: var(--text); }
  header { display: flex; align-items: center; gap: 1.2rem; flex-wrap: wrap; padding: .8rem 1.4rem;
    border-bottom: 1px solid var(--line); background: #131a21; }
  h1 { font-size: 1.25rem; margin: 0; font-weight: 600; }
  h1 span { color: var(--muted); font-weight: 400; }
  .pill { font-size: .85rem; padding: .15rem .6rem; border-radius: 1rem; background: var(--card); color: var(--muted); }
  .pill b { color: var(--text); font-weight: 600; }
  #conn.live { color: var(--accent); } #conn.down { color: var(--bad); }
  #conn::before { content: "● "; }
  main { display: grid; grid-template-columns: repeat(12, 1fr); gap: 1rem; padding: 1rem 1.4rem; }
  section { background: var(--card); border-radius: .7rem; padding: .8rem 1rem; min-width: 0; }
  section h2 { font-size: .95rem; margin: 0 0 .6rem; text-transform: uppercase; letter-spacing: .05em; color: var(--muted);
    display: flex; gap: .6rem; align-items: center; }
  section h2 .note { text-transform: none; letter-spacing: 0; font-weight: 400; margin-left: auto; font-size: .85rem; }
  #s-channels { grid-column: span 7; } #side { grid-column: span 5; display: flex; flex-direction: column; gap: 1rem; }
  #s-server { flex: 1 1 auto; }
  #s-messages { grid-column: span 7; } #s-keys { grid-column: span 5; }
  #s-processors { grid-column: span 12; }
  #s-stored { grid-column: span 7; } #s-streams { grid-column: span 5; }
  @media (max-width: 900px) { main > section { grid-column: span 12 !important; } }
  table { border-collapse: collapse; width: 100%; }
  th { text-align: left; font-weight: 500; color: var(--muted); font-size: .8rem; padding: .2rem .4rem; }
  td { padding: .25rem .4rem; border-top: 1px solid var(--line); vertical-align: top; }
  td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
  .mono { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: .88rem; word-break: break-all; }
  .muted { color: var(--muted); }
  .bar { height: .45rem; border-radius: .2rem; background: var(--blue); min-width: 2px; }
  #chart { margin: .2rem 0 .6rem; }
  .uplot { font-family: inherit; } .u-legend { font-size: .8rem; color: var(--muted); }
  #msgtools { display: flex; gap: .5rem; margin-bottom: .5rem; align-items: center; }
  input, button, textarea { font: inherit; color: var(--text); background: #0f1419; border: 1px solid var(--line);
    border-radius: .4rem; padding: .25rem .55rem; }
  input { flex: 1; min-width: 6rem; } button { cursor: pointer; } button:hover { border-color: var(--blue); }
  #pubform { display: grid; grid-template-columns: 1fr auto; gap: .5rem; }
  #pubform textarea { grid-column: span 2; resize: vertical; min-height: 2.3rem; font-family: ui-monospace, monospace;
    font-size: .88rem; }
  #pubresult { font-size: .88rem; margin-top: .4rem; min-height: 1.3em; overflow-wrap: anywhere; }
  #pubresult.ok { color: var(--accent); } #pubresult.bad { color: var(--bad); }
  .state { white-space: nowrap; font-size: .88rem; } .state::before { content: "● "; }
  .state.running { color: var(--accent); } .state.stale { color: var(--warn); } .state.stopped { color: var(--muted); }
  tr.stale td:not(.stateCell), tr.stopped td:not(.stateCell) { opacity: .6; }
  td.bad { color: var(--bad); }
  .scroll { max-height: 17rem; overflow: auto; }
  .time { color: var(--muted); white-space: nowrap; font-variant-numeric: tabular-nums; font-size: .85rem; }
  .chan { color: var(--blue); white-space: nowrap; max-width: 14rem; overflow: hidden; text-overflow: ellipsis; }
  .banner { border-radius: .5rem; padding: .45rem .7rem; margin-bottom: .6rem; font-size: .9rem; }
  .banner.warn { background: rgba(210,153,34,.15); color: #e3b341; } .banner.bad { background: rgba(248,81,73,.15); color: #ff7b72; }
  code { font-family: ui-monospace, monospace; background: #0f1419; padding: .05rem .35rem; border-radius: .3rem; }
  dl { display: grid; grid-template-columns: auto 1fr; gap: .3rem 1rem; margin: 0; }
  dt { color: var(--muted); } dd { margin: 0; font-variant-numeric: tabular-nums; }
  #cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(14rem, 1fr)); gap: .7rem; }
  .card { background: #0f1419; border-radius: .5rem; padding: .55rem .75rem; border: 1px solid var(--line); }
  .card h3 { margin: 0; font-size: 1rem; word-break: break-all; }
  .card.gone { opacity: .55; } .card.gone h3 { text-decoration: line-through; }
  .card .times { font-size: .78rem; color: var(--muted); margin-bottom: .3rem; }
  .card td { font-size: .88rem; } .card td.k { color: var(--muted); width: 1%; white-space: nowrap; }
  .ev { display: inline-block; min-width: 4.5rem; color: var(--warn); }
  .ev.del, .ev.expired, .ev.evicted { color: var(--bad); }
  .empty { color: var(--muted); font-size: .9rem; }
</style>
</head>
<body>
<header>
  <h1>pubsub-lab <span>dashboard</span></h1>
  <span id="conn" class="pill down">connecting…</span>
  <span class="pill" id="who"></span>
  <span class="pill">total <b id="total">0</b> msg/s</span>
</header>
<main>
  <section id="s-channels">
    <h2>Channels <span class="note" id="chnote"></span></h2>
    <div id="chart"></div>
    <table><thead><tr><th>channel</th><th class="num">subscribers</th><th class="num">msg/s</th><th style="width:30%"></th></tr></thead>
    <tbody id="channels"></tbody></table>
    <p class="empty" id="morechannels" hidden></p>
    <p class="empty" id="nochannels">No channel is active. Start a subscriber or publish, e.g.
      <code>deno run -A scripts/publisher.ts</code></p>
  </section>
  <div id="side">
  <section id="s-server">
    <h2>Server</h2>
    <div id="serverwarn"></div>
    <dl id="server"></dl>
    <table id="nodes" hidden><thead><tr><th>node</th><th>slots</th><th class="num">ping</th><th class="num">memory</th><th class="num">clients</th></tr></thead><tbody></tbody></table>
  </section>
  <section id="s-publish" hidden>
    <h2>Publish <span class="note">for demos</span></h2>
    <form id="pubform" autocomplete="off">
      <input id="pubchannel" placeholder="channel" value="chat:general" maxlength="256" aria-label="channel">
      <button id="pubsend" type="submit">Publish</button>
      <textarea id="pubpayload" rows="2" placeholder="payload" aria-label="payload">Hello from the dashboard!</textarea>
    </form>
    <div id="pubresult"></div>
  </section>
  </div>
  <section id="s-messages">
    <h2>Last messages <span class="note" id="sampling"></span></h2>
    <div id="msgtools"><input id="filter" placeholder="filter by channel or payload" autocomplete="off">
      <button id="pause">Pause</button></div>
    <div class="scroll"><table><tbody id="messages"></tbody></table></div>
  </section>
  <section id="s-keys">
    <h2>Keyspace events <span class="note" id="keynote"></span></h2>
    <div id="keyhint"></div>
    <div class="scroll"><table><tbody id="keys"></tbody></table></div>
  </section>
  <section id="s-processors">
    <h2>Processors <span class="note" id="procnote">lab 5 · 6</span></h2>
    <div id="procwarn"></div>
    <table><thead><tr><th>processor</th><th>mode</th><th>state</th><th class="num">received</th>
      <th class="num">processed</th><th class="num">failed</th><th class="num">malformed</th><th class="num">dropped</th>
      <th class="num">handled/s</th><th class="num">in flight</th><th class="num">queued</th><th class="num">up</th></tr></thead>
    <tbody id="processors"></tbody></table>
    <p class="empty" id="noprocessors"></p>
  </section>
  <section id="s-stored">
    <h2>Stored values <span class="note">lab 4</span></h2>
    <div id="cards"></div>
    <p class="empty" id="nostored">Nothing stored (kv_updater.ts stores the updates it hears).</p>
  </section>
  <section id="s-streams">
    <h2>Streams <span class="note">lab 6</span></h2>
    <table><thead><tr><th>stream · group</th><th class="num">length</th><th class="num">pending</th><th class="num">lag</th></tr></thead>
    <tbody id="streams"></tbody></table>
    <p class="empty" id="nostreams">No stream yet.</p>
  </section>
</main>
<script src="uplot.js"></script>
<script>
"use strict";
const MAX_ROWS = 200, MAX_KEYS = 50, MAX_PUBLISH_BYTES = 65536;
const $ = (id) => document.getElementById(id);
function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = String(text);
  return e;
}
const clock = (ms) => new Date(ms).toLocaleTimeString([], { hour12: false }) + "." + String(ms % 1000).padStart(3, "0");
const rate = (n) => n >= 100 ? Math.round(n).toLocaleString("en") : n >= 10 ? n.toFixed(1) : n.toFixed(n ? 2 : 0);
// kv_updater reads a time without a zone as UTC: so does the page, as lab 4's live page does.
function timeOf(iso) {
  return Date.parse(/([Zz]|[+-]\\d{2}(:?\\d{2})?)$/.test(iso) ? iso : iso + "Z");
}
function span(seconds) {
  const s = Math.floor(seconds);
  return s < 60 ? s + " s" : s < 3600 ? Math.floor(s / 60) + " min " + String(s % 60).padStart(2, "0") + " s"
    : Math.floor(s / 3600) + " h " + String(Math.floor(s / 60) % 60).padStart(2, "0") + " min";
}
function ago(ms) {
  const s = Math.round(Math.abs(Date.now() - ms) / 1000);
  return s < 60 ? s + " s" : s < 3600 ? Math.round(s / 60) + " min" : Math.round(s / 3600) + " h";
}

let paused = false, filter = "", chart, chartSeries = "";
$("pause").addEventListener("click", () => { paused = !paused; $("pause").textContent = paused ? "Resume" : "Pause"; });
$("filter").addEventListener("input", (e) => { filter = e.target.value.toLowerCase(); applyFilter(); });
function matches(row) { return !filter || row.dataset.text.includes(filter); }
function applyFilter() { for (const row of $("messages").children) row.hidden = !matches(row); }

const COLORS = ["#58a6ff", "#3fb950", "#d29922", "#f778ba", "#a371f7", "#79c0ff"];
function drawChart(history) {
  const names = history.series.map((s) => s.name).join("\\n");
  const data = [history.times, ...history.series.map((s) => s.values)];
  const width = $("chart").clientWidth || 600;
  if (!chart || names !== chartSeries) {
    chart?.destroy();
    chartSeries = names;
    chart = new uPlot({
      width, height: 150, cursor: { show: false }, legend: { show: true, live: false },
      scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(1, max * 1.1)] } },
      axes: [{ stroke: "#8b98a5", grid: { stroke: "#2a3440" }, ticks: { stroke: "#2a3440" }, space: 90,
        values: (u, splits) => splits.map((t) => new Date(t * 1000).toLocaleTimeString([], { hour12: false })) },
        { stroke: "#8b98a5", grid: { stroke: "#2a3440" }, ticks: { stroke: "#2a3440" }, size: 55 }],
      series: [{}, ...history.series.map((s, i) => ({ label: s.name, stroke: COLORS[i % COLORS.length], width: 2,
        value: (u, v) => v == null ? "" : rate(v) + "/s" }))],
    }, data, $("chart"));
  } else chart.setData(data);
  if (Math.abs(chart.width - width) > 4) chart.setSize({ width, height: 150 });
}

function showChannels(s) {
  const rows = s.channels;
  const top = Math.max(1, ...rows.map((c) => c.rate));
  $("channels").replaceChildren(...rows.map((c) => {
    const tr = el("tr");
    tr.dataset.channel = c.name;
    const bar = el("div", "bar"); bar.style.width = (100 * c.rate / top) + "%";
    const cell = el("td"); cell.append(bar);
    tr.append(el("td", "mono", c.name), el("td", "num", c.subscribers ?? "–"), el("td", "num rate", rate(c.rate)), cell);
    return tr;
  }));
  $("nochannels").hidden = rows.length > 0;
  $("morechannels").hidden = !s.moreChannels;
  $("morechannels").textContent = "and " + s.moreChannels.toLocaleString("en") + " more (the " + rows.length +
    " busiest are listed)";
  $("total").textContent = rate(s.totalRate);
  const server = s.server;
  $("chnote").textContent = server ? server.activeChannels.toLocaleString("en") + " with subscribers · " +
    server.patterns + " pattern subscription(s), 1 of them the dashboard's" : "";
  drawChart(s.history);
}

function showMessages(s) {
  const note = s.heard > s.messages.length
    ? "sampling: showing " + s.messages.length + " of " + s.heard.toLocaleString("en") + " in the last " + s.tickMs + " ms"
    : "";
  $("sampling").textContent = paused ? "paused" + (note ? " · " + note : "") : note;
  if (paused || s.messages.length === 0) return;
  const body = $("messages");
  const rows = s.messages.map((m) => {
    const tr = el("tr");
    tr.dataset.text = (m.channel + "\\n" + m.payload).toLowerCase();
    tr.append(el("td", "time", clock(m.at)), el("td", "chan mono", m.channel), el("td", "mono payload", m.payload));
    tr.hidden = !matches(tr);
    return tr;
  }).reverse();
  body.prepend(...rows);
  while (body.children.length > MAX_ROWS) body.lastElementChild.remove();
}

function showKeys(s) {
  const notify = s.server?.notify;
  const off = notify !== undefined && !/[KE]/.test(notify);
  const hint = $("keyhint");
  if (s.server && (off || notify === undefined)) {
    const b = el("div", "banner warn");
    b.append(off ? "Keyspace notifications are off (notify-keyspace-events is \\"" + notify + "\\"). Turn them on with "
      : "CONFIG is refused here, so the dashboard cannot tell whether notifications are on. To turn them on: ",
      el("code", "", "CONFIG SET notify-keyspace-events KEA"));
    hint.replaceChildren(b);
  } else hint.replaceChildren();
  $("keynote").textContent = s.keyEventTotal > s.keyEvents.length ? "sampling: " + s.keyEvents.length + " of " + s.keyEventTotal : "";
  const body = $("keys");
  body.prepend(...s.keyEvents.map((k) => {
    const tr = el("tr");
    tr.append(el("td", "time", clock(k.at)), el("td", "", "")); tr.lastChild.append(el("span", "ev " + k.event, k.event));
    tr.append(el("td", "mono", k.key));
    return tr;
  }).reverse());
  while (body.children.length > MAX_KEYS) body.lastElementChild.remove();
}

function showServer(s) {
  const c = s.connection, v = s.server;
  $("conn").textContent = c.live ? "live" : "reconnecting for " + ago(c.since);
  $("conn").className = "pill " + (c.live ? "live" : "down");
  $("who").textContent = v ? v.server : "";
  const warn = [];
  if (c.fellBehind > 0) warn.push(["bad", "The server dropped the dashboard's subscriber " + c.fellBehind +
    " time(s) for falling behind (pubsub output buffer over its limit): messages in that time were not counted."]);
  if (!c.live) warn.push(["bad", "Not connected to the server since " + clock(c.since) + ": reconnecting. What is shown is from before."]);
  $("serverwarn").replaceChildren(...warn.map(([k, t]) => el("div", "banner " + k, t)));
  const items = [["server", v?.server ?? "–"], ["address", s.address], ["round trip", v ? v.roundTripMs.toFixed(2) + " ms" : "–"],
    ["memory", v?.memory ?? "–"], ["clients", v?.clients ?? "–"],
    ["subscriber", (c.subscriberLive ? "subscribed to *" : "reconnecting") + (c.outages ? " · " + c.outages + " outage(s), " + c.restarts + " restart(s)" : "")],
    ["updated", clock(s.at)]];
  $("server").replaceChildren(...items.flatMap(([k, t]) => [el("dt", "", k), el("dd", "", t)]));
  const nodes = v?.nodes ?? [];
  $("nodes").hidden = nodes.length === 0;
  $("nodes").tBodies[0].replaceChildren(...nodes.map((n) => {
    const tr = el("tr");
    tr.append(el("td", "mono", n.address), el("td", "mono", n.slots), el("td", "num", n.roundTripMs.toFixed(2) + " ms"),
      el("td", "num", n.memory), el("td", "num", String(n.clients)));
    return tr;
  }));
}

function showStored(s) {
  const cards = s.stored.map((st) => {
    const u = st.event, card = el("div", "card" + (st.gone ? " gone" : ""));
    card.dataset.type = st.type;
    const t = el("table");
    for (const [k, v] of Object.entries(u.values ?? {})) {
      const tr = el("tr"); tr.append(el("td", "k", k), el("td", "mono", typeof v === "string" ? v : JSON.stringify(v))); t.append(tr);
    }
    card.append(el("h3", "", st.type), el("div", "times", st.gone ? "deleted or expired " + ago(st.gone) + " ago"
      : "updated " + ago(timeOf(u.updated)) + " ago · " + (timeOf(u.valid) < Date.now() ? "expired" : "valid until " +
        new Date(timeOf(u.valid)).toLocaleString([], { hour12: false, dateStyle: "short", timeStyle: "short" }))), t);
    return card;
  });
  $("cards").replaceChildren(...cards);
  $("nostored").hidden = cards.length > 0;
}

function showStreams(s) {
  const rows = [];
  for (const st of s.server?.streams ?? []) {
    const tr = el("tr"); tr.append(el("td", "mono", st.name), el("td", "num", st.length.toLocaleString("en")), el("td"), el("td"));
    rows.push(tr);
    for (const g of st.groups) {
      const gr = el("tr");
      gr.append(el("td", "mono muted", "  · " + g.name + " (" + g.consumers + " consumer(s))"), el("td"),
        el("td", "num", g.pending), el("td", "num", g.lag ?? "?"));
      rows.push(gr);
    }
  }
  $("streams").replaceChildren(...rows);
  $("nostreams").hidden = rows.length > 0;
}

function showProcessors(s) {
  const p = s.processors, count = (n) => n.toLocaleString("en");
  $("processors").replaceChildren(...p.rows.map((r) => {
    const tr = el("tr", r.state);
    tr.dataset.processor = r.processor;
    const heard = ago(r.heard);
    const state = el("td", "stateCell");
    state.append(el("span", "state " + r.state, r.state === "running" ? "running" : r.state === "stale"
      ? "stale · last heard " + heard + " ago" : "stopped " + heard + " ago"));
    const who = el("td", "mono", r.processor);
    if (r.consumer) who.append(el("div", "muted", "consumer " + r.consumer + " of " + r.group));
    tr.append(who, el("td", "", r.mode), state, el("td", "num", count(r.received)), el("td", "num", count(r.processed)),
      el("td", "num" + (r.failed ? " bad" : ""), count(r.failed)), el("td", "num", count(r.malformed)),
      el("td", "num" + (r.dropped ? " bad" : ""), count(r.dropped)), el("td", "num", rate(r.handled_per_second)),
      el("td", "num", count(r.in_flight)), el("td", "num", count(r.queued)), el("td", "num", span(r.uptime_seconds)));
    return tr;
  }));
  $("noprocessors").hidden = p.rows.length > 0;
  $("noprocessors").textContent = "No processor heard on " + p.channel + ". Start one: deno run -A scripts/event_processor.ts " +
    "(it publishes its statistics every 5 s).";
  const stale = p.rows.filter((r) => r.state === "stale").length;
  $("procnote").textContent = (stale ? stale + " stale · " : "") + "statistics on " + p.channel + " · lab 5 · 6";
  $("procwarn").replaceChildren(...(p.rejected ? [el("div", "banner warn", p.rejected.toLocaleString("en") +
    " message(s) on " + p.channel + " were not processor statistics and were ignored; the last: " + p.problem)] : []));
}

let canPublish = false;
function showPublish(s) {
  if (s.publishing === canPublish) return;
  canPublish = s.publishing;
  $("s-publish").hidden = !canPublish;
}
$("pubform").addEventListener("submit", async (e) => {
  e.preventDefault();
  const result = $("pubresult"), channel = $("pubchannel").value, payload = $("pubpayload").value;
  const say = (cls, text) => { result.className = cls; result.textContent = text; };
  const body = JSON.stringify({ channel, payload });
  if (new Blob([body]).size > MAX_PUBLISH_BYTES) return say("bad", "✗ too large: at most 64 KB");
  $("pubsend").disabled = true;
  try {
    const res = await fetch("publish", { method: "POST", headers: { "content-type": "application/json" }, body });
    const answer = await res.json();
    if (!res.ok) say("bad", "✗ " + answer.error);
    else say("ok", "✓ published on " + answer.channel + " (" + answer.bytes + " bytes): " + answer.receivers +
      " receiver" + (answer.receivers === 1 ? "" : "s") + (answer.sampler ? ", this dashboard among them" : ""));
  } catch (err) {
    say("bad", "✗ the dashboard did not answer: " + err.message);
  } finally {
    $("pubsend").disabled = false;
  }
});

function show(s) {
  showServer(s); showChannels(s); showMessages(s); showKeys(s); showProcessors(s); showStored(s); showStreams(s);
  showPublish(s);
}
const events = new EventSource("events");
events.addEventListener("error", () => { $("conn").textContent = "dashboard unreachable, retrying…"; $("conn").className = "pill down"; });
// The whole state comes first, then only the parts that changed (null: gone), merged into it.
let state = {};
events.addEventListener("open", () => { state = {}; });
events.addEventListener("state", (e) => {
  const delta = JSON.parse(e.data);
  const h = state.history;
  if (!("history" in delta) && delta.point && h) { // the same series: this tick's point is appended
    h.times.push(delta.point.time);
    h.series.forEach((s, i) => s.values.push(delta.point.values[i] ?? null));
    while (h.times.length > h.max) { h.times.shift(); h.series.forEach((s) => s.values.shift()); }
  }
  for (const [key, value] of Object.entries(delta)) {
    if (value === null) delete state[key];
    else state[key] = value;
  }
  show(state);
});
</script>
</body>
</html>
`;
