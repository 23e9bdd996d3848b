// The report: per campaign and engagement, impressions, accepts and declines; visitors exposed vs
// held out (control); their conversions within the attribution window; the lift and its 95%
// interval, drawn as a forest plot (point, interval whisker, zero line) in inline SVG; the
// conversations each engagement started; then (SPEC §11) conversations started by source, and per
// SMS campaign and per outbound engagement: recipients, sent, delivered, failed, opted out,
// replies and conversations. Reads the server's shape defensively: missing numbers show as "—".

import { h, fill } from "./dom.js";
import * as api from "./api.js";
import { reportHash, STATUS_LABEL, plural } from "./sms-model.js";

const SVG = "http://www.w3.org/2000/svg";

/** The first defined value among dotted paths. */
function pick(obj, ...paths) {
  for (const p of paths) {
    let cur = obj;
    for (const k of p.split(".")) cur = cur == null ? undefined : cur[k];
    if (cur !== undefined && cur !== null) return cur;
  }
  return undefined;
}

function metrics(x) {
  const exposedVisitors = pick(x, "exposed.visitors", "exposed_visitors");
  const controlVisitors = pick(x, "control.visitors", "control_visitors");
  const exposedConv = pick(x, "exposed.converters", "exposed.conversions", "exposed_conversions");
  const controlConv = pick(x, "control.converters", "control.conversions", "control_conversions");
  const rate = (r, conv, n) => (typeof r === "number" ? r : n > 0 && typeof conv === "number" ? conv / n : undefined);
  const ci = pick(x, "lift_ci95", "lift_ci", "ci95", "lift_interval");
  let low = pick(x, "lift_ci95.low", "lift_low", "ci_low");
  let high = pick(x, "lift_ci95.high", "lift_high", "ci_high");
  if (Array.isArray(ci)) [low, high] = ci;
  return {
    impressions: pick(x, "impressions"),
    accepts: pick(x, "accepts"),
    declines: pick(x, "declines"),
    exposedVisitors,
    controlVisitors,
    exposedConv,
    controlConv,
    exposedRate: rate(pick(x, "exposed.conversion_rate", "exposed_rate", "conversion_rate.exposed"), exposedConv, exposedVisitors),
    controlRate: rate(pick(x, "control.conversion_rate", "control_rate", "conversion_rate.control"), controlConv, controlVisitors),
    exposedValue: pick(x, "exposed.value", "exposed_value"),
    controlValue: pick(x, "control.value", "control_value"),
    lift: pick(x, "lift.estimate", "lift"),
    low: typeof low === "number" ? low : undefined,
    high: typeof high === "number" ? high : undefined,
  };
}

const dash = "—";
const n = (v) => (typeof v === "number" ? v.toLocaleString() : dash);
const pct = (v, digits = 1) => (typeof v === "number" && Number.isFinite(v) ? `${(v * 100).toFixed(digits)}%` : dash);
const signed = (v) => (typeof v === "number" && Number.isFinite(v) ? `${v > 0 ? "+" : v < 0 ? "−" : ""}${Math.abs(v * 100).toFixed(1)}%` : dash);

function isoDate(d) {
  return d.toISOString().slice(0, 10);
}

let last = null;

export function renderReport(root, ctx) {
  const today = new Date();
  const monthAgo = new Date(today.getTime() - 30 * 86400000);
  const q = last?.query || { from: isoDate(monthAgo), to: isoDate(today), goal: "" };
  const from = h("input", { type: "date", id: "report-from", name: "from", value: q.from, dataset: { testid: "report-from" } });
  const to = h("input", { type: "date", id: "report-to", name: "to", value: q.to, dataset: { testid: "report-to" } });
  const goal = h("input", { type: "text", id: "report-goal", name: "goal", value: q.goal, placeholder: "any goal", dataset: { testid: "report-goal" } });
  const out = h("div", { class: "report-out", "aria-live": "polite", dataset: { testid: "report-result" } });
  const load = h("button", { type: "submit", class: "btn primary", dataset: { testid: "report-load" } }, "Show report");
  const form = h("form", { class: "toolbar report-form" },
    h("div", { class: "field" }, h("label", { for: "report-from" }, "From"), from),
    h("div", { class: "field" }, h("label", { for: "report-to" }, "To (inclusive)"), to),
    h("div", { class: "field" }, h("label", { for: "report-goal" }, "Goal"), goal),
    load);
  const run = async () => {
    const query = { from: from.value, to: to.value, goal: goal.value.trim() };
    load.disabled = true;
    fill(out, h("p", { class: "muted" }, "Loading…"));
    try {
      const data = await api.report(query);
      last = { query, data };
      draw(out, data, ctx);
    } catch (e) {
      fill(out, h("p", { class: "msg error", role: "alert" }, e.message));
    } finally {
      load.disabled = false;
    }
  };
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    run();
  });
  fill(root, 
    h("div", { class: "page-head" }, h("div", {},
      h("h1", {}, "Report"),
      h("p", { class: "muted" }, "Visitors shown an engagement (exposed) against visitors held out in the control group: their conversion rates and the lift, with its 95% confidence interval."))),
    form, out);
  if (last) draw(out, last.data, ctx);
  else run();
}

function draw(root, data, ctx) {
  const campaigns = Array.isArray(data?.campaigns) ? data.campaigns : Array.isArray(data) ? data : [];
  const currency = data?.currency || ctx.doc?.settings?.currency || "USD";
  const money = (v) => (typeof v === "number" ? v.toLocaleString(undefined, { style: "currency", currency, maximumFractionDigits: 2 }) : dash);
  const sections = outboundSections(data);
  if (!campaigns.length) {
    fill(root, h("div", { class: "empty-state small" },
      h("h2", {}, "No data yet"),
      h("p", {}, "Once the tag shows engagements and visitors convert (engage(\"goal\", …)), numbers appear here.")),
    sections);
    return;
  }
  const totals = campaigns.reduce((t, c) => {
    const m = metrics(c);
    t.impressions += m.impressions || 0;
    t.accepts += m.accepts || 0;
    t.declines += m.declines || 0;
    return t;
  }, { impressions: 0, accepts: 0, declines: 0 });
  fill(root, 
    h("p", { class: "muted small" },
      data.from ? `${new Date(data.from).toLocaleDateString()} – ${new Date(data.to).toLocaleDateString()}` : "",
      data.attribution_days ? ` · conversions within ${data.attribution_days} days of first exposure` : "",
      data.goal ? ` · goal “${data.goal}”` : " · any goal",
      data.version ? ` · version ${data.version}` : ""),
    h("div", { class: "stats" },
      stat("Impressions", n(totals.impressions)),
      stat("Accepts", n(totals.accepts)),
      stat("Declines", n(totals.declines)),
      stat("Accept rate", totals.impressions ? pct(totals.accepts / totals.impressions) : dash)),
    campaigns.map((c) => campaignBlock(c, money)),
    data.ci_method ? h("p", { class: "muted small" }, `Interval: ${data.ci_method}. Lift = exposed rate ÷ control rate − 1.`) : null,
    sections);
}

/** SPEC §11: conversations started by source, SMS campaigns, outbound engagements. */
function outboundSections(data) {
  const conv = data?.conversations;
  const sms = Array.isArray(data?.sms_campaigns) ? data.sms_campaigns : [];
  const outbound = Array.isArray(data?.outbound) ? data.outbound : [];
  if (!conv && !sms.length && !outbound.length) return null;
  const by = conv?.by_source || {};
  const figures = ["recipients", "sent", "delivered", "failed", "opted_out", "replies", "conversations_started"];
  const figureHeads = ["Recipients", "Sent", "Delivered", "Failed", "Opted out", "Replies", "Conversations"];
  const cells = (x) => figures.map((k) => h("td", { class: "num", dataset: { figure: k } }, n(x[k])));
  const table = (testid, caption, heads, rows) => h("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": `${caption}: figures` },
    h("table", { class: "data report", dataset: { testid } },
      h("caption", { class: "visually-hidden" }, caption),
      h("thead", {}, h("tr", {}, [...heads, ...figureHeads].map((t, i) => h("th", { scope: "col", class: i >= heads.length ? "num" : null }, t)))),
      h("tbody", {}, rows)));
  return [
    conv ? h("section", { class: "panel report-section", "aria-labelledby": "rep-conversations", dataset: { testid: "report-conversations" } },
      h("h2", { id: "rep-conversations" }, "Conversations started"),
      h("p", { class: "muted small" }, "Web: a chat engagement accepted on the site. Offsite link: accepted after arriving by an offsite link. SMS: a reply to an SMS campaign or broadcast. ",
        h("a", { href: "#/conversations" }, "See the conversations")),
      h("div", { class: "stats source-stats" },
        stat("All sources", n(conv.started)),
        stat("Web", n(by.web)),
        stat("Offsite link", n(by.offsite)),
        stat("SMS", n(by.sms)))) : null,
    h("section", { class: "panel report-section", "aria-labelledby": "rep-sms", dataset: { testid: "report-sms-campaigns" } },
      h("h2", { id: "rep-sms" }, "SMS campaigns"),
      h("p", { class: "muted small" }, "Campaigns that started sending in this period. Conversations: replies that started a conversation."),
      sms.length
        ? table("report-sms-table", "SMS campaigns", ["Campaign", "Status", "Replies go to"], sms.map((c) => h("tr", { dataset: { testid: "report-sms-row", campaign: c.campaign } },
          h("th", { scope: "row" }, h("a", { href: reportHash(String(c.campaign)) }, c.title || c.campaign), c.title && c.title !== c.campaign ? h("small", { class: "muted" }, h("br"), c.campaign) : null),
          h("td", {}, STATUS_LABEL[c.status] || c.status || dash),
          h("td", {}, c.engagement ? h("code", {}, c.engagement) : h("span", { class: "muted" }, "by sender")),
          cells(c))))
        : h("p", { class: "muted" }, "No SMS campaign sent in this period.")),
    h("section", { class: "panel report-section", "aria-labelledby": "rep-outbound", dataset: { testid: "report-outbound" } },
      h("h2", { id: "rep-outbound" }, "Outbound engagements"),
      h("p", { class: "muted small" }, "Engagements that receive the replies to SMS broadcasts: engage's own campaigns and a provider's broadcasts (by campaign reference: reach only)."),
      outbound.length
        ? table("report-outbound-table", "Outbound engagements", ["Engagement", "Entry point"], outbound.map((o) => h("tr", { dataset: { testid: "report-outbound-row", engagement: o.engagement } },
          h("th", { scope: "row" }, h("code", {}, o.engagement), o.campaign ? h("small", { class: "muted" }, h("br"), `campaign ${o.campaign}`) : null),
          h("td", {}, o.campaign_ref ? ["campaign ", h("code", {}, o.campaign_ref)] : o.sender ? ["from ", h("span", { class: "mono" }, o.sender)] : dash),
          cells(o))))
        : h("p", { class: "muted" }, "The active document has no outbound engagement (\"source\": \"outbound\").")),
  ];
}

function stat(label, value) {
  return h("div", { class: "stat" }, h("span", { class: "muted small" }, label), h("b", {}, value));
}

function campaignBlock(c, money) {
  const id = pick(c, "campaign", "id") || "?";
  const engagements = Array.isArray(c.engagements) ? c.engagements : [];
  const started = engagements.map((e) => e.conversations_started).filter((v) => typeof v === "number");
  const rows = [
    { label: "All engagements", id, m: metrics(c), total: true, conversations: started.length ? started.reduce((a, b) => a + b, 0) : undefined },
    ...engagements.map((e) => ({ label: pick(e, "name") || pick(e, "engagement", "id"), id: pick(e, "engagement", "id"), m: metrics(e), conversations: e.conversations_started })),
  ];
  const hasControl = rows.some((r) => (r.m.controlVisitors || 0) > 0);
  const hasData = rows.some((r) => (r.m.impressions || 0) > 0 || (r.m.exposedVisitors || 0) > 0 || (r.m.controlVisitors || 0) > 0 || (r.conversations || 0) > 0);
  const group = (visitors, conv, rate) => (typeof visitors === "number" && visitors > 0
    ? [h("b", {}, pct(rate)), h("small", { class: "muted" }, ` ${n(conv)} of ${n(visitors)}`)]
    : dash);
  const table = h("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": `${pick(c, "name") || id}: figures` }, h("table", { class: "data report" },
    h("thead", {}, h("tr", {},
      ["Engagement", "Impressions", "Accepts", "Declines", "Accept rate", "Converted: exposed", "Converted: control", "Goal value", "Lift (95% CI)"]
        .map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, rows.map((r) => h("tr", { class: r.total ? "total" : "", dataset: { testid: "report-row", engagement: r.total ? "" : r.id } },
      h("th", { scope: "row" }, r.total ? r.label : [r.label, r.label !== r.id ? h("small", { class: "muted" }, h("br"), r.id) : null]),
      h("td", { class: "num" }, n(r.m.impressions)),
      h("td", { class: "num" }, n(r.m.accepts), r.conversations > 0
        ? h("small", { class: "muted", dataset: { testid: "conversations-started" } }, plural(r.conversations, "conversation")) : null),
      h("td", { class: "num" }, n(r.m.declines)),
      h("td", { class: "num" }, r.m.impressions ? pct((r.m.accepts || 0) / r.m.impressions) : dash),
      h("td", { class: "num", dataset: { testid: "exposed" } }, group(r.m.exposedVisitors, r.m.exposedConv, r.m.exposedRate)),
      h("td", { class: "num", dataset: { testid: "control" } }, group(r.m.controlVisitors, r.m.controlConv, r.m.controlRate)),
      h("td", { class: "num" }, money(r.m.exposedValue), h("small", { class: "muted" }, `${money(r.m.controlValue)} control`)),
      h("td", { class: "num", dataset: { testid: "lift" } }, liftCell(r.m)))))));
  const title = h("h2", { id: `rep-${id}` }, pick(c, "name") || id, h("span", { class: "muted small" }, ` · ${id}`));
  if (!hasData) {
    return h("details", { class: "panel report-campaign quiet", dataset: { testid: "report-campaign", campaign: id } },
      h("summary", {}, h("b", {}, pick(c, "name") || id), h("span", { class: "muted small" }, ` · ${id} · no events in this period`)),
      table);
  }
  return h("section", { class: "panel report-campaign", dataset: { testid: "report-campaign", campaign: id }, "aria-labelledby": `rep-${id}` },
    title,
    table,
    hasControl
      ? liftChart(rows)
      : h("p", { class: "muted small" }, "No control visitors in this period: set a control group percentage on the campaign to measure lift."));
}

function liftCell(m) {
  if (typeof m.lift !== "number") return dash;
  const cls = typeof m.low === "number" && m.low > 0 ? "win" : typeof m.high === "number" && m.high < 0 ? "loss" : "";
  return [h("b", { class: cls }, signed(m.lift)),
    typeof m.low === "number" && typeof m.high === "number" ? h("small", { class: "muted" }, `${signed(m.low)} to ${signed(m.high)}`) : null];
}

function niceStep(span) {
  const steps = [0.01, 0.02, 0.05, 0.1, 0.2, 0.25, 0.5, 1, 2, 5];
  return steps.find((s) => span / s <= 6) || 10;
}

function el(tag, attrs, text) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== undefined) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

/** A forest plot: one row per engagement, the lift as a point, its 95% interval as a whisker. */
function liftChart(rows) {
  const vals = rows.flatMap((r) => [r.m.lift, r.m.low, r.m.high]).filter((v) => typeof v === "number" && Number.isFinite(v));
  const CAP = 5; // +500%: anything beyond is drawn as an arrow at the edge
  let lo = Math.min(-0.1, ...vals.map((v) => Math.max(v, -1)));
  let hi = Math.max(0.1, ...vals.map((v) => Math.min(v, CAP)));
  const step = niceStep(hi - lo);
  lo = Math.floor(lo / step) * step;
  hi = Math.ceil(hi / step) * step;
  const W = 720;
  const labelW = 230;
  const rowH = 28;
  const top = 10;
  const axisH = 26;
  const H = top + rows.length * rowH + axisH;
  const x = (v) => labelW + ((Math.max(lo, Math.min(hi, v)) - lo) / (hi - lo)) * (W - labelW - 16);
  const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, class: "lift-chart", role: "img", "aria-labelledby": "" });
  const title = el("title", {}, "Lift of each engagement over the control group, with 95% confidence intervals");
  svg.append(title);
  svg.setAttribute("data-testid", "lift-chart");
  // grid and ticks
  for (let t = lo; t <= hi + 1e-9; t += step) {
    const tx = x(t);
    svg.append(el("line", { x1: tx, x2: tx, y1: top - 4, y2: top + rows.length * rowH, class: "grid" }));
    svg.append(el("text", { x: tx, y: H - 8, "text-anchor": "middle", class: "tick" }, signed(Math.round(t * 1000) / 1000)));
  }
  // zero line
  svg.append(el("line", { x1: x(0), x2: x(0), y1: top - 6, y2: top + rows.length * rowH + 4, class: "zero", "data-testid": "zero-line" }));
  rows.forEach((r, i) => {
    const cy = top + i * rowH + rowH / 2;
    const g = el("g", { "data-testid": "lift-row", "data-engagement": r.total ? "" : r.id });
    g.append(el("text", { x: labelW - 10, y: cy + 4, "text-anchor": "end", class: r.total ? "label total" : "label" }, truncate(r.label, 26)));
    const { lift, low, high } = r.m;
    if (typeof lift !== "number") {
      g.append(el("text", { x: x(0) + 8, y: cy + 4, class: "na" }, "not enough data"));
    } else {
      const cls = typeof low === "number" && low > 0 ? "win" : typeof high === "number" && high < 0 ? "loss" : "flat";
      if (typeof low === "number" && typeof high === "number") {
        g.append(el("line", { x1: x(low), x2: x(high), y1: cy, y2: cy, class: `ci ${cls}`, "data-testid": "lift-ci" }));
        g.append(el("line", { x1: x(low), x2: x(low), y1: cy - 6, y2: cy + 6, class: `ci ${cls}` }));
        if (high <= hi) g.append(el("line", { x1: x(high), x2: x(high), y1: cy - 6, y2: cy + 6, class: `ci ${cls}` }));
        else g.append(el("path", { d: `M${x(hi) - 6},${cy - 5} L${x(hi)},${cy} L${x(hi) - 6},${cy + 5}`, class: `ci ${cls}` }));
      }
      const bar = el("rect", {
        x: Math.min(x(0), x(lift)), y: cy - 4, width: Math.max(1, Math.abs(x(lift) - x(0))), height: 8, class: `bar ${cls}`,
      });
      g.append(bar);
      g.append(el("circle", { cx: x(lift), cy, r: 5, class: `point ${cls}`, "data-testid": "lift-point" }));
      const tip = el("title", {}, `${r.label}: lift ${signed(lift)}` + (typeof low === "number" ? `, 95% CI ${signed(low)} to ${signed(high)}` : ""));
      g.append(tip);
    }
    svg.append(g);
  });
  svg.removeAttribute("aria-labelledby");
  svg.setAttribute("aria-label", "Lift over control with 95% confidence intervals");
  return h("figure", { class: "chart" }, svg,
    h("figcaption", { class: "muted small" }, "Point: lift of the exposed conversion rate over control. Whisker: 95% interval. Green: the interval is above zero; red: below; grey: it includes zero."));
}

function truncate(s, max) {
  s = String(s ?? "");
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}
