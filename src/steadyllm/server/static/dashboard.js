// steadyllm dashboard: polls /api/dashboard and draws it. Plain JS, inline SVG, no CDN.
"use strict";

const POLL_MS = 5000;
const SVG = "http://www.w3.org/2000/svg";
const $ = (id) => document.getElementById(id);

function fmtInt(n) { return n == null ? "–" : Math.round(n).toLocaleString("en-US"); }
function fmtPct(x, digits = 1) { return x == null ? "–" : (x * 100).toFixed(digits) + "%"; }
function fmtMs(x) {
  if (x == null) return "–";
  return x >= 1000 ? (x / 1000).toFixed(2) + " s" : Math.round(x) + " ms";
}
function fmtUsd(x) {
  if (x == null) return "–";
  return x < 0.01 && x > 0 ? "$" + x.toFixed(6) : "$" + x.toFixed(4);
}
function fmtDuration(s) {
  const d = Math.floor(s / 86400), h = Math.floor(s % 86400 / 3600), m = Math.floor(s % 3600 / 60);
  return d ? `${d}d ${h}h` : h ? `${h}h ${m}m` : `${m}m ${Math.floor(s % 60)}s`;
}
function el(tag, attrs = {}, text) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text != null) node.textContent = text;
  return node;
}
function svgEl(tag, attrs) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
}
function notConfigured(target, what) {
  target.replaceChildren(el("p", { class: "none" }, `${what} not configured`));
}

// One chart: lines or bars over the same x axis; nulls leave gaps.
function chart(target, points, series, { bars = false, max = null, format = (v) => v } = {}) {
  const W = 600, H = 150, L = 44, B = 16, T = 6;
  const values = series.flatMap((s) => points.map((p) => p[s.key])).filter((v) => v != null);
  const top = max != null ? max : Math.max(1e-9, ...values) * 1.1;
  const x = (i) => L + (i + 0.5) * (W - L) / points.length;
  const y = (v) => T + (H - T - B) * (1 - v / top);
  const svg = svgEl("svg", { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none", role: "img" });
  for (const frac of [0, 0.5, 1]) {
    const v = top * frac;
    svg.append(svgEl("line", { x1: L, x2: W, y1: y(v), y2: y(v), stroke: "#2a3540" }));
    const label = svgEl("text", { x: L - 4, y: y(v) + 3, "text-anchor": "end" });
    label.textContent = format(v);
    svg.append(label);
  }
  const width = Math.max(1, (W - L) / points.length - 2);
  series.forEach((s, n) => {
    if (bars) {
      points.forEach((p, i) => {
        const v = p[s.key];
        if (!v) return;
        const offset = series.length > 1 ? (n - (series.length - 1) / 2) * width / series.length : 0;
        const w = width / series.length;
        svg.append(svgEl("rect", { x: x(i) - w / 2 + offset, y: y(v), width: w, height: Math.max(0, H - B - y(v)), fill: s.color }));
      });
      return;
    }
    let d = "";
    points.forEach((p, i) => {
      const v = p[s.key];
      if (v == null) { d += " "; return; }
      d += (d.endsWith(" ") || d === "" ? "M" : "L") + x(i).toFixed(1) + "," + y(v).toFixed(1);
    });
    svg.append(svgEl("path", { d: d.trim().replace(/ +M/g, " M"), fill: "none", stroke: s.color, "stroke-width": 2 }));
    points.forEach((p, i) => {
      if (p[s.key] != null) svg.append(svgEl("circle", { cx: x(i), cy: y(p[s.key]), r: 2, fill: s.color }));
    });
  });
  const first = svgEl("text", { x: L, y: H - 3 });
  first.textContent = "-60 min";
  const last = svgEl("text", { x: W, y: H - 3, "text-anchor": "end" });
  last.textContent = "now";
  svg.append(first, last);
  target.replaceChildren(svg);
}

function table(target, headers, rows) {
  const head = el("tr");
  headers.forEach((h) => head.append(el("th", {}, h)));
  const body = rows.map((cells) => {
    const tr = el("tr");
    cells.forEach((c) => {
      const td = el("td");
      if (c instanceof Node) td.append(c); else td.textContent = c;
      tr.append(td);
    });
    return tr;
  });
  target.replaceChildren(head, ...body);
}

function tag(text, kind) { return el("span", { class: `tag ${kind}` }, text); }

function render(data) {
  const five = data.last5m, hour = data.lastHour;
  const health = data.health.status;
  $("health").textContent = health;
  $("health").className = `pill ${health}`;
  $("uptime").textContent = fmtDuration(data.uptime);
  $("updated").textContent = new Date(data.timestamp * 1000).toLocaleTimeString("en-GB");

  $("kpi-requests").textContent = fmtInt(five.requests);
  $("kpi-rps").textContent = (five.requests / 300).toFixed(2) + " req/s";
  $("kpi-errors").textContent = fmtPct(five.errorRate);
  $("kpi-failures").textContent = `${fmtInt(five.failures)} failed, ${fmtInt(five.rateLimited)} refused`;
  $("kpi-latency").textContent = [five.latencyP50Ms, five.latencyP95Ms, five.latencyP99Ms].map(fmtMs).join(" / ");
  $("kpi-cost").textContent = fmtUsd(hour.costUsd);
  $("kpi-cost-day").textContent = `${fmtUsd(data.costLastDay)} over 24 h`;
  $("kpi-cache").textContent = fmtPct(five.cacheHitRate);
  $("kpi-cache-detail").textContent = `${fmtInt(five.cacheHits)} hits, ${fmtInt(five.cacheMisses)} misses`;
  $("kpi-inflight").textContent = fmtInt(data.inFlight);
  $("kpi-ttft").textContent = five.ttftP95Ms == null ? "" : `TTFT p95 ${fmtMs(five.ttftP95Ms)}`;

  const points = data.series.points;
  chart($("chart-traffic"), points, [
    { key: "requests", color: "var(--a)" }, { key: "failures", color: "var(--bad)" },
  ], { bars: true, format: (v) => Math.round(v) });
  chart($("chart-latency"), points, [
    { key: "p50", color: "var(--a)" }, { key: "p95", color: "var(--b)" }, { key: "p99", color: "var(--c)" },
  ], { format: (v) => Math.round(v) });
  chart($("chart-cost"), points, [{ key: "cost", color: "var(--good)" }], { bars: true, format: (v) => v.toFixed(4) });
  chart($("chart-cache"), points, [{ key: "cacheHitRate", color: "var(--a)" }], { max: 1, format: (v) => Math.round(v * 100) + "%" });

  table($("models"), ["model", "requests", "errors", "p95", "cost", "cache hits"],
    data.models.map((m) => [m.model, fmtInt(m.requests), fmtPct(m.errorRate), fmtMs(m.latencyP95Ms), fmtUsd(m.costUsd), fmtPct(m.cacheHitRate)]));

  if (data.breakers == null) notConfigured($("breakers"), "circuit breakers");
  else {
    const t = el("table");
    table(t, ["deployment", "state"], data.breakers.map((b) => [b.deployment, tag(b.state, b.state === "closed" ? "ok" : b.state === "open" ? "fail" : "warn")]));
    $("breakers").replaceChildren(t);
  }
  for (const [key, what] of [["shadow", "shadow deployment"], ["experiments", "experiments"]]) {
    if (data[key] == null) { notConfigured($(key), what); continue; }
    const t = el("table");
    table(t, ["metric", "labels", "value"], data[key].map((s) => [s.name, Object.entries(s.labels).map(([k, v]) => `${k}=${v}`).join(" "), fmtInt(s.value)]));
    $(key).replaceChildren(t);
  }
  if (data.drift == null) notConfigured($("drift"), "drift detection");
  else {
    const t = el("table");
    table(t, ["variant", "drift", "severity", "checked"], data.drift.map((d) => [
      d.variant || "–", d.detected ? tag("drift", "fail") : tag("none", "ok"), d.severity || "–",
      d.checkedAt ? new Date(d.checkedAt * 1000).toLocaleString("en-GB") : "–",
    ]));
    $("drift").replaceChildren(t);
  }

  const objectives = data.slo.objectives;
  $("slo-window").textContent = objectives.length ? `over ${objectives[0].window / 60} min` : "";
  const fmtObjective = (o, v) => o.objective === "success_rate" ? fmtPct(v, 2) : o.objective === "memory_mb" ? `${Math.round(v)} MB` : o.objective === "cpu_percent" ? `${Math.round(v)}%` : fmtMs(v);
  table($("slo"), ["model", "objective", "target", "now", "status", "trend"], objectives.map((o) => [
    o.model, o.objective, fmtObjective(o, o.target), o.value == null ? "–" : fmtObjective(o, o.value),
    o.met == null ? tag("no data", "") : o.met ? tag("met", "ok") : tag("violated", "fail"), o.trend,
  ]));
  const violations = data.slo.recentViolations;
  $("violations").replaceChildren(el("p", { class: "muted" },
    violations.length ? `${data.slo.activeViolations.length} active, ${violations.length} recent violations` : "no violations recorded"));

  if (!data.alerts.length) $("alerts").replaceChildren(el("p", { class: "none" }, "no alerts"));
  else {
    const t = el("table");
    table(t, ["alert", "state", "summary"], data.alerts.map((a) => [a.alertname, tag(a.state, a.state === "firing" ? "fail" : "warn"), a.summary]));
    $("alerts").replaceChildren(t);
  }
  const t = el("table");
  table(t, ["check", "status", "latency"], data.health.checks.map((c) => [
    c.name, tag(c.status, c.status === "healthy" ? "ok" : c.status === "degraded" ? "warn" : "fail"), fmtMs(c.latencyMs),
  ]));
  $("checks").replaceChildren(t);
}

async function poll() {
  try {
    const response = await fetch("/api/dashboard", { credentials: "same-origin", cache: "no-store" });
    if (!response.ok) throw new Error(`the gateway answered ${response.status}`);
    render(await response.json());
    $("error").hidden = true;
    document.body.dataset.ready = "1";
  } catch (err) {
    $("error").textContent = `Could not load data: ${err.message}`;
    $("error").hidden = false;
  }
}

// The health checks run on the server's own cadence; ask once so the panel is filled.
fetch("/api/reliability/health", { credentials: "same-origin" }).catch(() => {}).finally(poll);
setInterval(poll, POLL_MS);
