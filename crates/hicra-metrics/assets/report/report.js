// hicra report: draws the run's data (the JSON block above) with no library and no network.
// One state object drives every part; it is mirrored into the URL hash
// (#set=eval&step=40&color=entropy&show=wrong&q=...&filter=...) so a view can be linked.
"use strict";

const DATA = JSON.parse(document.getElementById("report-data").textContent);
const $ = (id) => document.getElementById(id);
const SVG = "http://www.w3.org/2000/svg";
const PALETTE = ["#1f5fbf", "#e8590c", "#2f9e44", "#9c36b5", "#c92a2a", "#0c8599", "#5c940d"];
const HEADLINE = ["reward/mean", "accuracy/train", "accuracy/eval", "entropy/planning",
  "entropy/execution", "planning_ratio", "advantage_mass/planning", "response_length/mean",
  "grad_norm", "kl"];

const state = { step: null, set: "train", color: "advantage", show: "all", q: "", filter: "",
  smooth: false };

// ---------- small helpers

function fmt(v) {
  if (v === null || v === undefined || Number.isNaN(v)) return "-";
  const a = Math.abs(v);
  if (a !== 0 && (a >= 1e5 || a < 1e-3)) return v.toExponential(2);
  if (Number.isInteger(v)) return String(v);
  return String(Number(v.toPrecision(4)));
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v; else if (k === "text") node.textContent = v;
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c);
  return node;
}

function svg(tag, attrs) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  return node;
}

// The metric steps, sorted, and a value lookup per metric.
const STEPS = [...new Set(Object.values(DATA.series).flatMap((s) => s.map((p) => p[0])))]
  .sort((a, b) => a - b);
const AT = {};
for (const [name, points] of Object.entries(DATA.series)) {
  AT[name] = new Map(points.map((p) => [p[0], p[1]]));
}

// The step a page opens at: the last one where most metrics were logged (a run's very last
// step often holds only a final evaluation).
const DEFAULT_STEP = (() => {
  const counts = new Map(STEPS.map((s) => [s, 0]));
  for (const points of Object.values(DATA.series)) for (const [s] of points) counts.set(s, counts.get(s) + 1);
  const most = Math.max(0, ...counts.values());
  return [...STEPS].reverse().find((s) => counts.get(s) * 2 >= most) ?? null;
})();

function nearest(sorted, x) {
  let best = sorted[0];
  for (const v of sorted) if (Math.abs(v - x) < Math.abs(best - x)) best = v;
  return best;
}

function niceTicks(lo, hi, count) {
  const span = hi - lo || Math.abs(hi) || 1;
  const raw = span / count;
  const mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => span / s <= count) || mag * 10;
  const ticks = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) {
    ticks.push(Math.abs(t) < step * 1e-9 ? 0 : t);
  }
  return ticks;
}

function ema(points, alpha) {
  let acc = null;
  return points.map(([x, y]) => { acc = acc === null ? y : alpha * acc + (1 - alpha) * y;
    return [x, acc]; });
}

// ---------- hash state

function readHash() {
  const params = new URLSearchParams(location.hash.slice(1));
  if (params.has("step")) state.step = Number(params.get("step"));
  for (const key of ["set", "color", "show", "q", "filter"]) {
    if (params.has(key)) state[key] = params.get(key);
  }
  state.smooth = params.get("smooth") === "1";
}

function writeHash() {
  const params = new URLSearchParams();
  if (state.step !== null) params.set("step", state.step);
  params.set("set", state.set);
  params.set("color", state.color);
  if (state.show !== "all") params.set("show", state.show);
  if (state.q) params.set("q", state.q);
  if (state.filter) params.set("filter", state.filter);
  if (state.smooth) params.set("smooth", "1");
  history.replaceState(null, "", "#" + params.toString());
}

// ---------- header

function drawHeader() {
  $("run-name").textContent = DATA.run;
  const parts = [];
  if (STEPS.length) parts.push(`steps ${STEPS[0]}..${STEPS[STEPS.length - 1]} (${STEPS.length} logged)`);
  parts.push(`${Object.keys(DATA.series).length} metrics on ${DATA.charts.length} charts`);
  const overlaid = DATA.charts.reduce((n, c) => n + c.overlays.length, 0);
  if (overlaid) parts.push(`${overlaid} overlaid on their main metric`);
  const shown = DATA.rollouts.reduce((n, s) => n + s.records.length, 0);
  parts.push(`${shown} rollouts in ${DATA.rollouts.length} written batches`);
  const lo = DATA.left_out;
  if (lo.records || lo.files) {
    parts.push(`left out to keep the page small: ${lo.records} rollouts, ${lo.files} batches`);
  }
  if (DATA.mined.length) parts.push(`${DATA.mined.length} minings`);
  const summary = $("summary");
  summary.textContent = parts.join(" · ");
  const inv = DATA.invocation;
  if (inv && inv.files) {
    const line = el("div", {}, "hicra run ",
      el("code", { text: [...inv.files, ...(inv.overrides || []).map((o) => `--set ${o}`)].join(" ") }));
    summary.append(line);
  }
  for (const button of document.querySelectorAll("nav button")) {
    button.addEventListener("click", () => $(button.dataset.goto).scrollIntoView({ behavior: "smooth" }));
  }
}

// ---------- curves

const W = 360, H = 200, M = { l: 50, r: 10, t: 8, b: 22 };
const chartViews = [];

function drawCharts() {
  const box = $("charts");
  box.textContent = "";
  chartViews.length = 0;
  const filter = state.filter.toLowerCase();
  for (const chart of DATA.charts) {
    const names = [chart.main, ...chart.overlays.map((o) => o[1])];
    if (filter && !names.some((n) => n.toLowerCase().includes(filter))) continue;
    box.append(drawChart(chart));
  }
  if (!box.children.length) box.append(el("p", { class: "empty-note", text: "no metric matches the filter" }));
  markStep();
}

function drawChart(chart) {
  const lines = [{ label: chart.main, name: chart.main },
    ...chart.overlays.map(([label, name]) => ({ label, name }))];
  for (const [i, line] of lines.entries()) {
    line.color = PALETTE[i % PALETTE.length];
    line.points = DATA.series[line.name] || [];
    line.drawn = state.smooth ? ema(line.points, 0.6) : line.points;
  }
  const all = lines.flatMap((l) => l.points);
  let x0 = Math.min(...all.map((p) => p[0])), x1 = Math.max(...all.map((p) => p[0]));
  let y0 = Math.min(...all.map((p) => p[1])), y1 = Math.max(...all.map((p) => p[1]));
  if (x0 === x1) { x0 -= 1; x1 += 1; }
  const pad = y1 > y0 ? (y1 - y0) * 0.06 : Math.abs(y0) * 0.05 || 0.05;
  y0 -= pad; y1 += pad;
  const sx = (x) => M.l + ((x - x0) / (x1 - x0)) * (W - M.l - M.r);
  const sy = (y) => H - M.b - ((y - y0) / (y1 - y0)) * (H - M.t - M.b);
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": chart.main });
  for (const t of niceTicks(y0, y1, 4)) {
    root.append(svg("line", { class: "grid", x1: M.l, x2: W - M.r, y1: sy(t), y2: sy(t) }));
    const label = svg("text", { x: M.l - 4, y: sy(t) + 3, "text-anchor": "end" });
    label.textContent = fmt(t);
    root.append(label);
  }
  for (const t of niceTicks(x0, x1, 5)) {
    const label = svg("text", { x: sx(t), y: H - 6, "text-anchor": "middle" });
    label.textContent = fmt(t);
    root.append(label);
  }
  root.append(svg("line", { class: "axis", x1: M.l, x2: M.l, y1: M.t, y2: H - M.b }));
  root.append(svg("line", { class: "axis", x1: M.l, x2: W - M.r, y1: H - M.b, y2: H - M.b }));
  for (const [i, line] of lines.entries()) {
    const d = line.drawn.map((p, k) => `${k ? "L" : "M"}${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join("");
    const attrs = { d, fill: "none", stroke: line.color, "stroke-width": i ? 1.5 : 2 };
    if (i) attrs["stroke-dasharray"] = "5 3";
    root.append(svg("path", attrs));
    if (line.drawn.length === 1) {
      root.append(svg("circle", { cx: sx(line.drawn[0][0]), cy: sy(line.drawn[0][1]), r: 3, fill: line.color }));
    }
  }
  const pick = svg("line", { class: "pick", y1: M.t, y2: H - M.b, visibility: "hidden" });
  const hover = svg("line", { class: "hover", y1: M.t, y2: H - M.b, visibility: "hidden" });
  root.append(pick, hover);
  const steps = [...new Set(all.map((p) => p[0]))].sort((a, b) => a - b);
  const stepAt = (event) => {
    const box = root.getBoundingClientRect();
    const x = x0 + (((event.clientX - box.left) / box.width) * W - M.l) / (W - M.l - M.r) * (x1 - x0);
    return nearest(steps, x);
  };
  root.addEventListener("mousemove", (event) => {
    const step = stepAt(event);
    hover.setAttribute("x1", sx(step)); hover.setAttribute("x2", sx(step));
    hover.setAttribute("visibility", "visible");
    const rows = lines.map((l) => `${l.label}: ${fmt(AT[l.name].get(step))}`);
    showTip(event, `step ${step}\n${rows.join("\n")}`);
  });
  root.addEventListener("mouseleave", () => { hover.setAttribute("visibility", "hidden"); hideTip(); });
  root.addEventListener("click", (event) => setStep(stepAt(event), true));
  const legend = el("div", { class: "legend" });
  if (lines.length > 1) {
    for (const line of lines) {
      legend.append(el("i", { style: `background:${line.color}` }), line.label);
    }
  }
  chartViews.push({ pick, sx, x0, x1 });
  return el("div", { class: "chart" }, el("div", { class: "title", text: chart.main }), legend, root);
}

function markStep() {
  for (const view of chartViews) {
    const inside = state.step !== null && state.step >= view.x0 && state.step <= view.x1;
    view.pick.setAttribute("visibility", inside ? "visible" : "hidden");
    if (inside) { view.pick.setAttribute("x1", view.sx(state.step)); view.pick.setAttribute("x2", view.sx(state.step)); }
  }
}

// ---------- step tables

function drawStepTable() {
  const slider = $("table-step");
  slider.max = Math.max(STEPS.length - 1, 0);
  slider.value = Math.max(STEPS.indexOf(state.step), 0);
  $("table-step-label").textContent = `${state.step} (${STEPS.indexOf(state.step) + 1} of ${STEPS.length} logged)`;
  const previous = STEPS[STEPS.indexOf(state.step) - 1];
  const filter = state.filter.toLowerCase();
  const table = $("step-table");
  table.textContent = "";
  table.append(el("thead", {}, el("tr", {}, el("th", { class: "name", text: "metric" }),
    el("th", { text: `step ${state.step}` }), el("th", { text: "change" }), el("th", { text: "first" }))));
  const body = el("tbody");
  for (const chart of DATA.charts) {
    for (const [label, name] of [[chart.main, chart.main], ...chart.overlays]) {
      if (filter && !name.toLowerCase().includes(filter)) continue;
      const value = AT[name].get(state.step);
      const before = previous === undefined ? undefined : AT[name].get(previous);
      const change = value !== undefined && before !== undefined ? value - before : undefined;
      const first = DATA.series[name][0];
      const cls = change > 0 ? "up" : change < 0 ? "down" : "";
      body.append(el("tr", {},
        el("td", { class: name === chart.main ? "name" : "name overlay", text: name === chart.main ? name : `${label} on ${chart.main}` }),
        el("td", { text: fmt(value) }),
        el("td", { class: cls, text: change === undefined ? "" : (change > 0 ? "+" : "") + fmt(change) }),
        el("td", { text: `${fmt(first[1])} @${first[0]}` })));
    }
  }
  table.append(body);
}

function drawHeadlineTable() {
  const names = HEADLINE.filter((n) => DATA.series[n]);
  const table = $("headline-table");
  table.textContent = "";
  if (!names.length) return;
  table.append(el("thead", {}, el("tr", {}, el("th", { text: "step" }), ...names.map((n) => el("th", { text: n })))));
  const body = el("tbody");
  for (const step of STEPS) {
    const row = el("tr", { "data-step": step }, el("td", { text: step }),
      ...names.map((n) => el("td", { text: fmt(AT[n].get(step)) })));
    row.addEventListener("click", () => setStep(step, false));
    body.append(row);
  }
  table.append(body);
}

function markHeadlineRow() {
  for (const row of $("headline-table").querySelectorAll("tbody tr")) {
    const picked = Number(row.dataset.step) === state.step;
    row.classList.toggle("picked", picked);
  }
}

// ---------- rollouts

function batches() {
  return DATA.rollouts.filter((b) => b.eval === (state.set === "eval"));
}

function currentBatch() {
  const list = batches();
  if (!list.length) return null;
  const target = state.step === null ? list[list.length - 1].step : state.step;
  return list.reduce((best, b) => (Math.abs(b.step - target) < Math.abs(best.step - target) ? b : best));
}

function maskNames() {
  const names = new Set();
  for (const b of DATA.rollouts) for (const r of b.records) for (const m of Object.keys(r.masks)) names.add(m);
  return [...names].sort((a, b) => (a === "planning" ? -1 : b === "planning" ? 1 : a.localeCompare(b)));
}

function drawRolloutControls() {
  const sets = $("set-choice");
  sets.textContent = "";
  for (const set of ["train", "eval"]) {
    const count = DATA.rollouts.filter((b) => b.eval === (set === "eval")).length;
    const input = el("input", { type: "radio", name: "set", value: set });
    input.checked = state.set === set;
    input.disabled = !count;
    input.addEventListener("change", () => { state.set = set; update(); });
    sets.append(el("label", {}, input, ` ${set} (${count})`), " ");
  }
  const color = $("color");
  color.textContent = "";
  const options = [["advantage", "advantage"], ["entropy", "entropy"],
    ...maskNames().map((m) => [m, `${m} tag`])];
  for (const [value, label] of options) color.append(el("option", { value, text: label }));
  color.value = options.some((o) => o[0] === state.color) ? state.color : "advantage";
  state.color = color.value;
  $("show").value = state.show;
  $("search").value = state.q;
}

function percentile(values, q) {
  if (!values.length) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * (sorted.length - 1)))];
}

// The colour scale of the batch for the current mode: a function token -> CSS background.
function colorScale(batch) {
  const legend = $("legend");
  legend.textContent = "";
  if (state.color === "advantage") {
    const values = batch.records.flatMap((r) => r.advantages.map(Math.abs));
    if (!values.length) {
      legend.append(el("span", { class: "empty-note", text:
        "no advantages in this batch (evaluation batches are never trained on): pick entropy or a tag" }));
      return () => "";
    }
    const top = percentile(values, 0.98) || 1;
    legend.append("advantage", el("span", { class: "scale", style:
      "background:linear-gradient(90deg,rgba(198,40,40,.85),#fff,rgba(26,127,55,.85))" }),
      `−${fmt(top)} … +${fmt(top)} (98th percentile of |A| in this batch)`);
    return (r, t) => {
      const a = r.advantages[t];
      if (a === undefined || a === 0) return "";
      const alpha = Math.min(Math.abs(a) / top, 1) * 0.85;
      return a > 0 ? `rgba(26,127,55,${alpha.toFixed(3)})` : `rgba(198,40,40,${alpha.toFixed(3)})`;
    };
  }
  if (state.color === "entropy") {
    const values = batch.records.flatMap((r) => r.entropies);
    const top = percentile(values, 0.98) || 1;
    legend.append("entropy", el("span", { class: "scale", style:
      "background:linear-gradient(90deg,#fff,rgba(103,65,217,.85))" }), `0 … ${fmt(top)} nats (98th percentile)`);
    return (r, t) => {
      const e = r.entropies[t];
      if (!e) return "";
      return `rgba(103,65,217,${(Math.min(e / top, 1) * 0.85).toFixed(3)})`;
    };
  }
  const mask = state.color;
  legend.append(el("span", { class: "scale", style: "background:#ffd54f;width:24px" }), `tokens tagged ${mask}`);
  return (r, t) => (r.masks[mask] && r.masks[mask][t] === "1" ? "#ffd54f" : "");
}

function tokenText(token) {
  if (token === "") return ["∅", "empty"];
  if (token.trim() === "" && token.includes("\n")) return [token.replace(/\n/g, "↵\n"), "ws"];
  return [token, ""];
}

function drawRollouts() {
  const list = $("rollout-list");
  list.textContent = "";
  const all = batches();
  const slider = $("rollout-step");
  const batch = currentBatch();
  slider.max = Math.max(all.length - 1, 0);
  slider.disabled = all.length < 2;
  if (!batch) {
    $("rollout-step-label").textContent = "";
    $("rollout-summary").textContent = "";
    $("legend").textContent = "";
    list.append(el("p", { class: "empty-note", text:
      "no rollouts written: add a sink.rollouts stage to the pipeline (see docs/outputs.md#rollouts)" }));
    return;
  }
  slider.value = all.indexOf(batch);
  $("rollout-step-label").textContent = `${batch.step} (${all.indexOf(batch) + 1} of ${all.length})`;
  const records = batch.records;
  const correct = records.filter((r) => r.correct).length;
  const tokens = records.reduce((n, r) => n + r.tokens.length, 0);
  const planning = records.reduce((n, r) => n + (r.masks.planning || "").split("1").length - 1, 0);
  const rewards = records.map((r) => r.reward).filter((v) => v !== null && v !== undefined);
  $("rollout-summary").textContent = `${state.set} step ${batch.step}: ${records.length} of ${batch.total} rollouts shown · ` +
    `accuracy ${fmt(correct / Math.max(records.length, 1))} · mean reward ${fmt(rewards.reduce((a, b) => a + b, 0) / Math.max(rewards.length, 1))} · ` +
    `${tokens} tokens, ${fmt(planning / Math.max(tokens, 1))} of them planning`;
  const paint = colorScale(batch);
  const q = state.q.toLowerCase();
  const groups = new Map();
  records.forEach((r, i) => {
    if (state.show === "correct" && !r.correct) return;
    if (state.show === "wrong" && r.correct) return;
    if (q && !r.tokens.join("").toLowerCase().includes(q) && !r.question.toLowerCase().includes(q)) return;
    if (!groups.has(r.prompt_id)) groups.set(r.prompt_id, []);
    groups.get(r.prompt_id).push(i);
  });
  if (!groups.size) list.append(el("p", { class: "empty-note", text: "no rollout matches" }));
  for (const [prompt, indices] of groups) {
    const first = records[indices[0]];
    const group = el("div", { class: "group" },
      el("div", { class: "question" }, el("b", { text: prompt }), "  ", first.question, "  → gold ", el("b", { text: first.gold })));
    for (const i of indices) {
      const r = records[i];
      const verdict = r.correct === true ? el("span", { class: "ok", text: "✓ correct" })
        : r.correct === false ? el("span", { class: "no", text: "✗ wrong" }) : el("span", { text: "unverified" });
      const meta = el("div", { class: "meta" }, `#${r.sample} `, verdict, el("br"),
        `reward ${fmt(r.reward)}`, el("br"), `answer ${r.answer === null || r.answer === undefined ? "-" : r.answer}`,
        el("br"), `${r.tokens.length} tokens, ${r.finish || "?"}`);
      const text = el("div", { class: "tokens", "data-record": i });
      const plan = r.masks.planning || "";
      r.tokens.forEach((token, t) => {
        const [shown, cls] = tokenText(token);
        const span = el("span", { "data-t": t, text: shown });
        const classes = [cls, plan[t] === "1" ? "plan" : ""].filter(Boolean).join(" ");
        if (classes) span.className = classes;
        const bg = paint(r, t);
        if (bg) span.style.background = bg;
        text.append(span);
      });
      group.append(el("div", { class: "rollout" }, meta, text));
    }
    list.append(group);
  }
}

function tokenTip(event) {
  const span = event.target.closest("span[data-t]");
  const box = event.target.closest("[data-record]");
  const batch = currentBatch();
  if (!span || !box || !batch) return hideTip();
  const r = batch.records[Number(box.dataset.record)];
  const t = Number(span.dataset.t);
  const tags = Object.entries(r.masks).filter(([, m]) => m[t] === "1").map(([k]) => k);
  const lines = [`token ${t}  id ${r.ids[t]}  ${JSON.stringify(r.tokens[t])}`,
    `advantage ${fmt(r.advantages[t])}  entropy ${fmt(r.entropies[t])}  logprob ${fmt(r.logprobs[t])}`,
    `tags ${tags.length ? tags.join(", ") : "none"}`];
  showTip(event, lines.join("\n"));
}

// ---------- mined grams

function drawMined() {
  const box = $("mined-list");
  box.textContent = "";
  if (!DATA.mined.length) {
    box.append(el("p", { class: "empty-note", text:
      "no strategic-gram mining in this run (tagger.mined_grams writes mined_grams.jsonl)" }));
    return;
  }
  for (const m of DATA.mined) {
    const grams = el("div", { class: "grams" }, ...(m.grams || []).map((g) => el("span", { text: g })));
    const clusters = el("details", {}, el("summary", { text: `${(m.clusters || []).length} clusters, ranked by document frequency` }));
    for (const c of m.clusters || []) {
      clusters.append(el("div", { class: c.kept ? "kept" : "" },
        `df ${c.doc_freq}${c.kept ? " (kept)" : ""}: ${c.grams.join(" · ")}`));
    }
    box.append(el("div", { class: "mining" },
      el("div", { text: `step ${m.step} (policy version ${m.policy_version}): ${m.documents} correct responses, ` +
        `${m.candidates} candidate grams, ${(m.grams || []).length} kept; lexicon now ${m.lexicon_size} grams` }),
      grams, clusters));
  }
}

// ---------- tooltip

function showTip(event, text) {
  const tip = $("tooltip");
  tip.textContent = text;
  tip.hidden = false;
  const x = Math.min(event.clientX + 14, window.innerWidth - tip.offsetWidth - 8);
  const y = event.clientY + 16 + tip.offsetHeight > window.innerHeight ? event.clientY - tip.offsetHeight - 8 : event.clientY + 16;
  tip.style.left = `${x}px`;
  tip.style.top = `${y}px`;
}

function hideTip() { $("tooltip").hidden = true; }

// ---------- wiring

function setStep(step, fromChart) {
  state.step = step;
  update();
  if (fromChart) $("picked-step").scrollIntoView({ block: "nearest" });
}

function update() {
  if (state.step === null || !STEPS.includes(state.step)) {
    state.step = STEPS.length ? nearest(STEPS, state.step === null ? DEFAULT_STEP : state.step) : null;
  }
  if (!batches().length && DATA.rollouts.length) state.set = DATA.rollouts[0].eval ? "eval" : "train";
  $("picked-step").textContent = state.step === null ? "-" : state.step;
  drawRolloutControls();
  markStep();
  drawStepTable();
  markHeadlineRow();
  drawRollouts();
  writeHash();
}

function start() {
  readHash();
  drawHeader();
  $("chart-filter").value = state.filter;
  $("smooth").checked = state.smooth;
  drawCharts();
  drawHeadlineTable();
  drawMined();
  $("chart-filter").addEventListener("input", (e) => { state.filter = e.target.value; drawCharts(); drawStepTable(); writeHash(); });
  $("smooth").addEventListener("change", (e) => { state.smooth = e.target.checked; drawCharts(); writeHash(); });
  $("table-step").addEventListener("input", (e) => setStep(STEPS[Number(e.target.value)], false));
  $("rollout-step").addEventListener("input", (e) => {
    const batch = batches()[Number(e.target.value)];
    state.step = STEPS.length ? nearest(STEPS, batch.step) : batch.step;
    update();
  });
  $("color").addEventListener("change", (e) => { state.color = e.target.value; update(); });
  $("show").addEventListener("change", (e) => { state.show = e.target.value; update(); });
  $("search").addEventListener("input", (e) => { state.q = e.target.value; drawRollouts(); writeHash(); });
  $("rollout-list").addEventListener("mousemove", tokenTip);
  $("rollout-list").addEventListener("mouseleave", hideTip);
  window.addEventListener("hashchange", () => { readHash(); update(); });
  update();
  document.body.dataset.ready = "1";
}

start();
