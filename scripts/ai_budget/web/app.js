// The ai-budget dashboard: fetches /api/status and /api/history, draws them, ticks the
// countdown each second and refreshes each minute (the server reuses the usage API's
// 3-minute cache, so a refresh is never a new poll). Text goes in through textContent only.
"use strict";

const TOKEN = document.querySelector('meta[name="budget-token"]').content;
const REFRESH_MS = 60 * 1000;
let status = null;
let offsetMs = 0;        // server clock minus this browser's clock
let updatedAt = null;    // when status was fetched, server time

const $ = (id) => document.getElementById(id);
const now = () => Date.now() + offsetMs;

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v; else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

function text(id, value) { $(id).textContent = value; }

// As timefmt.duration: '2h 14m', '3d 4h', '45s'.
function duration(seconds) {
  seconds = Math.max(0, Math.floor(seconds));
  const d = Math.floor(seconds / 86400), h = Math.floor(seconds % 86400 / 3600), m = Math.floor(seconds % 3600 / 60);
  if (d) return `${d}d ${h}h`;
  if (h) return `${h}h ${String(m).padStart(2, "0")}m`;
  if (m) return `${m}m`;
  return `${seconds}s`;
}

const usd = (v) => v === null || v === undefined ? "–" : "$" + Number(v).toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
const int = (v) => v === null || v === undefined ? "–" : Number(v).toLocaleString("en-US", { maximumFractionDigits: 2 });
const pct = (v) => v === null || v === undefined ? "–" : `${Number(v).toFixed(Number(v) % 1 ? 1 : 0)}%`;
function tokens(v) {
  if (!v) return "0 tokens";
  if (v >= 1e9) return (v / 1e9).toFixed(2) + "B tokens";
  if (v >= 1e6) return (v / 1e6).toFixed(1) + "M tokens";
  if (v >= 1e3) return (v / 1e3).toFixed(1) + "k tokens";
  return v + " tokens";
}
function localTime(iso) {
  const t = new Date(iso);
  const far = Math.abs(t - now()) > 20 * 3600e3;
  return t.toLocaleString(undefined, far ? { weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" }
                                         : { hour: "2-digit", minute: "2-digit" });
}
function estimate(node) { node.append(el("span", { class: "est", title: "API-equivalent estimate at list prices" }, "API-eq. est.")); }

// ---------------------------------------------------------------- the Claude panel

function usedFive(c) {
  const five = c.five_hour || {};
  return five.reset_since ? null : (five.util ?? null);
}

function renderClaude(s) {
  const c = s.claude, five = c.five_hour || {}, seven = c.seven_day || {};
  const used = usedFive(c);
  document.body.dataset.state = s.state;
  text("plan", s.plan ? `Claude ${s.plan.charAt(0).toUpperCase()}${s.plan.slice(1)}` : "Claude plan unknown");
  const badge = $("state-badge");
  badge.hidden = !(s.state === "warning" || s.state === "critical");
  badge.textContent = s.state === "critical" ? "Near limit" : "Approaching limit";
  const alert = $("alert-line");
  alert.hidden = badge.hidden;
  text("alert-text", s.state === "critical" ? `Near limit: ${pct(used)} of the 5-hour window used (critical at ${s.alerts.critical_at}%)`
                                            : `Approaching limit: ${pct(used)} used (warning at ${s.alerts.warn_at}%)`);
  text("gauge-pct", used === null ? "–" : pct(used));
  $("gauge-fill").setAttribute("stroke-dasharray", `${Math.min(100, used || 0)} 100`);
  const paceMark = $("pace-mark");
  if (five.pace) {
    paceMark.removeAttribute("hidden");  // an SVG element has no .hidden property
    paceMark.setAttribute("transform", `rotate(${five.pace.expected_pct * 3.6} 60 60)`);
    const where = five.pace.stage === "on track" ? "on an even pace" : five.pace.stage.replace("ahead", "ahead of") + " an even pace";
    let line = `Pace: ${where} (${five.pace.delta_pct > 0 ? "+" : ""}${five.pace.delta_pct.toFixed(0)} pts; ${five.pace.expected_pct.toFixed(0)}% of the window elapsed)`;
    if (!five.pace.lasts_to_reset && five.pace.runs_out_at) line += `; runs out ~${localTime(five.pace.runs_out_at)} at this rate`;
    text("pace", line);
  } else {
    paceMark.setAttribute("hidden", "");
    text("pace", "");
  }
  const empty = $("claude-empty");
  empty.hidden = c.source !== "none";
  if (c.source === "none") {
    empty.replaceChildren("No utilisation reading yet. Run ", el("code", {}, s.commands.fetch),
      " (needs your Claude Code login), or install the status line with ", el("code", {}, s.commands.statusline), ".");
  }
  // 7-day
  const sevenUsed = seven.reset_since ? null : (seven.util ?? null);
  text("seven-pct", pct(sevenUsed));
  setBar($("seven-fill"), $("seven-bar"), sevenUsed, s.alerts);
  text("seven-reset", seven.resets_at && sevenUsed !== null ? `7-day resets ${localTime(seven.resets_at)}` : "");
  const scoped = $("scoped");
  scoped.replaceChildren(...(c.scoped_weekly || []).map((w) => {
    const fill = el("span", { class: "bar-fill" });
    const bar = el("span", { class: "bar", role: "progressbar", "aria-label": `weekly ${w.model}`, "aria-valuemin": "0", "aria-valuemax": "100" }, fill);
    setBar(fill, bar, w.util, s.alerts);
    const li = el("li", {}, el("span", { class: "name", title: `weekly ${w.model}` }, w.model), bar, el("span", { class: "value" }, pct(w.util)));
    if (w.active) li.append(el("span", { class: "binding" }, "◆ binding limit"));
    return li;
  }));
  const extra = c.extra_usage;
  $("extra-usage").hidden = !(extra && extra.enabled);
  if (extra && extra.enabled) text("extra-usage", `Extra usage: ${usd(extra.used_usd)}${extra.limit_usd ? " of " + usd(extra.limit_usd) : ""}`);
  const src = $("source");
  src.className = c.stale && c.source !== "none" ? "sub stale" : "sub";
  src.textContent = c.source === "none" ? "" : `Source: ${c.source}${c.observed_at ? ", read " + ago(c.observed_at) : ""}${c.stale ? " — STALE" : ""}`;
  const problem = $("problem");
  problem.hidden = !c.problem;
  problem.textContent = c.problem ? `Claude: ${c.problem}` : "";
}

function setBar(fill, bar, value, alerts) {
  const v = value ?? 0;
  fill.style.width = `${Math.min(100, v)}%`;
  fill.className = "bar-fill" + (v >= alerts.critical_at ? " crit" : v >= alerts.warn_at ? " warn" : "");
  bar.setAttribute("aria-valuenow", String(Math.round(v)));
}

function ago(iso) {
  const s = (now() - Date.parse(iso)) / 1000;
  return s < 60 ? "just now" : `${duration(s)} ago`;
}

function tickCountdown() {
  if (!status) return;
  const five = status.claude.five_hour || {};
  let line = status.claude.source === "none" ? "" : "–";
  if (usedFive(status.claude) === null && status.claude.source !== "none" && five.reset_since) {
    line = `Window reset at ${localTime(five.resets_at)}; new reading needed`;
  } else if (five.resets_at) {
    const left = (Date.parse(five.resets_at) - now()) / 1000;
    line = left > 0 ? `resets in ${duration(left)}` : "window has reset; refreshing…";
    if (left <= 0 && !status.refreshedAtReset) { status.refreshedAtReset = true; refresh(); }  // once, not every tick
  } else if (usedFive(status.claude) !== null) {
    line = "no window running (starts with your next message)";
  }
  text("countdown", line);
  if (updatedAt !== null) {
    const min = Math.floor((now() - updatedAt) / 60000);
    text("updated", min < 1 ? "Last updated just now" : `Last updated ${min} min ago`);
  }
}

// ---------------------------------------------------------------- cards, models, backlog

function renderCards(s) {
  const l = s.local, noTranscripts = !l.month.responses;
  for (const [id, t] of [["today", l.today], ["month", l.month]]) {
    const fig = $(`${id}-cost`);
    fig.textContent = usd(t.cost_usd);
    estimate(fig);
    text(`${id}-tokens`, noTranscripts ? "No Claude Code transcripts found yet on this machine" :
      `${tokens(t.tokens)} · ${int(t.responses)} responses${t.unpriced ? " · some unpriced" : ""}`);
  }
  text("sessions-count", int(s.sessions_today.count));
  const sc = $("sessions-cost");
  sc.textContent = s.sessions_today.count ? `${usd(s.sessions_today.cost_usd)} API-eq. est. · ${tokens(s.sessions_today.tokens)}` : "No sessions today";
  const models = $("models");
  const top = Math.max(...s.models_today.map((m) => m.cost_usd), 0);
  models.replaceChildren(...s.models_today.map((m) => {
    const fill = el("span", { class: "bar-fill" });
    fill.style.width = `${top ? (m.cost_usd / top) * 100 : 0}%`;
    return el("li", {}, el("span", { class: "name", title: m.model }, m.model), el("span", { class: "bar" }, fill),
      el("span", { class: "value", title: tokens(m.tokens) }, usd(m.cost_usd)));
  }));
  if (!s.models_today.length) models.append(el("li", { class: "placeholder" }, "No Claude usage today yet."));
}

const PERIOD_NAMES = { daily: "Today", weekly: "This week", monthly: "This month" };

// The spend limits set with `budget set limits` (hidden when none is set).
function renderLimits(s) {
  const lim = s.limits || { periods: {} }, names = Object.keys(lim.periods);
  $("limits").hidden = !names.length;
  const amount = (v) => lim.unit === "tokens" ? tokens(v) : usd(v);
  $("limit-list").replaceChildren(...names.map((name) => {
    const p = lim.periods[name], fill = el("span", { class: "bar-fill" }), bar = el("span", { class: "bar" }, fill);
    fill.style.width = `${Math.min(100, p.pct)}%`;
    fill.className = "bar-fill" + (p.status === "ok" ? "" : p.status === "warning" ? " warn" : " crit");
    return el("li", { "data-status": p.status }, el("span", { class: "name" }, PERIOD_NAMES[name] || name), bar,
      el("span", { class: "value", title: `${p.pct}% of ${amount(p.limit)}: ${p.status}` },
        `${amount(p.spent)} / ${amount(p.limit)}${p.status === "ok" ? "" : " · " + p.status}`));
  }));
}

function renderBacklog(s) {
  $("recommendation").replaceChildren(...s.recommendation.map((r) => el("li", {}, r)));
  const body = $("backlog").tBodies[0];
  body.replaceChildren(...s.backlog.estimates.map((e) => el("tr", {},
    el("td", {}, el("span", { class: "tag" }, e.tag), e.text, e.units ? el("span", { class: "sub" }, ` (${e.task_type} ×${e.units})`) : ""),
    el("td", { class: "num", title: e.basis }, `~${e.estimate_pct.toFixed(0)}%`))));
  if (!s.backlog.estimates.length) body.append(el("tr", {}, el("td", { colspan: "2", class: "placeholder" }, "No open tasks. Add lines like ",
    el("code", {}, "[M] Feature (feature x1)"), " to ", el("code", {}, s.commands.backlog), ".")));
  const cal = $("calibration").tBodies[0];
  const rows = s.calibration.filter((c) => c.samples || c.avg_output_tokens !== null);
  cal.replaceChildren(...rows.map((c) => el("tr", {}, el("td", {}, c.task_type, el("span", { class: "sub" }, ` ${c.unit}`)),
    el("td", { class: "num" }, int(c.samples)), el("td", { class: "num" }, c.avg_5h_pct === null ? "–" :
      `${c.avg_5h_pct.toFixed(2)}%` + (c.samples > 1 && c.sd_5h_pct !== null && c.sd_5h_pct !== undefined ? ` ± ${c.sd_5h_pct.toFixed(2)}` : "")),
    el("td", { class: "num" }, c.avg_output_tokens === null ? "–" : int(Math.round(c.avg_output_tokens))))));
  if (!rows.length) cal.append(el("tr", {}, el("td", { colspan: "4", class: "placeholder" }, "Not calibrated yet: log a session with ",
    el("code", {}, s.commands.calibrate), ".")));
}

// ---------------------------------------------------------------- ledgers

function renderLedgers(s) {
  const a = s.api_credits;
  const bal = $("api-balance");
  if (!a.entries) {
    bal.textContent = "No balance yet";
    text("api-month", "–"); text("api-burn", "–"); text("api-runway", "–");
    $("api-asof").replaceChildren("Record the balance the Console shows, here or with ", el("code", {}, a.how_to_update || "budget set api --balance USD"), ".");
  } else {
    bal.textContent = usd(a.balance_usd);
    text("api-month", a.month_spend_usd === null ? "needs two entries" : usd(a.month_spend_usd));
    text("api-burn", a.burn_usd_per_day === null ? "needs a day of entries" : `${usd(a.burn_usd_per_day)}/day over ${a.burn_days} days`);
    text("api-runway", a.runway_days === null ? (a.burn_usd_per_day === 0 ? "no spend: unlimited" : "–")
      : a.runs_out_at ? `${Math.floor(a.runway_days)} days, until ${new Date(a.runs_out_at).toLocaleDateString(undefined, { day: "numeric", month: "short", year: "numeric" })}`
      : "over 100 years at this rate");
    const asof = $("api-asof");
    asof.className = a.stale ? "sub stale" : "sub";
    asof.textContent = `As of ${localTime(a.as_of)} (${ago(a.as_of)})${a.stale ? " — STALE: record the current balance" : ""}`;
  }
  if (a.problem) { $("api-asof").className = "sub stale"; text("api-asof", a.problem); }
  const admin = s.admin;
  $("admin").hidden = !admin;
  if (admin) {
    text("admin-spend", admin.problem || `${usd(admin.spend_usd)} billed this month (from the Admin API's cost report)`);
    const top = Math.max(...admin.by_model.map((m) => m.cost_usd), 0);
    $("admin-models").replaceChildren(...admin.by_model.map((m) => {
      const fill = el("span", { class: "bar-fill" });
      fill.style.width = `${top ? (m.cost_usd / top) * 100 : 0}%`;
      return el("li", {}, el("span", { class: "name", title: m.model }, m.model), el("span", { class: "bar" }, fill), el("span", { class: "value" }, usd(m.cost_usd)));
    }));
  }
  const c = s.copilot, unit = String(c.unit || "").replace("_", " ");
  text("copilot-figure", c.used === null ? "No count yet" : `${int(c.used)} of ${int(c.limit)} ${unit}`);
  const fill = $("copilot-fill");
  setBar(fill, fill.parentElement, c.used !== null && c.limit ? (c.used / c.limit) * 100 : 0, s.alerts);
  const cr = $("copilot-reset");
  cr.className = c.stale || c.reset_since_update ? "sub stale" : "sub";
  cr.textContent = [c.remaining !== null ? `${int(c.remaining)} left` : null, c.resets_at ? `resets ${c.resets_at.slice(0, 10)}` : null,
    c.reset_since_update ? "RESET since this count: update it" : c.stale ? (c.age_days === null ? "never updated" : `STALE: updated ${Math.round(c.age_days)} days ago`) : null]
    .filter(Boolean).join(" · ");
  const g = s.gemini;
  text("gemini-figure", String(g.status || "unknown").replace(/_/g, " "));
  const gu = $("gemini-usage");
  gu.className = g.stale ? "sub stale" : "sub";
  gu.textContent = [g.used !== null ? `${int(g.used)}${g.limit !== null ? " of " + int(g.limit) : ""} ${g.unit || ""}` : null,
    g.stale ? (g.age_days === null ? "never updated" : `STALE: updated ${Math.round(g.age_days)} days ago`) : `updated ${ago(g.last_updated)}`]
    .filter(Boolean).join(" · ");
}

// ---------------------------------------------------------------- the 30-day chart

const SVG = "http://www.w3.org/2000/svg";
function svg(tag, attrs, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

function drawChart(h) {
  const box = $("chart");
  text("chart-total", `· ${usd(h.total_cost_usd)} API-eq. est.`);
  if (!h.days.some((d) => d.cost_usd > 0 || d.tokens > 0)) {
    box.replaceChildren(el("p", { class: "placeholder" }, "No usage in the last 30 days."));
    return;
  }
  const W = 600, H = 200, left = 44, bottom = 22, top = 10;
  const max = Math.max(...h.days.map((d) => d.cost_usd)) || 1;
  const step = (W - left) / h.days.length;
  const chart = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": `API-equivalent cost per day, last ${h.days.length} days` });
  for (const f of [0, 0.5, 1]) {
    const y = H - bottom - f * (H - bottom - top);
    chart.append(svg("line", { class: "axis", x1: left, x2: W, y1: y, y2: y }),
      svg("text", { x: left - 6, y: y + 3, "text-anchor": "end" }, usd(max * f).replace(".00", "")));
  }
  h.days.forEach((d, i) => {
    const hgt = (d.cost_usd / max) * (H - bottom - top);
    const bar = svg("rect", { class: "bar-day" + (i === h.days.length - 1 ? " today" : ""), x: left + i * step + step * 0.15,
      y: H - bottom - hgt, width: step * 0.7, height: Math.max(hgt, d.cost_usd > 0 ? 1 : 0), rx: 2 });
    bar.append(svg("title", {}, `${d.date}: ${usd(d.cost_usd)} · ${tokens(d.tokens)}`));
    chart.append(bar);
  });
  const label = (i, anchor) => svg("text", { x: left + i * step + step / 2, y: H - 6, "text-anchor": anchor }, h.days[i].date.slice(5));
  chart.append(label(0, "start"), label(Math.floor(h.days.length / 2), "middle"), label(h.days.length - 1, "end"));
  box.replaceChildren(chart);
}

// ---------------------------------------------------------------- loading and forms

async function getJSON(url) {
  const resp = await fetch(url, { cache: "no-store", headers: { Accept: "application/json" } });
  const data = await resp.json();
  if (!resp.ok || !data.ok) throw new Error(data.error || `HTTP ${resp.status}`);
  return data;
}

async function refresh() {
  $("refresh").disabled = true;
  try {
    const [s, h] = await Promise.all([getJSON("/api/status"), getJSON("/api/history?days=30")]);
    offsetMs = Date.parse(s.generated_at) - Date.now();
    updatedAt = Date.parse(s.generated_at);
    status = s;
    renderClaude(s); renderCards(s); renderLimits(s); renderBacklog(s); renderLedgers(s); drawChart(h);
    document.body.dataset.loaded = "yes";
  } catch (err) {
    const p = $("problem");
    p.hidden = false;
    p.textContent = `Could not load the numbers: ${err.message}`;
    if (!status) document.body.dataset.state = "none";
  } finally {
    $("refresh").disabled = false;
    tickCountdown();
  }
}

async function submit(event) {
  event.preventDefault();
  const form = event.currentTarget, msg = form.querySelector(".form-msg");
  const body = { what: form.dataset.what };
  for (const field of form.elements) {
    if (field.name && field.value.trim() !== "") body[field.name] = field.value.trim();
  }
  msg.className = "form-msg";
  msg.textContent = "Saving…";
  try {
    const resp = await fetch("/api/balances", { method: "POST", cache: "no-store",
      headers: { "Content-Type": "application/json", "X-Budget-Token": TOKEN }, body: JSON.stringify(body) });
    const data = await resp.json();
    if (!resp.ok || !data.ok) throw new Error(data.error || `HTTP ${resp.status}`);
    msg.className = "form-msg done";
    const committed = data.commit && data.commit.committed ? ` (commit ${data.commit.sha})` : "";
    msg.textContent = `Saved: ${data.text}${committed}` + (data.warnings ? ` — ${data.warnings.join("; ")}` : "");
    form.reset();
    refresh();
  } catch (err) {
    msg.className = "form-msg error";
    msg.textContent = err.message;
  }
}

document.querySelectorAll("form.entry").forEach((f) => f.addEventListener("submit", submit));
$("refresh").addEventListener("click", refresh);
setInterval(tickCountdown, 1000);
setInterval(refresh, REFRESH_MS);
refresh();
