// factstream web console: plain JavaScript, no dependencies. Data is put into the page with
// textContent only (never innerHTML), so event data cannot inject markup.
"use strict";

const main = document.getElementById("main");
const CONSOLE_HEADER = { "X-Requested-With": "factstream-console" };
let cleanup = [];  // timers and feeds of the current view, stopped when the view changes

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else el.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

class Unauthorized extends Error {}

async function api(path, options = {}) {
  const response = await fetch(path, {
    ...options,
    headers: { Accept: "application/json", ...CONSOLE_HEADER, ...(options.headers || {}) },
    credentials: "same-origin",
  });
  if (response.status === 401) { showLogin(); throw new Unauthorized("sign in first"); }
  const type = response.headers.get("content-type") || "";
  const body = type.includes("json") ? await response.json() : await response.text();
  if (!response.ok) {
    const message = body && body.detail ? body.detail : `${response.status} ${response.statusText}`;
    throw new Error(message);
  }
  return body;
}

function showLogin() {
  const dialog = document.getElementById("login");
  if (!dialog.open) dialog.showModal();
}

document.getElementById("login-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const token = document.getElementById("login-token").value;
  const error = document.getElementById("login-error");
  const response = await fetch("/console/session", {
    method: "POST",
    headers: { "Content-Type": "application/json", ...CONSOLE_HEADER },
    body: JSON.stringify({ token }),
  });
  if (response.ok) { document.getElementById("login").close(); error.textContent = ""; route(); }
  else error.textContent = "That token was refused.";
});

const fmtTime = (iso) => (iso ? new Date(iso).toLocaleString() : "–");
const fmtNum = (n) => (n === null || n === undefined ? "–" : Number(n).toLocaleString());
const streamHref = (id) => `#/stream/${encodeURIComponent(id)}`;
const eventHref = (position) => `#/event/${position}`;
const json = (value) => h("pre", { class: "json" }, JSON.stringify(value, null, 2));

function page(title, subtitle, ...content) {
  const parts = [h("h1", {}, title), subtitle ? h("p", { class: "sub" }, subtitle) : null, ...content];
  main.replaceChildren(...parts.filter((part) => part !== null && part !== undefined));
}

function failed(error) {
  if (error instanceof Unauthorized) return;
  main.replaceChildren(h("h1", {}, "Something went wrong"), h("p", { class: "error" }, error.message));
}

function eventTable(events, { showStream = true } = {}) {
  if (!events.length) return h("div", { class: "card empty" }, "No events.");
  return h("div", { class: "card" }, h("table", {},
    h("thead", {}, h("tr", {},
      h("th", { class: "num" }, "Position"), showStream ? h("th", {}, "Stream") : null,
      h("th", { class: "num" }, "Version"), h("th", {}, "Type"), h("th", {}, "Recorded"))),
    h("tbody", {}, events.map((e) => h("tr", { "data-position": e.position },
      h("td", { class: "num" }, h("a", { href: eventHref(e.position) }, e.position)),
      showStream ? h("td", {}, h("a", { href: streamHref(e.stream_id) }, e.stream_id)) : null,
      h("td", { class: "num" }, e.version),
      h("td", {}, h("a", { href: eventHref(e.position) }, e.type)),
      h("td", { class: "muted" }, fmtTime(e.timestamp)))))));
}

// -- views ---------------------------------------------------------------------------------

async function viewStreams(params) {
  const prefix = params.get("prefix") || "";
  const after = params.get("after") || "";
  const query = new URLSearchParams({ limit: "50" });
  if (prefix) query.set("prefix", prefix);
  if (after) query.set("after", after);
  const search = h("input", { type: "search", placeholder: "Stream id starts with…", value: prefix, "aria-label": "prefix" });
  const form = h("form", { class: "toolbar", onsubmit: (e) => {
    e.preventDefault();
    location.hash = `#/streams?prefix=${encodeURIComponent(search.value)}`;
  } }, search, h("button", { type: "submit" }, "Filter"));
  let result;
  try { result = await api(`/streams?${query}`); } catch (error) {
    page("Streams", null, form, h("div", { class: "card empty" }, error.message));
    return;
  }
  const rows = result.streams.map((s) => h("tr", {},
    h("td", {}, h("a", { href: streamHref(s.stream_id), class: "mono" }, s.stream_id)),
    h("td", { class: "num" }, fmtNum(s.version)),
    h("td", { class: "num" }, h("a", { href: eventHref(s.last_position) }, s.last_position)),
    h("td", { class: "muted" }, fmtTime(s.last_recorded_at))));
  const table = rows.length
    ? h("div", { class: "card" }, h("table", { id: "streams" },
        h("thead", {}, h("tr", {}, h("th", {}, "Stream"), h("th", { class: "num" }, "Version"),
          h("th", { class: "num" }, "Last event"), h("th", {}, "Last written"))),
        h("tbody", {}, rows)))
    : h("div", { class: "card empty" }, "No streams.");
  const pager = h("div", { class: "pager" },
    after ? h("button", { onclick: () => { location.hash = `#/streams?prefix=${encodeURIComponent(prefix)}`; } }, "First page") : null,
    result.next_after ? h("button", { onclick: () => {
      location.hash = `#/streams?prefix=${encodeURIComponent(prefix)}&after=${encodeURIComponent(result.next_after)}`;
    } }, "Next page") : null);
  page("Streams", "Every stream in the log, by id.", form, table, pager);
}

async function viewStream(id, params) {
  const from = params.get("from");
  const query = new URLSearchParams({ limit: "100" });
  if (from) query.set("from_version", from);
  const result = await api(`/streams/${encodeURIComponent(id).replace(/%2F/g, "/")}?${query}`);
  const pager = h("div", { class: "pager" },
    result.next_version ? h("a", { href: `${streamHref(id)}?from=${result.next_version}` }, "Later events →") : null);
  page(id, `Stream at version ${result.version}.`, eventTable(result.events, { showStream: false }), pager);
}

function relatedList(title, events, empty) {
  return h("div", {}, h("h2", {}, title), events.length
    ? eventTable(events)
    : h("div", { class: "card empty" }, empty));
}

async function viewEvent(position) {
  const related = await api(`/events/${position}/related`);
  const e = related.event;
  const link = (text, href) => (text ? h("a", { href, id: "causation-link" }, text) : "–");
  const fields = h("div", { class: "card fields", id: "event-fields" },
    h("div", {}, "Type"), h("div", {}, h("strong", {}, e.type)),
    h("div", {}, "Stream"), h("div", {}, h("a", { href: streamHref(e.stream_id) }, e.stream_id)),
    h("div", {}, "Version"), h("div", {}, e.version),
    h("div", {}, "Position"), h("div", {}, e.position),
    h("div", {}, "Recorded"), h("div", {}, fmtTime(e.timestamp)),
    h("div", {}, "Event id"), h("div", { class: "mono" }, e.id),
    h("div", {}, "Correlation id"), h("div", { class: "mono" }, e.correlation_id || "–"),
    h("div", {}, "Causation id"), h("div", { class: "mono" },
      !e.causation_id ? "–"
        : related.caused_by ? link(e.causation_id, eventHref(related.caused_by.position))
        : [e.causation_id, h("span", { class: "muted" }, " (a command or request, not an event of this log)")]),
    h("div", {}, "Schema version"), h("div", {}, e.schema_version));
  const nav = h("div", { class: "pager" },
    e.position > 1 ? h("a", { href: eventHref(e.position - 1) }, "← Previous in log") : null,
    h("a", { href: eventHref(e.position + 1) }, "Next in log →"));
  page(`${e.type} #${e.position}`, `in ${e.stream_id}, version ${e.version}`,
    fields,
    h("div", { class: "grid2" },
      h("div", {}, h("h2", {}, "Data"), h("div", { class: "card", id: "event-data" }, json(e.data))),
      h("div", {}, h("h2", {}, "Metadata"), h("div", { class: "card" }, json(e.metadata)))),
    relatedList("Caused by", related.caused_by ? [related.caused_by] : [], e.causation_id ? "The cause is not an event in this log." : "No causation id."),
    relatedList("Caused", related.caused, "No event names this one as its cause."),
    relatedList("Same cause", related.same_cause, e.causation_id ? "No other event has this causation id." : "No causation id."),
    relatedList("Same correlation", related.correlated, e.correlation_id ? "No other event has this correlation id." : "No correlation id."),
    related.more_caused || related.more_correlated || related.more_same_cause
      ? h("p", { class: "muted" }, `Only the first ${related.limit} events of each list are shown.`) : null,
    nav);
}

async function viewEventById(id) {
  const event = await api(`/events/by-id/${encodeURIComponent(id)}`);
  location.replace(eventHref(event.position));
}

async function viewLog(params) {
  const from = params.get("from");
  const query = new URLSearchParams({ limit: "50" });
  if (from) query.set("from", from);
  const result = await api(`/log?${query}`);
  const first = result.events.length ? result.events[0].position : 1;
  const pager = h("div", { class: "pager" },
    first > 1 ? h("a", { href: `#/log?from=${Math.max(1, first - 50)}` }, "← Older") : null,
    result.next_position ? h("a", { href: `#/log?from=${result.next_position}` }, "Newer →") : null);
  page("Log", `The global log, ${fmtNum(result.head_position)} events.`, eventTable(result.events), pager);
}

const COLORS = ["#2f6fde", "#d9480f", "#2b8a3e", "#9c36b5", "#c2255c", "#1098ad", "#e67700"];

function lagChart(projections) {
  const W = 900, H = 220, L = 64, R = 12, T = 12, B = 28;
  const series = projections.filter((p) => p.history.length);
  const svg = (tag, attrs, ...kids) => {
    const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
    for (const kid of kids) el.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
    return el;
  };
  const chart = svg("svg", { class: "chart", viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none", role: "img", "aria-label": "lag over time", id: "lag-chart" });
  const points = series.flatMap((p) => p.history);
  if (!points.length) {
    chart.append(svg("text", { x: W / 2, y: H / 2, "text-anchor": "middle" }, "No samples yet."));
    return chart;
  }
  const t0 = Math.min(...points.map((p) => p[0])), t1 = Math.max(...points.map((p) => p[0]));
  const highest = Math.max(...points.map((p) => p[1]));
  const step = 10 ** Math.floor(Math.log10(Math.max(1, highest)));
  const top = Math.max(4, Math.ceil(highest / step) * step);  // a round top, integer ticks
  const x = (t) => L + ((t - t0) / Math.max(1e-9, t1 - t0)) * (W - L - R);
  const y = (v) => T + (1 - v / top) * (H - T - B);
  for (const frac of [0, 0.25, 0.5, 0.75, 1]) {
    chart.append(svg("line", { class: "grid", x1: L, x2: W - R, y1: y(top * frac), y2: y(top * frac) }));
    chart.append(svg("text", { x: L - 6, y: y(top * frac) + 4, "text-anchor": "end" }, fmtNum(Math.round(top * frac))));
  }
  chart.append(svg("text", { x: 12, y: T + (H - T - B) / 2, transform: `rotate(-90 12 ${T + (H - T - B) / 2})`, "text-anchor": "middle" }, "events behind"));
  chart.append(svg("line", { class: "axis", x1: L, x2: W - R, y1: H - B, y2: H - B }));
  chart.append(svg("text", { x: L, y: H - 8 }, new Date(t0 * 1000).toLocaleTimeString()));
  chart.append(svg("text", { x: W - R, y: H - 8, "text-anchor": "end" }, new Date(t1 * 1000).toLocaleTimeString()));
  series.forEach((p, i) => {
    const d = p.history.map(([t, v], k) => `${k ? "L" : "M"}${x(t).toFixed(1)},${y(v).toFixed(1)}`).join(" ");
    chart.append(svg("path", { d, fill: "none", stroke: COLORS[i % COLORS.length], "stroke-width": 2, "vector-effect": "non-scaling-stroke" }));
  });
  return chart;
}

function stateTag(p) {
  const kind = p.error ? "bad" : p.lag === 0 ? "good" : p.state === "running" ? "warn" : "bad";
  return h("span", { class: `tag ${kind}` }, p.state);
}

// Asks in the page's own dialog (no window.confirm: it blocks the page and its timers).
function confirmAction(title, text) {
  const dialog = document.getElementById("confirm");
  document.getElementById("confirm-title").textContent = title;
  document.getElementById("confirm-text").textContent = text;
  dialog.returnValue = "";
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
    dialog.showModal();
  });
}

const PROJECTION_ACTIONS = {
  rebuild: ["Rebuild", "builds the read model again from the whole log beside the live one, then swaps it in. Queries keep using the current one meanwhile."],
  reset: ["Reset", "deletes the read model (every generation, its checkpoint and dead letters) and builds it again from position 1. Queries see it empty, then filling up."],
};

async function viewProjections() {
  let notice = null;  // the outcome of the last action, kept across redraws
  const act = async (button, name, action) => {
    const [label, explanation] = PROJECTION_ACTIONS[action];
    if (!(await confirmAction(`${label} ${name}?`, `${label} ${explanation}`))) return;
    button.disabled = true;
    try {
      const done = await api(`/projections/${encodeURIComponent(name)}/${action}`, { method: "POST" });
      notice = h("p", { class: "notice", id: "projection-notice" }, `${name}: ${done.detail}`);
    } catch (error) {
      if (error instanceof Unauthorized) return;
      notice = h("p", { class: "error", id: "projection-notice" }, `${name}: ${error.message}`);
    }
    await draw();
  };
  const draw = async () => {
    const result = await api("/projections");
    showHead(result.head_position);
    if (!result.configured) {
      page("Projections", null, h("div", { class: "card empty" }, "This server has no projections configured."));
      return;
    }
    const legend = h("div", { class: "legend" }, result.projections.map((p, i) =>
      h("span", { style: `--c: ${COLORS[i % COLORS.length]}` }, p.name)));
    const table = h("div", { class: "card" }, h("table", { id: "projections" },
      h("thead", {}, h("tr", {}, h("th", {}, "Projection"), h("th", {}, "State"),
        h("th", { class: "num" }, "Position"), h("th", { class: "num" }, "Lag (events)"),
        h("th", { class: "num" }, "Heartbeat age"), h("th", {}, "Last error"),
        result.controllable ? h("th", {}, "") : null)),
      h("tbody", {}, result.projections.map((p) => h("tr", {},
        h("td", {}, p.name), h("td", {}, stateTag(p)),
        h("td", { class: "num" }, fmtNum(p.position)), h("td", { class: "num" }, fmtNum(p.lag)),
        h("td", { class: "num" }, p.heartbeat_age_seconds === null ? "–" : `${p.heartbeat_age_seconds.toFixed(1)} s`),
        h("td", { class: "error" }, p.error || ""),
        result.controllable ? h("td", { class: "actions nowrap" }, ["rebuild", "reset"].map((action) => {
          const button = h("button", { class: action === "reset" ? "danger" : "", "data-action": action,
            onclick: () => act(button, p.name, action) }, PROJECTION_ACTIONS[action][0]);
          return button;
        })) : null)))));
    page("Projections", `Head of the log: ${fmtNum(result.head_position)}. Lag is sampled every ${result.sample_interval} s.`,
      notice, table, h("h2", {}, "Lag over time"), h("div", { class: "card" }, lagChart(result.projections), legend));
  };
  await draw();
  const timer = setInterval(() => draw().catch(failed), 3000);
  cleanup.push(() => clearInterval(timer));
}

async function viewDeadLetters() {
  await drawDeadLetters();
  // A retried event leaves the list once its consumer has replayed it: look again now and then.
  const timer = setInterval(() => drawDeadLetters().catch(failed), 3000);
  cleanup.push(() => clearInterval(timer));
}

async function drawDeadLetters() {
  const result = await api("/dead-letters?limit=200");
  if (!result.configured) {
    page("Dead letters", null, h("div", { class: "card empty" }, "This server has no dead-letter store configured."));
    return;
  }
  const act = async (button, id, action) => {
    button.disabled = true;
    try { await api(`/dead-letters/${encodeURIComponent(id)}/${action}`, { method: "POST" }); await drawDeadLetters(); }
    catch (error) { button.disabled = false; if (!(error instanceof Unauthorized)) alert(error.message); }
  };
  const rows = result.dead_letters.map((d) => {
    const retry = h("button", { class: "primary", onclick: () => act(retry, d.id, "retry") }, "Retry");
    const skip = h("button", { class: "danger", onclick: () => act(skip, d.id, "skip") }, "Skip");
    return h("tr", { "data-id": d.id },
      h("td", { class: "mono nowrap" }, d.id), h("td", {}, d.consumer),
      h("td", {}, h("a", { href: eventHref(d.position) }, `${d.event_type} #${d.position}`),
        h("div", { class: "muted" }, d.stream_id, d.parked_behind ? ` (+${d.parked_behind} held back)` : "")),
      h("td", { class: "error" }, d.error), h("td", { class: "num" }, d.attempts),
      h("td", { class: "muted" }, fmtTime(d.parked_at)), h("td", { class: "actions" }, retry, " ", skip));
  });
  const table = rows.length
    ? h("div", { class: "card" }, h("table", { id: "dead-letters" },
        h("thead", {}, h("tr", {}, ["Id", "Consumer", "Event", "Error", "Attempts", "Parked", ""].map((t) => h("th", {}, t)))),
        h("tbody", {}, rows)))
    : h("div", { class: "card empty" }, "No dead letters. Everything was processed.");
  page("Dead letters", "Events parked after their handler kept failing. Retry hands one back to its consumer; skip drops it.", table);
}

function viewTail(params) {
  const stream = params.get("stream") || "";
  const rows = h("tbody", { id: "tail-rows" });
  const status = h("span", { id: "tail-status" }, h("span", { class: "status-dot" }), "connecting…");
  let paused = false;
  const pause = h("button", { onclick: () => { paused = !paused; pause.textContent = paused ? "Resume" : "Pause"; } }, "Pause");
  const filter = h("input", { type: "search", placeholder: "Only this stream (optional)", value: stream });
  const form = h("form", { class: "toolbar", onsubmit: (e) => {
    e.preventDefault(); location.hash = `#/tail?stream=${encodeURIComponent(filter.value)}`;
  } }, filter, h("button", { type: "submit" }, "Follow"), h("span", { class: "grow" }), status, pause);
  const url = stream ? `/events?stream=${encodeURIComponent(stream)}` : "/events";
  const source = new EventSource(url);
  const setStatus = (kind, text) => status.replaceChildren(h("span", { class: `status-dot ${kind}` }), text);
  source.onopen = () => setStatus("live", "live");
  source.onerror = () => setStatus("down", "reconnecting…");
  source.onmessage = (message) => {
    if (paused) return;
    const e = JSON.parse(message.data);
    rows.prepend(h("tr", { class: "tail-row", "data-position": e.position },
      h("td", { class: "num" }, h("a", { href: eventHref(e.position) }, e.position)),
      h("td", {}, h("a", { href: streamHref(e.stream_id) }, e.stream_id)),
      h("td", { class: "num" }, e.version), h("td", {}, e.type),
      h("td", { class: "mono" }, JSON.stringify(e.data).slice(0, 120)),
      h("td", { class: "muted" }, fmtTime(e.timestamp))));
    while (rows.children.length > 500) rows.lastChild.remove();
    showHead(e.position);
  };
  cleanup.push(() => source.close());
  page("Live tail", "New events as they are committed, newest first.", form,
    h("div", { class: "card" }, h("table", {},
      h("thead", {}, h("tr", {}, h("th", { class: "num" }, "Position"), h("th", {}, "Stream"),
        h("th", { class: "num" }, "Version"), h("th", {}, "Type"), h("th", {}, "Data"), h("th", {}, "Recorded"))),
      rows)));
}

// -- routing -------------------------------------------------------------------------------

let knownHead = 0;
function showHead(position) {
  knownHead = Math.max(knownHead, position);
  document.getElementById("head").textContent = `head ${fmtNum(knownHead)}`;
}

async function refreshHead() {
  try { showHead((await api("/info")).head_position); } catch (error) { /* shown by the view */ }
}
setInterval(refreshHead, 5000);

async function route() {
  for (const stop of cleanup) stop();
  cleanup = [];
  const [path, query] = (location.hash.slice(1) || "/streams").split("?");
  const params = new URLSearchParams(query || "");
  const parts = path.split("/").filter(Boolean);
  const view = parts[0] || "streams";
  for (const link of document.querySelectorAll("nav a")) {
    const active = link.dataset.view === view || (link.dataset.view === "streams" && ["stream", "event", "event-id"].includes(view));
    link.classList.toggle("active", active);
  }
  refreshHead();
  try {
    if (view === "streams") await viewStreams(params);
    else if (view === "stream") await viewStream(decodeURIComponent(parts.slice(1).join("/")), params);
    else if (view === "event") await viewEvent(Number(parts[1]));
    else if (view === "event-id") await viewEventById(parts[1]);
    else if (view === "log") await viewLog(params);
    else if (view === "projections") await viewProjections();
    else if (view === "dead-letters") await viewDeadLetters();
    else if (view === "tail") viewTail(params);
    else page("Not found", "There is no such page in the console.");
  } catch (error) { failed(error); }
}

window.addEventListener("hashchange", route);
route();
