// tcfs replay viewer.  Everything from the bucket reaches the page through
// textContent or the canvas, never as HTML.
//
// The timeline is drawn on one canvas by hand: a swimlane timeline libraries
// offer (vis-timeline, timelines-chart) builds one DOM or SVG node per item,
// which is too slow for 10,000 events and has no message arrows between
// lanes; one canvas redraws 10,000 markers in a few milliseconds.
"use strict";

const LANE_H = 46, AXIS_H = 24, LABEL_W = 110, ROW_H = 20, OVERSCAN = 40;
const KIND_COLOR = {
  claim: "#2f9e44", takeover: "#e03131", release: "#868e96", "renew-failed": "#e8590c",
  status: "#1971c2", handoff: "#9c36b5", send: "#1c7ed6", broadcast: "#4dabf7",
  "memory-set": "#f08c00", "memory-delete": "#c92a2a", "artifact-put": "#0ca678",
  "artifact-delete": "#c92a2a", "agent-up": "#495057", "agent-down": "#495057",
  reserve: "#6741d9", "reserve-release": "#868e96", "reserve-lost": "#e8590c",
};
const $ = (id) => document.getElementById(id);

const S = {
  data: null, events: [], shown: [], agents: [], sessions: [], laneOf: new Map(),
  bars: [], t0: 0, t1: 1, v0: 0, v1: 1, viewSet: false, T: Infinity, selected: null,
  transcript: null, tIndex: -1, tSel: -1, tHits: [], q: "", live: false, playing: null,
  cache: new Map(), conv0: 0, conv1: 0, rawOpen: new Set(), foldOpen: new Set(), runOpen: new Set(),
};

// ---------------------------------------------------------------- decoding

function b64bytes(text) {
  const bin = atob(text.trim());
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

async function gunzip(bytes) {
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("gzip"));
  return await new Response(stream).text();
}

async function inlineBlob(id) {
  const el = $(id);
  return el ? await gunzip(b64bytes(el.textContent)) : null;
}

// A transcript blob: one JSON header line {"ts": [...], "conv": [...]} and the raw lines.
function parseTranscript(text) {
  const nl = text.indexOf("\n");
  const head = JSON.parse(nl < 0 ? text : text.slice(0, nl));
  const body = nl < 0 ? "" : text.slice(nl + 1);
  const lines = body === "" ? [] : body.split("\n");
  return { lines, ts: head.ts, base: head.base || 0, conv: head.conv || [] };
}

async function loadSession(n) {
  if (S.cache.has(n)) return S.cache.get(n);
  let t;
  if (S.live) {
    const r = await fetch(`api/session/${n}`);
    t = await r.json();
  } else {
    const text = await inlineBlob(`tcfs-s-${n}`);
    t = text === null ? { lines: [], ts: [], conv: [] } : parseTranscript(text);
  }
  t.conv = t.conv || [];
  t.lower = null;
  S.cache.set(n, t);
  return t;
}

// ---------------------------------------------------------------- model

function addEvents(list) {
  const seen = new Set(S.events.map((e) => e.id));
  for (const e of list) if (!seen.has(e.id)) { S.events.push(e); seen.add(e.id); }
  S.events.sort((a, b) => a.ts - b.ts || (a.seq ?? 0) - (b.seq ?? 0));
  const agents = new Set(S.data.agents);
  for (const e of S.events) {
    agents.add(e.agent);
    e._hay = null;
  }
  for (const s of S.sessions) if (s.agent) agents.add(s.agent);
  S.agents = [...agents].filter((a) => a && a !== "?").sort();
  S.laneOf = new Map(S.agents.map((a, i) => [a, i]));
  computeBars();
  let lo = Infinity, hi = -Infinity;
  const span = (t) => { if (t == null) return; if (t < lo) lo = t; if (t > hi) hi = t; };
  for (const e of S.events) span(e.ts);
  for (const s of S.sessions) { span(s.t0); span(s.t1); }
  if (!isFinite(lo)) { lo = Date.now() / 1000; hi = lo + 60; }
  const followEnd = !S.viewSet || S.v1 >= S.t1 - 1e-6;
  const pad = Math.max(1, (hi - lo) * 0.02);
  S.t0 = lo - pad; S.t1 = hi + pad;
  if (!S.viewSet) { S.v0 = S.t0; S.viewSet = true; }
  if (followEnd) S.v1 = S.t1;
  fillSelect($("f-agent"), S.agents);
  const steps = new Set();
  for (const e of S.events) if (e.subject && /^(claim|takeover|release|renew-failed|status|handoff)$/.test(e.kind)) steps.add(e.subject);
  fillSelect($("f-step"), [...steps].sort());
  fillSelect($("f-kind"), [...new Set(S.events.map((e) => e.kind))].sort());
  drawLanes();
}

function fillSelect(sel, values) {
  const keep = sel.value;
  const have = new Set([...sel.options].map((o) => o.value));
  for (const v of values) {
    if (have.has(v)) continue;
    const o = document.createElement("option");
    o.value = v; o.textContent = v;
    sel.appendChild(o);
  }
  sel.value = keep;
}

// Claim bars: from a claim or takeover to the release, the final status or
// handoff, a lost lease, or the next holder's takeover.
function computeBars() {
  const open = new Map(), bars = [];
  const close = (step, ts, why) => {
    const b = open.get(step);
    if (b) { b.end = ts; b.why = why; open.delete(step); }
  };
  for (const e of S.events) {
    const step = e.subject;
    if (e.kind === "claim" || e.kind === "takeover") {
      const prev = open.get(step);
      if (prev && prev.agent !== e.agent) close(step, e.ts, e.kind === "takeover" ? "lease expired, taken over" : "claimed by another");
      else if (prev) continue;
      const lease = typeof e.detail.lease_s === "number" ? e.detail.lease_s : null;
      const b = { step, agent: e.agent, start: e.ts, end: null, why: "", lease, takeover: e.kind === "takeover", ev: e, down: null };
      open.set(step, b); bars.push(b);
    } else if (e.kind === "release") close(step, e.ts, "released");
    else if (e.kind === "renew-failed") close(step, e.ts, "lease lost");
    else if (e.kind === "handoff") close(step, e.ts, "handed off");
    else if (e.kind === "status" && e.detail.status && e.detail.status !== "in_progress") close(step, e.ts, e.detail.status);
    else if (e.kind === "agent-down") {
      for (const b of open.values()) if (b.agent === e.agent && b.lease) b.down = e.ts;
    }
  }
  S.bars = bars;
}

function hay(e) {
  if (e._hay === null || e._hay === undefined) e._hay = (e.line + " " + JSON.stringify(e.detail)).toLowerCase();
  return e._hay;
}

function applyFilters() {
  const a = $("f-agent").value, st = $("f-step").value, k = $("f-kind").value, q = S.q;
  S.shown = S.events.filter((e) =>
    e.ts <= S.T &&
    (!a || e.agent === a || e.subject === a) &&
    (!st || e.subject === st || e.detail.step === st || (e.kind.startsWith("artifact") && (e.subject || "").startsWith(st + "/"))) &&
    (!k || e.kind === k) &&
    (!q || hay(e).includes(q)));
  $("count").textContent = `${S.shown.length} of ${S.events.length} events`;
  // what is applied, for scripts that drive the page
  document.body.dataset.query = S.q;
  document.body.dataset.filters = [a, st, k].join("|");
  document.body.dataset.shown = String(S.shown.length);
  renderList(true);
  draw();
}

// ---------------------------------------------------------------- time axis

const xOf = (t, w) => LABEL_W + ((t - S.v0) / (S.v1 - S.v0)) * (w - LABEL_W - 8);
const tOf = (x, w) => S.v0 + ((x - LABEL_W) / (w - LABEL_W - 8)) * (S.v1 - S.v0);
const hms = (t) => new Date(t * 1000).toISOString().slice(11, 19);
const laneY = (agent) => AXIS_H + (S.laneOf.get(agent) ?? 0) * LANE_H;

function niceStep(span) {
  for (const s of [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 43200, 86400])
    if (span / s <= 10) return s;
  return 86400 * Math.ceil(span / 86400 / 10);
}

function drawLanes() {
  const box = $("lanes");
  box.replaceChildren();
  S.agents.forEach((a, i) => {
    const d = document.createElement("div");
    d.className = "lane";
    d.textContent = a;
    d.title = a;
    d.style.top = AXIS_H + i * LANE_H + 4 + "px";
    box.appendChild(d);
  });
}

const PALETTE = ["#3b5bdb", "#e8590c", "#2b8a3e", "#c2255c", "#5f3dc4", "#0b7285", "#e67700", "#862e9c", "#364fc7", "#a61e4d"];

function agentColor(a) {
  const i = S.laneOf.get(a);
  return i === undefined ? "#868e96" : PALETTE[i % PALETTE.length];
}

function draw() {
  const cv = $("timeline"), dpr = window.devicePixelRatio || 1;
  const w = cv.clientWidth || 800, h = AXIS_H + Math.max(1, S.agents.length) * LANE_H + 6;
  if (cv.width !== w * dpr || cv.height !== h * dpr) { cv.width = w * dpr; cv.height = h * dpr; cv.style.height = h + "px"; }
  const g = cv.getContext("2d");
  g.setTransform(dpr, 0, 0, dpr, 0, 0);
  g.clearRect(0, 0, w, h);
  g.font = "11px system-ui, sans-serif";
  // lanes
  S.agents.forEach((a, i) => {
    g.fillStyle = i % 2 ? "#f8f9fb" : "#ffffff";
    g.fillRect(0, AXIS_H + i * LANE_H, w, LANE_H);
    g.fillStyle = agentColor(a);
    g.fillRect(0, AXIS_H + i * LANE_H, 3, LANE_H);
  });
  // axis
  const step = niceStep(S.v1 - S.v0);
  g.fillStyle = "#5a6478"; g.strokeStyle = "#e6e9ef";
  for (let t = Math.ceil(S.v0 / step) * step; t <= S.v1; t += step) {
    const x = xOf(t, w);
    g.beginPath(); g.moveTo(x, AXIS_H - 4); g.lineTo(x, h); g.stroke();
    g.fillText(hms(t), x + 2, 14);
  }
  g.save();
  g.beginPath(); g.rect(LABEL_W, 0, w - LABEL_W, h); g.clip();
  // transcripts: a strip at the bottom of the lane, subagents below their parent's
  for (const s of S.sessions) {
    if (!s.agent || s.t0 == null || !S.laneOf.has(s.agent)) continue;
    const y = laneY(s.agent) + LANE_H - (s.parent ? 5 : 9);
    const x0 = xOf(s.t0, w), x1 = Math.max(x0 + 2, xOf(Math.min(s.t1 ?? s.t0, S.T), w));
    g.fillStyle = s.parent ? "#c5b3e6" : "#adb5bd";
    g.fillRect(x0, y, x1 - x0, 3);
  }
  // claim bars
  const now = Math.min(S.T, S.t1);
  for (const b of S.bars) {
    if (b.start > S.T || !S.laneOf.has(b.agent)) continue;
    const end = Math.min(b.end ?? now, now);
    const x0 = xOf(b.start, w), x1 = Math.max(x0 + 3, xOf(end, w)), y = laneY(b.agent) + 6;
    g.fillStyle = b.takeover ? "#ffc9c9" : "#d3f9d8";
    g.fillRect(x0, y, x1 - x0, 14);
    g.strokeStyle = b.takeover ? "#e03131" : "#2f9e44";
    g.strokeRect(x0 + 0.5, y + 0.5, x1 - x0 - 1, 13);
    if (b.down != null && b.lease && (b.end == null || b.end > b.down)) {
      // the holder went down: the lease runs out unless someone takes over
      const expiry = b.down + b.lease, stop = Math.min(expiry, b.end ?? now, now);
      const xe = xOf(stop, w);
      g.setLineDash([3, 3]); g.beginPath(); g.moveTo(xOf(b.down, w), y + 7); g.lineTo(xe, y + 7); g.stroke(); g.setLineDash([]);
      if (stop === expiry) { g.fillStyle = "#e8590c"; g.fillText("lease expires", xe + 2, y + 11); }
    }
    if (b.why === "lease expired, taken over") { g.fillStyle = "#e03131"; g.fillText("✕ lease expired", x1 + 2, y + 11); }
    g.fillStyle = "#1d2330";
    if (x1 - x0 > 30) g.fillText(b.step, x0 + 4, y + 11, x1 - x0 - 6);
  }
  // messages: arrows between lanes; broadcasts fan out
  for (const e of S.shown) {
    if (e.kind !== "send" && e.kind !== "broadcast") continue;
    const x = xOf(e.ts, w);
    if (x < LABEL_W || x > w) continue;
    const y0 = laneY(e.agent) + 30;
    const targets = e.kind === "broadcast" ? S.agents.filter((a) => a !== e.agent) : [e.subject];
    g.strokeStyle = KIND_COLOR[e.kind]; g.fillStyle = KIND_COLOR[e.kind];
    for (const t of targets) {
      if (!S.laneOf.has(t)) continue;
      const y1 = laneY(t) + 30, dir = y1 > y0 ? 1 : -1;
      g.beginPath(); g.moveTo(x, y0); g.lineTo(x + 8, y1 - dir * 4); g.stroke();
      g.beginPath(); g.moveTo(x + 8, y1); g.lineTo(x + 4, y1 - dir * 7); g.lineTo(x + 11, y1 - dir * 6); g.fill();
    }
  }
  // markers
  for (const e of S.shown) {
    const x = xOf(e.ts, w);
    if (x < LABEL_W - 4 || x > w + 4 || !S.laneOf.has(e.agent)) continue;
    marker(g, e, x, laneY(e.agent) + 30);
  }
  if (S.selected) {
    const x = xOf(S.selected.ts, w), y = laneY(S.selected.agent) + 30;
    g.strokeStyle = "#1d2330"; g.lineWidth = 2;
    g.beginPath(); g.arc(x, y, 8, 0, 2 * Math.PI); g.stroke(); g.lineWidth = 1;
  }
  if (S.T < S.t1) {
    const x = xOf(S.T, w);
    g.strokeStyle = "#e03131"; g.beginPath(); g.moveTo(x, 0); g.lineTo(x, h); g.stroke();
  }
  g.restore();
  $("clock").textContent = hms(Math.min(S.T, S.t1)) + " UTC";
}

function marker(g, e, x, y) {
  g.fillStyle = KIND_COLOR[e.kind] || "#495057";
  g.beginPath();
  switch (e.kind) {
    case "claim": case "takeover":
      g.moveTo(x, y - 6); g.lineTo(x + 6, y + 5); g.lineTo(x - 6, y + 5); break;
    case "handoff":
      g.moveTo(x, y - 6); g.lineTo(x + 6, y); g.lineTo(x, y + 6); g.lineTo(x - 6, y); break;
    case "memory-set": case "memory-delete":
      g.rect(x - 4, y - 4, 8, 8); break;
    case "agent-up": case "agent-down":
      g.rect(x - 1, y - 8, 3, 16); break;
    case "reserve": case "reserve-release": case "reserve-lost":  // file reservations: a bar
      g.rect(x - 7, y - 3, 14, 6); break;
    default:
      g.arc(x, y, 4, 0, 2 * Math.PI);
  }
  g.fill();
  if (e.source === "cli") { g.strokeStyle = "#1d2330"; g.stroke(); }
  if (e.kind === "takeover") { g.fillStyle = "#fff"; g.fillText("T", x - 3, y + 4); }
}

function hitTest(px, py) {
  const w = $("timeline").clientWidth;
  const lane = Math.floor((py - AXIS_H) / LANE_H);
  const agent = S.agents[lane];
  if (agent === undefined) return null;
  let best = null, bestD = 9;
  for (const e of S.shown) {
    if (e.agent !== agent) continue;
    const d = Math.abs(xOf(e.ts, w) - px);
    if (d < bestD) { best = e; bestD = d; }
  }
  return best;
}

// ---------------------------------------------------------------- lists

function renderVList(box, count, rowFn) {
  const spacer = box.firstElementChild;
  spacer.style.height = count * ROW_H + "px";
  const top = box.scrollTop, h = box.clientHeight || 400;
  const first = Math.max(0, Math.floor(top / ROW_H) - OVERSCAN);
  const last = Math.min(count, Math.ceil((top + h) / ROW_H) + OVERSCAN);
  const rows = [];
  for (let i = first; i < last; i++) {
    const r = rowFn(i);
    r.style.top = i * ROW_H + "px";
    r.dataset.i = i;
    rows.push(r);
  }
  box.replaceChildren(spacer, ...rows);
}

function renderList(keepEnd) {
  const box = $("list");
  if (keepEnd && S.T < S.t1) box.scrollTop = S.shown.length * ROW_H;
  renderVList(box, S.shown.length, (i) => {
    const e = S.shown[i], r = document.createElement("div");
    r.className = "row ev-" + e.kind + (e === S.selected ? " sel" : "") + (e.source === "cli" ? " cli" : "");
    r.style.borderLeftColor = agentColor(e.agent);
    r.textContent = e.line;
    return r;
  });
}

// The transcript as a conversation: the entries the page was built with
// (conversation.py: one or more per line), CONV_WINDOW at a time around the
// line in view, so a transcript of 100,000 lines costs a few hundred nodes.
// Tool calls and results are folded; each entry's raw line is a click away.
const CONV_WINDOW = 300, FOLDED = { tool_call: 1, tool_result: 1 }, RUN_MIN = 3;
const SPEAKER = {
  user: "user", assistant: "assistant", tool_call: "tool call", tool_result: "tool result",
  system: "system", other: "",
};

function el(tag, cls, text) {
  const n = document.createElement(tag);
  if (cls) n.className = cls;
  if (text != null) n.textContent = text;
  return n;
}

function convEntry(t, k, hits) {
  const e = t.conv[k];
  const r = el("div", `row msg role-${SPEAKER[e.role] !== undefined ? e.role : "other"}`);
  if (e.i === S.tSel) r.classList.add("sel");
  if (hits.has(e.i)) r.classList.add("hit");
  r.dataset.i = e.i; r.dataset.k = k;
  const who = el("div", "who");
  who.append(el("span", "speaker", e.role === "other" ? e.text || "line" : SPEAKER[e.role] || e.role));
  if (e.tool) who.append(el("span", "tool", e.tool));
  who.append(el("button", "raw-btn", S.rawOpen.has(k) ? "hide raw" : "raw"));
  r.append(who);
  if (FOLDED[e.role]) {
    const d = el("details", "fold");
    d.open = S.foldOpen.has(k);
    const first = e.text.split("\n", 1)[0];
    d.append(el("summary", null, first.length > 160 ? first.slice(0, 160) + "…" : first || "(empty)"));
    d.append(el("div", "text", e.text));
    r.append(d);
  } else if (e.role !== "other") {
    r.append(el("div", "text", e.text));
  }
  if (S.rawOpen.has(k)) r.append(el("pre", "raw", t.lines[e.i] ?? ""));
  return r;
}

// Bookkeeping lines (role "other") in a row are one line until opened.
function otherRun(t, k) {
  let end = k;
  while (end < S.conv1 && t.conv[end].role === "other") end++;
  return end;
}

function runHolds(t, k, end, hits) {
  for (let j = k; j < end; j++) if (t.conv[j].i === S.tSel || hits.has(t.conv[j].i)) return true;
  return false;
}

function runRow(t, k, end) {
  const kinds = [...new Set(t.conv.slice(k, end).map((e) => e.text))];
  const text = `${end - k} other lines: ${kinds.slice(0, 6).join(", ")}${kinds.length > 6 ? ", …" : ""}`;
  const r = el("div", "row msg role-other run");
  r.dataset.i = t.conv[k].i; r.dataset.k = k; r.dataset.run = k;
  r.append(el("div", "who", "⋯ " + text));
  return r;
}

// The first entry at or after line i.
function entryAt(t, i) {
  let lo = 0, hi = t.conv.length;
  while (lo < hi) { const m = (lo + hi) >> 1; if (t.conv[m].i < i) lo = m + 1; else hi = m; }
  return Math.min(lo, Math.max(0, t.conv.length - 1));
}

function windowAround(t, k) {
  S.conv0 = Math.max(0, k - CONV_WINDOW / 2);
  S.conv1 = Math.min(t.conv.length, S.conv0 + CONV_WINDOW);
}

function renderTranscript() {
  const t = S.transcript, box = $("transcript");
  if (!t) { box.replaceChildren(); return; }
  const hits = new Set(S.tHits), nodes = [];
  S.conv1 = Math.min(Math.max(S.conv1, Math.min(S.conv0 + CONV_WINDOW, t.conv.length)), t.conv.length);
  if (S.conv0 > 0) nodes.push(el("button", "more earlier", `${S.conv0} earlier entries`));
  for (let k = S.conv0; k < S.conv1; k++) {
    const end = otherRun(t, k);
    if (end - k >= RUN_MIN && !S.runOpen.has(k) && !runHolds(t, k, end, hits)) {
      nodes.push(runRow(t, k, end)); k = end - 1;
    } else nodes.push(convEntry(t, k, hits));
  }
  if (S.conv1 < t.conv.length) nodes.push(el("button", "more later", `${t.conv.length - S.conv1} later entries`));
  const top = box.scrollTop;
  box.replaceChildren(...nodes);
  box.scrollTop = top;
}

// Show line i's entry in the middle of the pane.
function scrollToLine(i) {
  const t = S.transcript;
  if (!t || !t.conv.length) return;
  const k = entryAt(t, i);
  if (k < S.conv0 || k >= S.conv1) windowAround(t, k);
  renderTranscript();
  const r = $("transcript").querySelector(`.msg[data-k="${k}"]`);
  if (r) r.scrollIntoView({ block: "center" });
}

function clickConversation(ev) {
  const t = S.transcript, target = ev.target;
  if (!t) return;
  const more = target.closest("button.more");
  if (more) {
    const box = $("transcript"), h = box.scrollHeight;
    if (more.classList.contains("earlier")) {
      S.conv0 = Math.max(0, S.conv0 - CONV_WINDOW); renderTranscript();
      box.scrollTop += box.scrollHeight - h;
    } else { S.conv1 = Math.min(t.conv.length, S.conv1 + CONV_WINDOW); renderTranscript(); }
    return;
  }
  const r = target.closest(".msg");
  if (!r) return;
  const k = Number(r.dataset.k);
  if (r.dataset.run) { S.runOpen.add(k); renderTranscript(); return; }
  if (target.closest(".raw-btn")) {
    if (S.rawOpen.has(k)) S.rawOpen.delete(k); else S.rawOpen.add(k);
    renderTranscript();
  } else if (!target.closest("summary, .raw, details .text")) {
    clickTranscriptLine(Number(r.dataset.i));
  }
}

// ---------------------------------------------------------------- selection

function select(e, { fromTranscript = false } = {}) {
  S.selected = e;
  $("detail").textContent = JSON.stringify(Object.fromEntries(Object.entries(e).filter(([k]) => k !== "_hay")), null, 2);
  const i = S.shown.indexOf(e), box = $("list");
  if (i >= 0 && (i * ROW_H < box.scrollTop || i * ROW_H > box.scrollTop + box.clientHeight - ROW_H))
    box.scrollTop = Math.max(0, i * ROW_H - box.clientHeight / 2);
  renderList(false);
  const w = $("timeline").clientWidth, x = xOf(e.ts, w);
  if (x < LABEL_W || x > w) { const span = S.v1 - S.v0; S.v0 = e.ts - span / 2; S.v1 = e.ts + span / 2; }
  draw();
  if (!fromTranscript) openTranscriptAt(e.agent, e.ts);
}

function sessionFor(agent, ts) {
  const mine = S.sessions.filter((s) => s.agent === agent && s.t0 != null);
  if (!mine.length) return null;
  const inside = mine.filter((s) => s.t0 - 5 <= ts && ts <= (s.t1 ?? s.t0) + 5);
  const pool = inside.length ? inside : mine;
  pool.sort((a, b) => (a.parent ? 1 : 0) - (b.parent ? 1 : 0) || Math.abs(a.t0 - ts) - Math.abs(b.t0 - ts));
  return pool[0];
}

async function showSession(n, ts) {
  const t = await loadSession(n);
  if (S.transcript !== t) { S.rawOpen.clear(); S.foldOpen.clear(); S.runOpen.clear(); S.conv0 = S.conv1 = 0; $("transcript").scrollTop = 0; }
  S.transcript = t; S.tIndex = n; $("t-session").value = String(n);
  searchTranscript();
  S.tSel = -1;
  if (ts != null && t.lines.length) {
    let best = 0;
    for (let i = 0; i < t.ts.length; i++) {
      const v = t.ts[i];
      if (v != null && (t.base + v / 1000) <= ts + 0.5) best = i;
    }
    S.tSel = best;
    scrollToLine(best);
  } else renderTranscript();
}

async function openTranscriptAt(agent, ts) {
  const s = sessionFor(agent, ts);
  if (s) await showSession(s.n, ts);
}

function lineTime(t, i) {
  for (let j = i; j >= 0; j--) if (t.ts[j] != null) return t.base + t.ts[j] / 1000;
  return null;
}

function clickTranscriptLine(i) {
  const t = S.transcript;
  S.tSel = i; renderTranscript();
  const ts = lineTime(t, i);
  const s = S.sessions[S.tIndex];
  if (ts == null) return;
  let best = null, bestD = Infinity;
  for (const e of S.shown) {
    const d = Math.abs(e.ts - ts) + (s && e.agent !== s.agent ? 1e6 : 0);
    if (d < bestD) { best = e; bestD = d; }
  }
  if (best) select(best, { fromTranscript: true });
}

function searchTranscript() {
  const t = S.transcript;
  S.tHits = [];
  if (!t || !S.q) return;
  if (!t.lower) t.lower = t.lines.map((l) => l.toLowerCase());
  t.lower.forEach((l, i) => { if (l.includes(S.q)) S.tHits.push(i); });
}

function fillSessions() {
  const sel = $("t-session"), keep = sel.value;
  sel.replaceChildren(new Option("none", ""));
  const tops = S.sessions.filter((s) => !s.parent || !S.sessions.some((p) => p.id === s.parent));
  for (const s of tops) {
    sel.appendChild(new Option(`${s.agent || "?"} · ${s.harness} · ${s.id}`, String(s.n)));
    for (const c of S.sessions.filter((c) => c.parent === s.id))
      sel.appendChild(new Option(`   ↳ ${c.harness} · ${c.id}`, String(c.n)));
  }
  sel.value = keep;
}

// ---------------------------------------------------------------- time

function setScrub(v) {
  $("scrub").value = v;
  S.T = v >= 1000 ? Infinity : S.t0 + (v / 1000) * (S.t1 - S.t0);
  applyFilters();
}

function play() {
  if (S.playing) { clearInterval(S.playing); S.playing = null; $("play").textContent = "▶"; return; }
  let v = Number($("scrub").value);
  if (v >= 1000) v = 0;
  $("play").textContent = "⏸";
  S.playing = setInterval(() => {
    v = Math.min(1000, v + 5);
    setScrub(v);
    if (v >= 1000) play();
  }, 100);
}

// ---------------------------------------------------------------- live

async function poll() {
  try {
    const r = await fetch(`api/poll?after=${S.events.length}`);
    const d = await r.json();
    $("live").textContent = "live"; $("live").className = "on";
    if (d.sessions) {
      const grown = d.sessions.filter((s) => { const o = S.sessions[s.n]; return o && o.size !== s.size; });
      S.sessions = d.sessions; fillSessions();
      for (const s of grown) {
        const t = S.cache.get(s.n);
        if (!t) continue;
        const more = await (await fetch(`api/session/${s.n}?from=${t.lines.length}`)).json();
        if (more.base !== t.base) for (let i = 0; i < more.ts.length; i++) if (more.ts[i] != null) more.ts[i] += (more.base - t.base) * 1000;
        t.lines.push(...more.lines); t.ts.push(...more.ts); t.conv.push(...(more.conv || [])); t.lower = null;
        if (S.transcript === t) { searchTranscript(); renderTranscript(); }
      }
    }
    if (d.problems) showProblems(d.problems);
    if (d.events && d.events.length) { addEvents(d.events); applyFilters(); }
  } catch (err) {
    $("live").textContent = "offline"; $("live").className = "";
  }
  setTimeout(poll, 1000);
}

function showProblems(list) {
  const p = $("problems");
  p.hidden = !list.length;
  p.textContent = list.length ? "Event log check: " + list.length + " problem(s)\n" + list.join("\n") : "";
}

// ---------------------------------------------------------------- wiring

function wire() {
  const cv = $("timeline");
  let drag = null;
  cv.addEventListener("mousedown", (ev) => { drag = { x: ev.clientX, v0: S.v0, v1: S.v1, moved: false }; });
  window.addEventListener("mouseup", (ev) => {
    if (drag && !drag.moved) {
      const r = cv.getBoundingClientRect(), e = hitTest(ev.clientX - r.left, ev.clientY - r.top);
      if (e) select(e);
    }
    drag = null;
  });
  window.addEventListener("mousemove", (ev) => {
    const r = cv.getBoundingClientRect();
    if (drag) {
      const dx = ev.clientX - drag.x;
      if (Math.abs(dx) > 2) drag.moved = true;
      const dt = (dx / (cv.clientWidth - LABEL_W)) * (drag.v1 - drag.v0);
      S.v0 = drag.v0 - dt; S.v1 = drag.v1 - dt; draw();
      return;
    }
    const tip = $("tip");
    const inside = ev.clientX >= r.left && ev.clientX <= r.right && ev.clientY >= r.top && ev.clientY <= r.bottom;
    const e = inside ? hitTest(ev.clientX - r.left, ev.clientY - r.top) : null;
    tip.hidden = !e;
    if (e) { tip.textContent = e.line; tip.style.left = Math.min(ev.clientX - r.left + 12, r.width - 300) + "px"; tip.style.top = ev.clientY - r.top + 12 + "px"; }
  });
  cv.addEventListener("wheel", (ev) => {
    ev.preventDefault();
    const r = cv.getBoundingClientRect(), t = tOf(ev.clientX - r.left, cv.clientWidth);
    const k = Math.exp(ev.deltaY * 0.002);
    S.v0 = t - (t - S.v0) * k; S.v1 = t + (S.v1 - t) * k; draw();
  }, { passive: false });
  cv.addEventListener("dblclick", () => { S.v0 = S.t0; S.v1 = S.t1; draw(); });
  $("list").addEventListener("scroll", () => renderList(false));
  $("list").addEventListener("click", (ev) => {
    const r = ev.target.closest(".row");
    if (r) select(S.shown[Number(r.dataset.i)]);
  });
  $("transcript").addEventListener("click", clickConversation);
  $("transcript").addEventListener("toggle", (ev) => {
    const r = ev.target.closest(".msg");
    if (!r) return;
    const k = Number(r.dataset.k);
    if (ev.target.open) S.foldOpen.add(k); else S.foldOpen.delete(k);
  }, true);
  let timer = null;
  $("search").addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => { S.q = $("search").value.trim().toLowerCase(); searchTranscript(); applyFilters(); renderTranscript(); }, 120);
  });
  $("search").addEventListener("keydown", (ev) => {
    if (ev.key !== "Enter" || !S.tHits.length) return;
    const next = S.tHits.find((i) => i > S.tSel) ?? S.tHits[0];
    S.tSel = next; scrollToLine(next);
  });
  for (const id of ["f-agent", "f-step", "f-kind"]) $(id).addEventListener("change", applyFilters);
  $("scrub").addEventListener("input", () => setScrub(Number($("scrub").value)));
  $("play").addEventListener("click", play);
  $("t-session").addEventListener("change", () => {
    const v = $("t-session").value;
    if (v === "") { S.transcript = null; renderTranscript(); } else showSession(Number(v), null);
  });
  window.addEventListener("resize", () => { draw(); renderList(false); renderTranscript(); });
}

async function main() {
  const t0 = performance.now();
  S.data = JSON.parse(await inlineBlob("tcfs-data"));
  S.live = !!S.data.live;
  S.sessions = S.data.sessions || [];
  $("project").textContent = S.data.project;
  document.title = `tcfs replay · ${S.data.project}`;
  addEvents(S.data.events);
  fillSessions();
  showProblems(S.data.problems || []);
  wire();
  applyFilters();
  document.body.dataset.ready = "1";
  document.body.dataset.loadMs = String(Math.round(performance.now() - t0));
  if (S.live) setTimeout(poll, 1000);
}

main().catch((err) => {
  $("detail").textContent = "The replay data could not be read: " + err;
  document.body.dataset.ready = "error";
});
