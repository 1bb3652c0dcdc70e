// lockstep's dashboard: a page over the public HTTP API (/api/v1), nothing else.
// Every string from the API (app names, paths: they come from event logs) is put in the page
// as text, never as HTML.
"use strict";

const TOKEN_KEY = "lockstep-token";
const PAGE_SIZE = 50;
const PALETTE = ["#1f5fbf", "#b3261e", "#1e7a3c", "#8a6100", "#6a3fb5", "#0f7c86", "#c2185b", "#4e5d6c"];

// ---- DOM helpers ----------------------------------------------------------------------

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "style") node.style.cssText = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function svg(tag, attrs, ...children) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const view = () => document.getElementById("view");
const number = (n) => Number(n || 0).toLocaleString("en-US");
const day = (t) => (t ? String(t).slice(0, 10) : "–");
const plural = (n, word) => `${number(n)} ${word}${n === 1 ? "" : "s"}`;

// Who ran an app: the first users the server lists (`DOMAIN\name` where known, else the
// SID) and how many more there were; every listed user with its SID on hover.
function usersSeen(app, shown = 3) {
  const list = app.users_seen || [];
  if (list.length === 0) return null;
  // A domain SID nobody named is long: its relative id says which account it is.
  const short = (sid) => sid.replace(/^(S-1-5-21)-\d+-\d+-\d+-(\d+)$/, "$1-…-$2");
  const names = list.slice(0, shown).map((u) => u.name || short(u.sid));
  const more = app.users - names.length;
  return el(
    "div",
    { class: "users-seen", title: list.map((u) => (u.name ? `${u.name} (${u.sid})` : u.sid)).join("\n") },
    names.join(", ") + (more > 0 ? ` +${number(more)} more` : "")
  );
}

function show(...nodes) {
  view().replaceChildren(...nodes);
}

function showMessage(text) {
  const box = document.getElementById("message");
  box.textContent = text || "";
  box.hidden = !text;
}

// ---- the token -------------------------------------------------------------------------

// `#token=…` (the link `lockstep serve` prints; also `#/group/x&token=…`) signs in, then
// leaves the address bar, so it is neither bookmarked nor shared by accident.
function takeTokenFromAddress() {
  const match = location.hash.match(/(^#|&)token=([^&]*)/);
  if (!match) return;
  sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(match[2]));
  whoami = null;
  let rest = location.hash.replace(match[0], match[1]).replace(/^#&/, "#").replace(/&$/, "");
  if (rest === "#" || rest === "") rest = "#/";
  history.replaceState(null, "", location.pathname + location.search + rest);
}

const token = () => sessionStorage.getItem(TOKEN_KEY);

function signOut(reason) {
  sessionStorage.removeItem(TOKEN_KEY);
  whoami = null;
  showMessage(reason || "");
  route();
}

function tokenForm() {
  const input = el("input", {
    id: "token",
    type: "password",
    autocomplete: "off",
    required: true,
    "aria-describedby": "token-help",
  });
  const form = el(
    "form",
    { class: "token panel" },
    el("h1", {}, "Sign in"),
    el("label", { for: "token" }, "Access token"),
    input,
    el(
      "p",
      { id: "token-help", class: "muted" },
      "The read or admin token lockstep serve was started with (LOCKSTEP_TOKEN), or the one it printed. It is kept for this browser tab only."
    ),
    el("button", { type: "submit" }, "Sign in")
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, input.value.trim());
    whoami = null;
    showMessage("");
    route();
  });
  show(form);
  input.focus();
}

// ---- the API ---------------------------------------------------------------------------

// `code` is the API's machine-readable error code (match it, never the text).
class ApiError extends Error {
  constructor(message, code) {
    super(message);
    this.code = code;
  }
}

async function api(path, { accept = "application/json", method = "GET", body, contentType, headers: extra = {} } = {}) {
  const headers = { Authorization: `Bearer ${token()}`, Accept: accept, ...extra };
  if (contentType) headers["Content-Type"] = contentType;
  const response = await fetch(path, { method, headers, body });
  if (response.status === 401) {
    signOut("The token was not accepted; enter it again.");
    throw new ApiError("not signed in");
  }
  if (!response.ok) {
    let text = `${response.status} ${response.statusText}`;
    let code;
    try {
      const error = await response.json();
      text = `${error.message} (${error.code})`;
      code = error.code;
    } catch (_) {
      // not the API's error shape: keep the status line
    }
    throw new ApiError(text, code);
  }
  return accept === "application/json" ? response.json() : response.blob();
}

// ---- the fleet overview -----------------------------------------------------------------

function statusBadge(status) {
  const label = { ready: "ready", not_ready: "not ready", insufficient_data: "insufficient data" }[status] || status;
  return el("span", { class: `status ${status}` }, label);
}

function groupCard(group) {
  return el(
    "a",
    { class: "card", href: `#/group/${encodeURIComponent(group.group)}`, "data-group": group.group },
    el("h3", {}, group.group, " ", statusBadge(group.status)),
    el(
      "dl",
      {},
      el("dt", {}, "Would block"),
      el("dd", { "data-field": "would_block_apps" }, plural(group.would_block_apps, "app")),
      el("dt", {}, "Audit events"),
      el("dd", { "data-field": "audit_events" }, number(group.audit_events)),
      el("dt", {}, "Hosts reporting"),
      el(
        "dd",
        { "data-field": "hosts" },
        group.hosts_in_inventory
          ? `${number(group.hosts_reporting)} of ${number(group.hosts_in_inventory)}`
          : `${number(group.hosts_reporting)}, none in the inventory`
      ),
      el("dt", {}, "Days of evidence"),
      el("dd", {}, number(group.days_of_evidence))
    )
  );
}

// An SVG chart with its value axis: gridlines and labels at 0, half and the maximum.
function chartFrame({ width, height, left, right, max, y }, label) {
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": label });
  for (const tick of [0, max / 2, max]) {
    chart.append(
      svg("line", { class: "axis", x1: left, x2: width - right, y1: y(tick), y2: y(tick) }),
      svg("text", { x: left - 6, y: y(tick) + 4, "text-anchor": "end" }, number(Math.round(tick)))
    );
  }
  return chart;
}

// Audit events per day, one line per group, as SVG drawn here.
function timelineChart(days) {
  const groups = [...new Set(days.map((d) => d.group))];
  const dates = [...new Set(days.map((d) => day(d.day)))].sort();
  if (dates.length === 0) return el("p", { class: "muted" }, "No audit events in the window.");
  const width = 900, height = 260, left = 56, right = 12, top = 12, bottom = 28;
  const max = Math.max(1, ...days.map((d) => d.audit_events));
  const x = (i) => left + (dates.length === 1 ? 0 : (i * (width - left - right)) / (dates.length - 1));
  const y = (v) => top + (height - top - bottom) * (1 - v / max);
  const chart = chartFrame({ width, height, left, right, max, y }, "Audit events per day and group");
  const labelEvery = Math.max(1, Math.ceil(dates.length / 8));
  dates.forEach((d, i) => {
    if (i % labelEvery === 0) chart.append(svg("text", { x: x(i), y: height - 8, "text-anchor": "middle" }, d.slice(5)));
  });
  groups.forEach((group, g) => {
    const color = PALETTE[g % PALETTE.length];
    const byDate = new Map(days.filter((d) => d.group === group).map((d) => [day(d.day), d.audit_events]));
    const points = dates.map((d, i) => `${x(i)},${y(byDate.get(d) || 0)}`).join(" ");
    chart.append(svg("polyline", { points, fill: "none", stroke: color, "stroke-width": 2 }));
    dates.forEach((d, i) => {
      if (byDate.has(d)) {
        chart.append(
          svg("circle", { cx: x(i), cy: y(byDate.get(d)), r: 2.5, fill: color },
            svg("title", {}, `${group} ${d}: ${number(byDate.get(d))} audit events`))
        );
      }
    });
  });
  const legend = el(
    "div",
    { class: "legend" },
    groups.map((group, g) => el("span", { style: `--swatch: ${PALETTE[g % PALETTE.length]}` }, group))
  );
  return el("div", { class: "chart" }, chart, legend);
}

// The group's timeline: audit events and blocks per day (blocks after the flip split into
// expected and unexpected), with the versions published and the rollout record marked on the
// days they happened; the same dates as a list under it.
function groupTimeline(days, versions, rollouts, monitor) {
  const blocks = new Map();
  for (const c of monitor.collections) {
    for (const d of c.days) {
      const b = blocks.get(d.day) || { expected: 0, unexpected: 0 };
      b.expected += d.expected;
      b.unexpected += d.unexpected;
      blocks.set(d.day, b);
    }
  }
  const marks = [
    ...versions.map((v) => ({ day: day(v.published_at), text: `version ${v.version} published`, kind: "version" })),
    ...rollouts.map((r) => ({
      day: day(r.at),
      text: `${r.collection} ${r.mode}${r.version ? ` (version ${r.version})` : ""}`,
      kind: r.mode,
    })),
  ];
  const counted = new Map(days.map((d) => [day(d.day), d]));
  const dates = [...new Set([...counted.keys(), ...blocks.keys(), ...marks.map((m) => m.day)])].sort();
  if (dates.length === 0) return el("p", { class: "muted", id: "group-timeline" }, "No events, versions or rollouts yet.");
  // Every day between the first and the last, so gaps show as gaps.
  const all = [];
  for (let t = Date.parse(`${dates[0]}T00:00:00Z`); t <= Date.parse(`${dates[dates.length - 1]}T00:00:00Z`); t += 86400000) {
    all.push(new Date(t).toISOString().slice(0, 10));
  }
  const width = 900, height = 200, left = 56, right = 12, top = 22, bottom = 28;
  const slot = (width - left - right) / all.length;
  const stack = (d) => {
    const c = counted.get(d) || { audit_events: 0, blocked_events: 0 };
    const b = blocks.get(d) || { expected: 0, unexpected: 0 };
    const outside = Math.max(0, c.blocked_events - b.expected - b.unexpected);
    return [
      ["audit", c.audit_events, "#9aa5b1"],
      ["expected", b.expected, PALETTE[0]],
      ["unexpected", b.unexpected, PALETTE[1]],
      ["blocked", outside, PALETTE[3]],
    ];
  };
  const max = Math.max(1, ...all.map((d) => stack(d).reduce((sum, [, n]) => sum + n, 0)));
  const y = (v) => top + (height - top - bottom) * (1 - v / max);
  const chart = chartFrame({ width, height, left, right, max, y }, "Audit events, blocks, versions and rollouts per day");
  const labelEvery = Math.max(1, Math.ceil(all.length / 8));
  all.forEach((d, i) => {
    const x = left + i * slot;
    let base = 0;
    for (const [kind, n, color] of stack(d)) {
      if (!n) continue;
      chart.append(
        svg("rect", { x: x + slot * 0.1, width: slot * 0.8, y: y(base + n), height: y(base) - y(base + n), fill: color, "data-kind": kind, "data-day": d },
          svg("title", {}, `${d}: ${number(n)} ${kind === "audit" ? "audit events" : `${kind} blocks`}`))
      );
      base += n;
    }
    if (i % labelEvery === 0) chart.append(svg("text", { x: x + slot / 2, y: height - 8, "text-anchor": "middle" }, d.slice(5)));
  });
  for (const m of marks) {
    const i = all.indexOf(m.day);
    const x = left + (i + 0.5) * slot;
    const color = m.kind === "enforce" ? PALETTE[2] : m.kind === "audit" ? PALETTE[3] : PALETTE[4];
    chart.append(
      svg("line", { x1: x, x2: x, y1: top - 8, y2: height - bottom, stroke: color, "stroke-dasharray": "4 3", "data-mark": m.kind },
        svg("title", {}, `${m.day}: ${m.text}`))
    );
  }
  const legend = el(
    "div",
    { class: "legend" },
    [["audit events", "#9aa5b1"], ["expected blocks", PALETTE[0]], ["unexpected blocks", PALETTE[1]], ["blocks outside the record", PALETTE[3]],
      ["version published", PALETTE[4]], ["enforced", PALETTE[2]]].map(([text, color]) => el("span", { style: `--swatch: ${color}` }, text))
  );
  const first = [...counted.keys()].sort()[0];
  const entries = [
    ...(first ? [{ day: first, text: "first audit or block event in the window" }] : []),
    ...marks,
  ].sort((a, b) => a.day.localeCompare(b.day));
  const list = el("ol", { id: "group-timeline", class: "timeline" }, entries.map((e) => el("li", { "data-kind": e.kind || "events" }, `${e.day}: ${e.text}`)));
  return el("div", { class: "chart", id: "group-chart" }, chart, legend, list);
}

async function overview() {
  show(el("p", { class: "muted" }, "Loading the fleet…"));
  const [groups, timeline, collector] = await Promise.all([api("/api/v1/groups"), api("/api/v1/timeline"), api("/api/v1/collector")]);
  if (groups.groups.length === 0) {
    show(
      el("h1", {}, "Fleet overview"),
      el(
        "div",
        { class: "panel empty" },
        el("p", {}, "No data yet: ingest EVTX files or run the quick start."),
        el("p", { class: "muted" }, "lockstep ingest --data DIR path/to/exports/, or drop the files below.")
      ),
      el("h2", {}, "Upload"),
      uploadPanel()
    );
    return;
  }
  const workbook = el("button", { type: "button", id: "download-workbook" }, "Workbook for the change board (.xlsx)");
  workbook.addEventListener("click", () => downloadWorkbook().catch((e) => showMessage(e.message)));
  show(
    el("h1", {}, "Fleet overview"),
    collectorLine(collector.status),
    el("div", { class: "cards", id: "groups" }, groups.groups.map(groupCard)),
    el("p", {}, workbook),
    el("h2", {}, "Audit events per day"),
    el("div", { class: "panel" }, timelineChart(timeline.days)),
    el("h2", {}, "What if"),
    whatIfPanel(),
    el("h2", {}, "Upload"),
    uploadPanel()
  );
}

// The collector (`lockstep collect`, `serve --watch`), when one runs on this data folder:
// its last pass, the files behind, what is missing.
function collectorLine(status) {
  if (!status) return null;
  const ago = Math.max(0, Math.round(Date.now() / 1000 - status.updated_at));
  const behind = status.files.filter((f) => f.behind > 0);
  const parts = [
    `Collector: ${plural(status.files.length, "file")} watched, last pass ${ago} s ago`,
    behind.length ? `${plural(behind.length, "file")} behind (up to ${Math.max(...behind.map((f) => f.lag_seconds))} s)` : "all caught up",
  ];
  if (status.missing.length) parts.push(`not there now: ${status.missing.join(", ")}`);
  if (status.last_error) parts.push(`last error: ${status.last_error}`);
  return el("p", { class: status.last_error || status.missing.length ? "flag" : "muted", id: "collector" }, parts.join(" · "));
}

// ---- what-if and uploads ---------------------------------------------------------------

function simulationTable(sim) {
  const rows = sim.groups.map((g) =>
    el(
      "tr",
      { "data-group": g.group },
      el("td", {}, g.group),
      el("td", { class: "num", "data-field": "still_blocked_events" }, number(g.still_blocked_events)),
      el("td", { class: "num" }, number(g.still_blocked.length)),
      el("td", { class: "num", "data-field": "newly_blocked_events" }, number(g.newly_blocked_events)),
      el("td", { class: "num" }, number(g.newly_blocked.length)),
      el("td", {}, g.still_blocked.concat(g.newly_blocked).slice(0, 3).map((b) => appName(b)).join("; ")),
      el(
        "td",
        { class: "num", "data-field": "bypass_risks", title: g.bypass_risks.map((b) => appName(b)).join("; ") },
        number(g.bypass_risks.length)
      ),
      el(
        "td",
        { "data-field": "hardening_hits" },
        (g.hardening_hits || []).map((h) => `${appName(h)}: ${h.user_sids.map((sid) => (sim.names && sim.names[sid]) || sid).join(", ")}`).join("; ")
      )
    )
  );
  return el(
    "div",
    { class: "table-wrap" },
    el(
      "table",
      { id: "whatif-table" },
      el(
        "thead",
        {},
        el(
          "tr",
          {},
          [
            "Group",
            "Still blocked events",
            "apps",
            "Newly blocked events",
            "apps",
            "Most blocked",
            "Allowed from user-writable folders",
            "Hardening would block (users)",
          ].map((h, i) => el("th", { scope: "col", class: (i > 0 && i < 5) || i === 6 ? "num" : "" }, h))
        )
      ),
      el("tbody", {}, rows)
    )
  );
}

function whatIfPanel() {
  const input = el("input", { type: "file", id: "whatif-file", accept: ".xml,application/xml,text/xml", "aria-label": "Candidate policy XML" });
  const result = el("div", { id: "whatif-result", "aria-live": "polite" });
  const run = el("button", { type: "button", id: "whatif-run" }, "Simulate");
  const harden = el("input", { type: "checkbox", id: "whatif-harden" });
  const hardenLabel = el("label", {}, harden, " Also block the programs that bypass allow lists (mshta, MSBuild, wmic, …)");
  run.addEventListener("click", async () => {
    const file = input.files[0];
    if (!file) {
      showMessage("Choose a candidate policy XML file first.");
      return;
    }
    run.disabled = true;
    result.replaceChildren(el("p", { class: "muted" }, `Simulating ${file.name}…`));
    try {
      const query = harden.checked ? "?top=20&harden=true" : "?top=20";
      const sim = await api(`/api/v1/simulate${query}`, { method: "POST", body: file, contentType: "application/xml" });
      showMessage("");
      result.replaceChildren(
        el("p", { class: "muted" }, `${file.name}: ${number(sim.executions_judged)} executions judged (per host, outcome and file).`),
        simulationTable(sim)
      );
    } catch (error) {
      result.replaceChildren();
      showMessage(`What-if: ${error.message}`);
    } finally {
      run.disabled = false;
    }
  });
  return el(
    "div",
    { class: "panel" },
    el("p", {}, "Upload a candidate AppLocker policy to see what each group would still (or newly) have blocked if it were enforced."),
    el("div", { class: "toolbar" }, input, hardenLabel, run),
    result
  );
}

// Sends one file to /ingest, reporting upload progress (fetch cannot).
function uploadFile(file, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/api/v1/ingest");
    xhr.setRequestHeader("Authorization", `Bearer ${token()}`);
    xhr.setRequestHeader("Content-Type", "application/octet-stream");
    xhr.upload.addEventListener("progress", (e) => e.lengthComputable && onProgress(e.loaded / e.total));
    xhr.addEventListener("load", () => {
      let body = null;
      try {
        body = JSON.parse(xhr.responseText);
      } catch (_) {
        // not JSON: reported by status below
      }
      if (xhr.status === 200) resolve(body);
      else reject(new ApiError(body && body.message ? `${body.message} (${body.code})` : `${xhr.status} ${xhr.statusText}`));
    });
    xhr.addEventListener("error", () => reject(new ApiError("the connection failed during the upload")));
    xhr.send(file);
  });
}

function uploadPanel() {
  const input = el("input", { type: "file", id: "upload-file", multiple: true, accept: ".evtx", "aria-label": "EVTX files to ingest" });
  const log = el("ul", { id: "upload-log", "aria-live": "polite" });
  async function ingest(files) {
    let stored = 0;
    for (const file of files) {
      const bar = el("progress", { max: 1, value: 0 });
      const line = el("li", {}, `${file.name} `, bar);
      log.append(line);
      try {
        const s = await uploadFile(file, (fraction) => (bar.value = fraction));
        stored += s.rows_new;
        line.replaceChildren(
          `${file.name}: ${plural(s.rows_new, "new event")}, ${number(s.rows_duplicate)} already stored` +
            (s.partial ? `, ${plural(s.damaged.length, "damaged part")} skipped` : "")
        );
      } catch (error) {
        line.replaceChildren(el("span", { class: "flag" }, `${file.name}: ${error.message}`));
      }
    }
    if (stored > 0) log.append(el("li", {}, el("a", { href: "#/", onclick: () => route() }, "Refresh the overview")));
  }
  input.addEventListener("change", () => ingest([...input.files]));
  const zone = el(
    "div",
    { class: "panel drop", id: "upload" },
    el("p", {}, "Drop EVTX files here, or choose them, to ingest them (admin token)."),
    input,
    log
  );
  zone.addEventListener("dragover", (e) => {
    e.preventDefault();
    zone.classList.add("over");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    ingest([...e.dataTransfer.files]);
  });
  return zone;
}

// ---- a group ---------------------------------------------------------------------------

// `O=` (else `CN=`) of a certificate subject: what people call the publisher.
function shortPublisher(subject) {
  const match = subject.match(/(?:^|,\s*)O=("(?:[^"]|"")*"|[^,]*)/) || subject.match(/(?:^|,\s*)CN=("(?:[^"]|"")*"|[^,]*)/);
  if (!match) return subject;
  return match[1].replace(/^"|"$/g, "").replace(/""/g, '"');
}

// lockstep's one label for an app (the server computes it; every view prints the same).
function appName(app) {
  return app.label;
}

const COLUMNS = [
  { key: "collection", label: "Collection", value: (a) => a.collection || "" },
  { key: "app", label: "App", value: appName },
  { key: "version", label: "Versions", value: (a) => a.version_max || "" },
  { key: "events", label: "Events", value: (a) => a.events, numeric: true },
  { key: "hosts", label: "Hosts", value: (a) => a.hosts, numeric: true },
  { key: "users", label: "Users", value: (a) => a.users, numeric: true },
  { key: "first_seen", label: "First seen", value: (a) => a.first_seen || "" },
  { key: "last_seen", label: "Last seen", value: (a) => a.last_seen || "" },
];

function appsTable(apps) {
  const state = { sort: "events", descending: true, collection: "", text: "", page: 0 };
  const tbody = el("tbody");
  const counter = el("span", { class: "muted", "aria-live": "polite" });
  const prev = el("button", { type: "button" }, "Previous");
  const next = el("button", { type: "button" }, "Next");
  const headers = COLUMNS.map((column) =>
    el(
      "th",
      { class: column.numeric ? "num" : "", scope: "col", "data-column": column.key },
      el("button", { type: "button", onclick: () => sortBy(column.key) }, column.label)
    )
  );

  function rows() {
    const needle = state.text.toLowerCase();
    const column = COLUMNS.find((c) => c.key === state.sort);
    return apps
      .filter((a) => !state.collection || a.collection === state.collection)
      .filter((a) => !needle || [appName(a), ...a.paths, a.file_hash || ""].join(" ").toLowerCase().includes(needle))
      .sort((a, b) => {
        const [va, vb] = [column.value(a), column.value(b)];
        const order = column.numeric ? va - vb : String(va).localeCompare(String(vb));
        return state.descending ? -order : order;
      });
  }

  function render() {
    const all = rows();
    const pages = Math.max(1, Math.ceil(all.length / PAGE_SIZE));
    state.page = Math.min(state.page, pages - 1);
    const shown = all.slice(state.page * PAGE_SIZE, (state.page + 1) * PAGE_SIZE);
    tbody.replaceChildren(
      ...shown.map((a) =>
        el(
          "tr",
          {},
          el("td", {}, a.collection || ""),
          el(
            "td",
            { title: a.publisher || a.file_hash || "" },
            appName(a),
            a.paths.length ? el("div", { class: "paths" }, a.paths.join("; ")) : null
          ),
          el("td", {}, a.version_min && a.version_min !== a.version_max ? `${a.version_min} – ${a.version_max}` : a.version_max || ""),
          el("td", { class: "num" }, number(a.events)),
          el("td", { class: "num" }, number(a.hosts)),
          el("td", { class: "num" }, number(a.users), usersSeen(a)),
          el("td", { class: "date" }, day(a.first_seen)),
          el("td", { class: "date" }, day(a.last_seen))
        )
      )
    );
    if (shown.length === 0) tbody.append(el("tr", {}, el("td", { colspan: COLUMNS.length, class: "muted" }, "No app matches.")));
    counter.textContent = `${number(all.length)} apps · page ${state.page + 1} of ${pages}`;
    prev.disabled = state.page === 0;
    next.disabled = state.page >= pages - 1;
    headers.forEach((th) => {
      const key = th.dataset.column;
      th.setAttribute("aria-sort", key === state.sort ? (state.descending ? "descending" : "ascending") : "none");
    });
  }

  function sortBy(key) {
    state.descending = state.sort === key ? !state.descending : COLUMNS.find((c) => c.key === key).numeric;
    state.sort = key;
    render();
  }

  const collection = el(
    "select",
    { "aria-label": "Collection", onchange: (e) => { state.collection = e.target.value; state.page = 0; render(); } },
    el("option", { value: "" }, "All collections"),
    // The collections this group's apps are in (the server owns the list of collections).
    [...new Set(apps.map((a) => a.collection).filter(Boolean))].sort().map((c) => el("option", { value: c }, c))
  );
  const search = el("input", {
    type: "search",
    placeholder: "Filter by app, path or hash",
    "aria-label": "Filter apps",
    oninput: (e) => { state.text = e.target.value; state.page = 0; render(); },
  });
  prev.addEventListener("click", () => { state.page -= 1; render(); });
  next.addEventListener("click", () => { state.page += 1; render(); });
  render();
  return el(
    "div",
    {},
    el("div", { class: "toolbar" }, collection, search, el("span", { class: "grow" }), counter, prev, next),
    el("div", { class: "table-wrap" }, el("table", { id: "apps" }, el("thead", {}, el("tr", {}, headers)), tbody))
  );
}

function ruleText(rule) {
  if (!rule) return "no safe rule";
  const c = rule.condition;
  if (c.type === "publisher") {
    const version = c.low ? ` ≥ ${c.low}` : "";
    return `${rule.action} publisher ${shortPublisher(c.publisher_name)} / ${c.product_name || "*"} / ${c.binary_name || "*"}${version}`;
  }
  if (c.type === "path") return `${rule.action} path ${c.path}`;
  return `${rule.action} hash ${c.hashes.map((h) => h.source_file_name || h.data.slice(0, 18)).join(", ")}`;
}

function suggestionList(suggestions) {
  if (suggestions.length === 0) return el("p", { class: "muted" }, "Nothing to suggest: no app would be blocked.");
  return el(
    "div",
    { class: "panel", id: "suggestions" },
    suggestions.map((s) =>
      el(
        "div",
        { class: "suggestion" },
        el("div", {}, el("span", { class: "kind" }, s.collection), " ", ruleText(s.rule)),
        el(
          "div",
          { class: "muted" },
          `${plural(s.events, "event")} · ${plural(s.hosts, "host")} · ${plural(s.users, "user")} · ${s.apps.join(", ")}`
        ),
        el("div", {}, s.why),
        s.review.length ? el("div", { class: "flag" }, "Review: ", s.review.map((r) => r.message).join("; ")) : null
      )
    )
  );
}

// Saves a blob the API sent as a file.
function saveBlob(blob, name) {
  const url = URL.createObjectURL(blob);
  const link = el("a", { href: url, download: name });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

const fileStem = (group) => group.replace(/[^A-Za-z0-9_-]/g, "_");

async function downloadPolicy(group) {
  const blob = await api(`/api/v1/groups/${encodeURIComponent(group)}/suggestions?format=xml`, { accept: "application/xml" });
  saveBlob(blob, `${fileStem(group)}-suggested.xml`);
}

// The change board's workbook (every group): summary, a sheet per group, rules, hosts.
async function downloadWorkbook() {
  const blob = await api("/api/v1/export.xlsx", {
    accept: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
  });
  saveBlob(blob, "lockstep-workbook.xlsx");
}

async function downloadCandidate(group) {
  const blob = await api(`/api/v1/groups/${encodeURIComponent(group)}/policy/candidate`, { accept: "application/xml" });
  saveBlob(blob, `${fileStem(group)}-candidate.xml`);
}

// Who the token is: whether the page offers the buttons that change things.
let whoami = null;
async function me() {
  if (!whoami) whoami = await api("/api/v1/whoami");
  return whoami;
}

// The group's readiness card: status, per collection, and what is left to do.
function readinessCard(r) {
  const collections = el(
    "ul",
    { class: "collections" },
    r.collections.map((c) =>
      el(
        "li",
        { "data-collection": c.collection },
        el("span", { class: "kind" }, c.collection),
        " ",
        statusBadge(c.status),
        c.reasons.length ? el("span", { class: "muted" }, " ", c.reasons.map((x) => x.message).join("; ")) : null
      )
    )
  );
  const todo = r.todo.length
    ? el("ol", { class: "todo" }, r.todo.slice(0, 10).map((t) => el("li", { "data-code": t.code }, t.message)))
    : el("p", { class: "muted" }, "Nothing left to do.");
  return el(
    "div",
    { class: "panel", id: "readiness", "data-status": r.status },
    el("h2", {}, "Readiness ", statusBadge(r.status)),
    el("p", { class: "muted" }, `Judged on ${r.candidate}.`),
    collections,
    r.blocked_on_purpose.length
      ? el(
          "p",
          {},
          `Blocked on purpose: ${plural(r.blocked_on_purpose.length, "app")}, seen by ` +
            `${plural(new Set(r.blocked_on_purpose.flatMap((a) => a.host_names)).size, "host")} — tell their users.`
        )
      : null,
    el("h3", {}, `To do (${number(r.todo.length)})`),
    todo
  );
}

// The policy in force: where it came from, and (admin) a new one to upload.
function currentPolicyPanel(group, current, admin, reload) {
  const text = current
    ? `${current.scope === "fleet" ? "The fleet's" : "The group's own"} policy, imported ${day(current.imported_at)} by ${current.imported_by} from ${current.source}.`
    : "No policy in force imported: the candidate is only the decided rules, and what the policy allowed is taken to stay allowed.";
  const panel = el("div", { class: "panel", id: "current-policy" }, el("p", {}, text));
  if (admin) {
    const input = el("input", { type: "file", id: "policy-file", accept: ".xml,.pol", "aria-label": "Policy in force (XML or registry.pol)" });
    const send = el("button", { type: "button", id: "policy-upload" }, "Import as this group's policy");
    send.addEventListener("click", async () => {
      const file = input.files[0];
      if (!file) return showMessage("Choose the group's policy (XML or registry.pol) first.");
      send.disabled = true;
      try {
        const bytes = new Uint8Array(await file.arrayBuffer());
        const pol = bytes.length >= 4 && String.fromCharCode(...bytes.slice(0, 4)) === "PReg";
        await api(`/api/v1/groups/${encodeURIComponent(group)}/policy/current`, {
          method: "PUT",
          body: file,
          contentType: pol ? "application/octet-stream" : "application/xml",
        });
        showMessage("");
        await reload();
      } catch (error) {
        showMessage(`Policy: ${error.message}`);
      } finally {
        send.disabled = false;
      }
    });
    panel.append(el("div", { class: "toolbar" }, input, send));
  }
  return panel;
}

// One row per app the candidate would block: what was decided, the rule it would get, and
// (admin) the decision to take.
function triageTable(group, readiness, suggestions, decisions, admin, reload) {
  const suggestionOf = new Map();
  for (const s of suggestions) for (const id of s.app_ids) suggestionOf.set(id, s);
  const decisionOf = new Map(decisions.map((d) => [d.app_id, d]));
  const apps = [...readiness.undecided, ...readiness.deferred, ...readiness.blocked_on_purpose];
  if (apps.length === 0) return el("p", { class: "muted", id: "triage" }, "The candidate blocks nothing recorded in this group.");
  const rows = apps.map((a) => {
    const s = suggestionOf.get(a.app_id);
    const d = decisionOf.get(a.app_id);
    const flagged = s && s.review.length > 0;
    const decided = d
      ? el("span", {}, el("strong", {}, d.verdict), ` by ${d.decided_by}, ${day(d.decided_at)}`, d.note ? el("div", { class: "muted" }, d.note) : null)
      : el("span", { class: "muted" }, "undecided");
    const cells = [
      el("td", {}, a.collection || ""),
      el("td", { class: "app" }, appName(a), el("div", { class: "paths" }, a.app_id)),
      el("td", { class: "num" }, number(a.events)),
      el("td", { class: "num" }, number(a.hosts)),
      el("td", { class: "num", "data-field": "users" }, number(a.users), usersSeen(a)),
      el(
        "td",
        { class: "rule" },
        s ? ruleText(s.rule) : "—",
        flagged ? el("div", { class: "flag" }, "Review: ", s.review.map((r) => r.message).join("; ")) : null
      ),
      el("td", { "data-field": "decision" }, decided),
    ];
    if (admin) {
      const note = el("input", { type: "text", placeholder: "why (optional)", "aria-label": `Note on ${appName(a)}`, class: "note" });
      const act = (verdict, force) => async () => {
        try {
          await api(`/api/v1/groups/${encodeURIComponent(group)}/decisions/${a.app_id}`, {
            method: "PUT",
            contentType: "application/json",
            headers: { "If-Match": `"${d ? d.version : 0}"` },
            body: JSON.stringify({ verdict, note: note.value || null, force: !!force }),
          });
          showMessage("");
          await reload();
        } catch (error) {
          showMessage(`Decision: ${error.message}`);
        }
      };
      const canAllow = s && s.rule;
      cells.push(
        el(
          "td",
          { class: "actions" },
          canAllow
            ? el("button", { type: "button", "data-action": "allow", onclick: act("allow", flagged) }, flagged ? "Allow anyway" : "Allow")
            : null,
          el("button", { type: "button", "data-action": "block", onclick: act("block") }, "Block"),
          el("button", { type: "button", "data-action": "defer", onclick: act("defer") }, "Defer"),
          note
        )
      );
    }
    return el("tr", { "data-app": a.app_id }, cells);
  });
  const head = ["Collection", "App", "Events", "Hosts", "Users", "Rule it would get", "Decision"].concat(admin ? ["Decide"] : []);
  return el(
    "div",
    { class: "table-wrap" },
    el(
      "table",
      { id: "triage" },
      el("thead", {}, el("tr", {}, head.map((h, i) => el("th", { scope: "col", class: i >= 2 && i <= 4 ? "num" : "" }, h)))),
      el("tbody", {}, rows)
    )
  );
}

// ---- the flip and after: versions, the rollout record, the monitor ------------------------

async function downloadVersion(group, version, enforce) {
  const query = enforce ? `?enforce=${enforce}` : "";
  const blob = await api(`/api/v1/groups/${encodeURIComponent(group)}/versions/${version}${query}`, { accept: "application/xml" });
  saveBlob(blob, `${fileStem(group)}-v${version}${enforce ? "-enforce" : "-audit"}.xml`);
}

const COLLECTIONS = ["EXE", "DLL", "MSI", "SCRIPT", "APPX"];

// What changes from version `before` to `after`: the rules, and the apps whose verdict
// changes over the recorded events.
async function compareVersions(group, before, after, slot) {
  const change = await api(`/api/v1/groups/${encodeURIComponent(group)}/diff?before=${before}&after=${after}`);
  const r = change.rules;
  const rows = [
    ...r.modes.map((m) => ["mode", m.collection, `${m.before} → ${m.after}`, ""]),
    ...["added", "removed", "changed"].flatMap((what) => r[what].map((c) => [what, c.collection, c.subject, (c.details || []).join("; ")])),
  ];
  const i = change.impact;
  slot.replaceChildren(
    el("h3", {}, `Changes from version ${before} to ${after}`),
    rows.length
      ? el(
          "div",
          { class: "table-wrap" },
          el(
            "table",
            { id: "diff-rules" },
            el("thead", {}, el("tr", {}, ["Change", "Collection", "Rule", "Details"].map((h) => el("th", { scope: "col" }, h)))),
            el("tbody", {}, rows.map((cells) => el("tr", { "data-change": cells[0] }, cells.map((c) => el("td", {}, c)))))
          )
        )
      : el("p", { class: "muted" }, "No rule changes."),
    el(
      "p",
      { id: "diff-impact" },
      `On the recorded events: ${plural(i.newly_blocked_events, "event")} newly blocked, ${plural(i.newly_allowed_events, "event")} newly allowed` +
        (i.newly_allowed.length ? ` (${i.newly_allowed.map((a) => appName(a)).join(", ")})` : "")
    )
  );
}

// Published versions (with downloads, the rollback aid among them), the rollout record,
// and after the flip: blocks per day, the warnings and the exception queue.
function flipPanel(group, versions, rollouts, monitor, admin, reload) {
  const path = `/api/v1/groups/${encodeURIComponent(group)}`;
  const diffSlot = el("div", { id: "version-diff" });
  const live = new Map(monitor.collections.filter((c) => c.mode === "enforce").map((c) => [c.collection, c.version]));
  const act = (what, request) => async () => {
    try {
      const answer = await request();
      // Recording a flip of a collection the version has no rules for is allowed, and said.
      const warned = (answer && answer.warnings) || [];
      showMessage(warned.map((w) => `Warning: ${w.message}`).join(" "));
      await reload();
    } catch (error) {
      showMessage(`${what}: ${error.message}`);
    }
  };
  const versionRows = versions.map((v) => {
    const enforced = [...live].filter(([, n]) => n === v.version).map(([c]) => c);
    return el(
      "tr",
      { "data-version": v.version },
      el("td", { class: "num" }, String(v.version)),
      el("td", { class: "date" }, day(v.published_at)),
      el("td", {}, v.published_by),
      el("td", {}, v.note || ""),
      el("td", {}, enforced.length ? `live: ${enforced.join(", ")}` : ""),
      el(
        "td",
        { class: "actions" },
        v.version > 1
          ? el("button", { type: "button", "data-action": "compare", onclick: () => compareVersions(group, v.version - 1, v.version, diffSlot).catch((e) => showMessage(e.message)) }, `Changes from ${v.version - 1}`)
          : null,
        el("button", { type: "button", "data-action": "audit-xml", onclick: () => downloadVersion(group, v.version, "").catch((e) => showMessage(e.message)) }, "Audit-only XML"),
        el("button", { type: "button", "data-action": "enforce-xml", onclick: () => downloadVersion(group, v.version, "EXE").catch((e) => showMessage(e.message)) }, "XML enforcing EXE")
      )
    );
  });
  const parts = [
    diffSlot,
    versions.length
      ? el(
          "div",
          { class: "table-wrap" },
          el(
            "table",
            { id: "versions" },
            el("thead", {}, el("tr", {}, ["Version", "Published", "By", "Note", "", "Download"].map((h) => el("th", { scope: "col" }, h)))),
            el("tbody", {}, versionRows)
          )
        )
      : el("p", { class: "muted", id: "versions" }, "No version published yet: publishing freezes the candidate as version 1."),
  ];
  if (admin) {
    const note = el("input", { type: "text", placeholder: "note (change ticket)", "aria-label": "Note on the version", class: "note" });
    const publish = el("button", { type: "button", id: "publish" }, "Publish the candidate");
    publish.addEventListener(
      "click",
      act("Publish", () => api(`${path}/versions`, { method: "POST", contentType: "application/json", body: JSON.stringify({ note: note.value || null }) }))
    );
    parts.push(el("div", { class: "toolbar" }, publish, note));
    if (versions.length) {
      const latest = versions[versions.length - 1].version;
      const boxes = COLLECTIONS.map((c) => el("label", {}, el("input", { type: "checkbox", value: c, checked: c === "EXE" }), ` ${c}`));
      const chosen = () => boxes.map((b) => b.querySelector("input")).filter((i) => i.checked).map((i) => i.value);
      const record = (mode) =>
        act("Rollout", () =>
          api(`${path}/rollouts`, {
            method: "POST",
            contentType: "application/json",
            body: JSON.stringify({ mode, collections: chosen(), version: mode === "enforce" ? latest : null }),
          })
        );
      parts.push(
        el(
          "div",
          { class: "toolbar", id: "rollout-form" },
          ...boxes,
          el("button", { type: "button", id: "record-enforce", onclick: record("enforce") }, `Record: version ${latest} enforced now`),
          el("button", { type: "button", id: "record-audit", onclick: record("audit") }, "Record: back to audit")
        )
      );
    }
  }
  parts.push(
    el("h3", {}, "After the flip"),
    el(
      "p",
      { class: "muted", id: "monitor-summary" },
      monitor.collections.length
        ? `${plural(monitor.expected_blocked_events, "expected block")} · ${plural(monitor.unexpected_blocked_events, "unexpected block")} since enforcement`
        : "No rollout recorded: every collection is in audit."
    )
  );
  const states = monitor.collections.map((c) =>
    el(
      "li",
      { "data-collection": c.collection, "data-mode": c.mode },
      `${c.collection}: ${c.mode}${c.version ? ` (version ${c.version})` : ""} since ${day(c.since)}`,
      c.days.length ? el("span", { class: "muted" }, " · " + c.days.map((d) => `${d.day}: ${d.expected} expected, ${d.unexpected} unexpected`).join("; ")) : null
    )
  );
  if (states.length) parts.push(el("ul", { id: "rollout-state" }, states));
  if (monitor.policy_applied.length) {
    const waiting = monitor.policy_applied.filter((h) => !h.applied_at).map((h) => h.host);
    parts.push(
      el(
        "p",
        { class: "muted", id: "policy-applied" },
        `Policy applied (8001) since the latest change: ${monitor.policy_applied.length - waiting.length} of ${plural(monitor.policy_applied.length, "host")}` +
          (waiting.length ? `; not yet: ${waiting.join(", ")}` : "")
      )
    );
  }
  if (monitor.warnings.length) parts.push(el("ul", { id: "monitor-warnings" }, monitor.warnings.map((w) => el("li", { class: "flag", "data-code": w.code }, w.message))));
  if (monitor.exceptions.length) {
    const rows = monitor.exceptions.map((e) => {
      const decide = (verdict) =>
        act("Decision", () =>
          api(`${path}/decisions/${e.app_id}`, { method: "PUT", contentType: "application/json", body: JSON.stringify({ verdict, force: e.review.length > 0 }) })
        );
      return el(
        "tr",
        { "data-app": e.app_id },
        el("td", {}, e.collection || ""),
        el("td", { class: "app" }, appName(e), el("div", { class: "paths" }, e.app_id)),
        el("td", { class: "num" }, number(e.events)),
        el("td", { class: "num" }, number(e.hosts)),
        el("td", { class: "date" }, day(e.last_seen)),
        el("td", { class: "rule" }, e.proposed_rule ? "a rule is proposed" : "no safe rule"),
        admin
          ? el(
              "td",
              { class: "actions" },
              e.proposed_rule ? el("button", { type: "button", "data-action": "allow", onclick: decide("allow") }, "Allow (then publish)") : null,
              el("button", { type: "button", "data-action": "block", onclick: decide("block") }, "Confirm block")
            )
          : null
      );
    });
    parts.push(
      el(
        "div",
        { class: "table-wrap" },
        el(
          "table",
          { id: "exceptions" },
          el("thead", {}, el("tr", {}, ["Collection", "App", "Events", "Hosts", "Last blocked", "Rule", ""].map((h) => el("th", { scope: "col" }, h)))),
          el("tbody", {}, rows)
        )
      )
    );
  }
  return el("div", { id: "flip" }, parts);
}

async function groupPage(group) {
  show(el("p", { class: "muted" }, `Loading ${group}…`));
  const path = `/api/v1/groups/${encodeURIComponent(group)}`;
  const [who, blocked, suggestions] = await Promise.all([
    me(),
    api(`${path}/blocked?limit=10000`),
    api(`${path}/suggestions`),
  ]);
  const admin = who.role === "admin";
  const card = el("div", { id: "readiness-slot" });
  const policySlot = el("div", { id: "policy-slot" });
  const triageSlot = el("div", { id: "triage-slot" });
  const flipSlot = el("div", { id: "flip-slot" });
  // Readiness, the policy in force and the decisions change with every decision: reloaded
  // together, the rest of the page stays.
  async function reload() {
    const [ready, decisions, current, versions, rollouts, monitor, timeline] = await Promise.all([
      api(`/api/v1/readiness?groups=${encodeURIComponent(group)}`),
      api(`${path}/decisions`),
      // None imported (for the group or the fleet) is an answer; any other error is shown.
      api(`${path}/policy/current?format=json`).catch((error) => {
        if (error.code === "no_policy") return null;
        throw error;
      }),
      api(`${path}/versions`),
      api(`${path}/rollouts`),
      api(`${path}/monitor`),
      api(`/api/v1/timeline?groups=${encodeURIComponent(group)}`),
    ]);
    const r = ready.groups[0];
    card.replaceChildren(readinessCard(r));
    policySlot.replaceChildren(currentPolicyPanel(group, current, admin, reload));
    triageSlot.replaceChildren(triageTable(group, r, suggestions.suggestions, decisions.decisions, admin, reload));
    flipSlot.replaceChildren(groupTimeline(timeline.days, versions, rollouts, monitor), flipPanel(group, versions, rollouts, monitor, admin, reload));
  }
  const download = el("button", { type: "button", id: "download" }, "Download suggested policy (XML)");
  download.addEventListener("click", () => downloadPolicy(group).catch((e) => showMessage(e.message)));
  const candidate = el("button", { type: "button", id: "download-candidate" }, "Download the candidate (XML)");
  candidate.addEventListener("click", () => downloadCandidate(group).catch((e) => showMessage(e.message)));
  const flagged = suggestions.suggestions.filter((s) => s.review.length).length;
  show(
    el("p", {}, el("a", { href: "#/" }, "← Fleet overview")),
    el("h1", {}, group),
    el(
      "p",
      { class: "muted" },
      `${plural(blocked.total_apps, "app")} would be blocked · ${plural(blocked.audit_events, "audit event")} · ` +
        `${number(blocked.hosts_reporting)} of ${number(blocked.hosts_in_inventory)} hosts reporting`
    ),
    card,
    el("h2", {}, "Policy in force"),
    policySlot,
    el("h2", {}, "Decide"),
    el(
      "p",
      { class: "muted" },
      admin
        ? "What the candidate would block. Allow gives the app the rule shown; Block keeps it blocked on purpose; Defer keeps it open."
        : "What the candidate would block, and what was decided (deciding needs the admin token)."
    ),
    triageSlot,
    el("div", { class: "toolbar" }, candidate),
    el("h2", {}, "Versions and rollout"),
    flipSlot,
    el("h2", {}, "Would be blocked"),
    blocked.total_apps ? appsTable(blocked.apps) : el("p", { class: "muted" }, "Nothing would be blocked in this group."),
    el("h2", {}, "Suggested rules"),
    el(
      "div",
      { class: "toolbar" },
      download,
      el("span", { class: "muted" }, flagged ? `${flagged} flagged for review are left out of the XML.` : "")
    ),
    suggestionList(suggestions.suggestions)
  );
  await reload();
}

// ---- routing ---------------------------------------------------------------------------

async function route() {
  document.getElementById("sign-out").hidden = !token();
  if (!token()) {
    tokenForm();
    return;
  }
  const match = location.hash.match(/^#\/group\/(.+)$/);
  try {
    if (match) await groupPage(decodeURIComponent(match[1]));
    else await overview();
    showMessage("");
    view().focus({ preventScroll: true });
  } catch (error) {
    if (!(error instanceof ApiError && error.message === "not signed in")) {
      showMessage(error.message);
      show(el("p", { class: "muted" }, "This page could not be loaded."));
    }
  }
}

document.getElementById("sign-out").addEventListener("click", () => signOut("Signed out."));
window.addEventListener("hashchange", () => {
  takeTokenFromAddress();
  route();
});
takeTokenFromAddress();
route();
