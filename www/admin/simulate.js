// Simulate a visit: a visitor, a start time, agent availability and a list of steps (page views,
// waits, scrolls, declines…) run through the engine on the server; the answer says, after each
// step, what is on the page and — for every engagement — why it did or didn't show.

import { h, uid, fill } from "./dom.js";
import * as api from "./api.js";
import { REASONS, engagementIds, splitMatcher, resolveRef } from "./model.js";

const STEP_TYPES = [
  { id: "page", label: "Page view" },
  { id: "wait", label: "Wait (seconds)" },
  { id: "scroll", label: "Scroll to (%)" },
  { id: "exit_intent", label: "Exit intent" },
  { id: "activity", label: "Activity (mouse/keys)" },
  { id: "decline", label: "Decline (close)" },
  { id: "accept", label: "Accept" },
  { id: "attributes", label: "Push attributes (JSON)" },
  { id: "goal", label: "Goal" },
  { id: "availability", label: "Availability change (JSON)" },
  { id: "elements", label: "Zone elements on the page" },
];

// Kept while the console is open, so going back to the panel finds the last script.
let saved = null;

function defaultUrl(ctx, campaignId) {
  const c = (ctx.doc?.campaigns || []).find((x) => x.id === campaignId);
  for (const e of c?.engagements || []) {
    const ep = resolveRef(ctx.doc, "entry_points", e.entry_point).item;
    const first = ep?.include?.[0];
    if (!first) continue;
    const { field, value } = splitMatcher(first);
    if (field !== "url" || !value) continue;
    const clean = value.replace(/\{[^}]*\}\??/g, "").replace(/\*.*$/, "");
    if (/^https?:\/\//.test(clean)) return clean;
    if (clean.startsWith("/")) return location.origin + clean;
    return `${location.origin}/demo/${clean.replace(/^\W+/, "")}`;
  }
  return `${location.origin}/demo/index.html`;
}

function nowIso() {
  return new Date().toISOString().replace(/\.\d+Z$/, "Z");
}

/** The debug panel's "Replay in the simulator" (`#/simulate?site=…&visit=<script JSON>`): the
 * form filled with that visit, exactly (a page's section, referrer and zone elements ride along
 * with its URL and title). Answers null when the parameter is not a script. */
function fromScript(text) {
  let sc;
  try {
    sc = JSON.parse(text);
  } catch (_) {
    return null;
  }
  if (!sc || typeof sc !== "object" || !sc.visitor || !Array.isArray(sc.steps)) return null;
  const v = sc.visitor;
  const steps = sc.steps.map((st) => {
    const [type, x] = Object.entries(st)[0] || [];
    switch (type) {
      case "page": {
        const { url, title, ...extra } = x || {};
        return { type, a: url || "", b: title || "", extra };
      }
      case "wait": case "scroll": return { type, a: String(x), b: "" };
      case "accept": case "decline": return { type, a: String(x), b: "" };
      case "attributes": case "availability": return { type, a: JSON.stringify(x), b: "" };
      case "goal": return { type, a: x?.name || "", b: x?.value == null ? "" : String(x.value) };
      case "elements": return { type, a: (x || []).join(", "), b: "" };
      case "exit_intent": case "activity": return { type, a: "", b: "" };
      default: return null;
    }
  }).filter(Boolean);
  return {
    visitor: {
      id: v.id || "console-visitor", device: v.device || "desktop", language: v.language || "", country: v.country || "",
      returning: Boolean(v.returning), visits: v.visits, attributes: JSON.stringify(v.attributes || {}),
    },
    now: sc.now || nowIso(),
    live: !sc.availability,
    availability: JSON.stringify(sc.availability || {}, null, 2),
    steps,
    only: "",
    replayed: true,
  };
}

export function renderSimulate(root, ctx, params) {
  const campaignFilter = params.get("campaign") || "";
  const replay = params.get("visit") ? fromScript(params.get("visit")) : null;
  if (replay) {
    saved = replay;
    // Read once: a later visit to this view keeps the visitor's edits instead of the link's.
    history.replaceState(null, "", `${location.pathname}${location.search}#/simulate`);
  }
  else if (!saved || campaignFilter) {
    saved = {
      visitor: { id: "console-visitor", device: "desktop", language: "en-GB", country: "GB", returning: false, attributes: "{}" },
      now: nowIso(),
      live: true,
      availability: JSON.stringify(Object.fromEntries((ctx.doc?.skills || [{ id: "sales" }]).map((s) => [s.id, { agents_online: 2, agents_with_capacity: 1, expected_wait_seconds: 30 }])), null, 2),
      steps: [
        { type: "page", a: defaultUrl(ctx, campaignFilter), b: "" },
        { type: "wait", a: "5", b: "" },
      ],
      only: campaignFilter,
    };
  }
  const s = saved;
  const ids = engagementIds(ctx.doc).map((x) => x.id);
  const result = h("div", { class: "sim-result", dataset: { testid: "simulate-result" }, "aria-live": "polite" });

  const f = (label, control, help) => {
    const id = control.id || (control.id = uid("s"));
    return h("div", { class: "field" }, h("label", { for: id }, label), control, help ? h("p", { class: "help" }, help) : null);
  };
  const bind = (el, get, set) => {
    el.addEventListener(el.tagName === "SELECT" || el.type === "checkbox" ? "change" : "input", () => set(get(el)));
    return el;
  };

  const visitor = h("fieldset", { class: "group" }, h("legend", {}, "Visitor"),
    h("div", { class: "grid-3" },
      f("Visitor id", bind(h("input", { name: "visitor.id", value: s.visitor.id, class: "mono" }), (e) => e.value, (v) => { s.visitor.id = v; }),
        "The control group is decided from this id."),
      f("Device", bind(h("select", { name: "visitor.device", value: s.visitor.device }, ["desktop", "tablet", "mobile"].map((d) => h("option", { value: d }, d))), (e) => e.value, (v) => { s.visitor.device = v; })),
      f("Language", bind(h("input", { name: "visitor.language", value: s.visitor.language, class: "mono" }), (e) => e.value, (v) => { s.visitor.language = v; })),
      f("Country", bind(h("input", { name: "visitor.country", value: s.visitor.country, class: "mono", maxlength: 2 }), (e) => e.value, (v) => { s.visitor.country = v; })),
      h("div", { class: "field check" },
        bind(h("input", { type: "checkbox", id: "sim-returning", name: "visitor.returning", checked: s.visitor.returning }), (e) => e.checked, (v) => { s.visitor.returning = v; }),
        h("label", { for: "sim-returning" }, "Returning visitor"))),
    f("Attributes (JSON)", bind(h("textarea", { name: "visitor.attributes", rows: 3, class: "mono", spellcheck: "false", value: s.visitor.attributes, dataset: { testid: "simulate-attributes" } }), (e) => e.value, (v) => { s.visitor.attributes = v; }),
      "What the site pushes, e.g. {\"cart\": {\"total\": 80}, \"authenticated\": true}."));

  const availText = bind(h("textarea", { name: "availability", rows: 5, class: "mono", spellcheck: "false", value: s.availability, hidden: s.live }), (e) => e.value, (v) => { s.availability = v; });
  const liveBox = bind(h("input", { type: "checkbox", id: "sim-live", checked: s.live }), (e) => e.checked, (v) => { s.live = v; availText.hidden = v; });
  const when = h("fieldset", { class: "group" }, h("legend", {}, "Time and agents"),
    h("div", { class: "grid-2" },
      f("Start (RFC 3339)", bind(h("input", { name: "now", value: s.now, class: "mono" }), (e) => e.value, (v) => { s.now = v; }),
        "Timeframes and business hours are checked at this instant."),
      h("div", {},
        h("div", { class: "field check" }, liveBox, h("label", { for: "sim-live" }, "Use live agent availability")),
        f("Availability per skill (JSON)", availText))));

  const stepsList = h("ol", { class: "steps", dataset: { testid: "simulate-steps" } });
  const drawSteps = () => fill(stepsList, ...s.steps.map((st, i) => stepRow(st, i)));
  const stepRow = (st, i) => {
    const typeId = uid("t");
    const type = h("select", { id: typeId, value: st.type, dataset: { testid: "step-type" } }, STEP_TYPES.map((t) => h("option", { value: t.id }, t.label)));
    type.addEventListener("change", () => {
      st.type = type.value;
      st.a = st.type === "wait" ? "5" : st.type === "scroll" ? "50" : st.type === "page" ? defaultUrl(ctx, "") : "";
      st.b = "";
      drawSteps();
      stepsList.children[i]?.querySelector("select")?.focus();
    });
    const inputs = [];
    const a = (label, props) => {
      const id = uid("v");
      const el = props.tag === "select"
        ? h("select", { id, value: st.a, dataset: { testid: "step-value" } }, props.options.map((o) => h("option", { value: o }, o || "Choose…")))
        : h(props.tag || "input", { id, value: st.a, class: props.cls || "mono", type: props.type, min: props.min, max: props.max, placeholder: props.placeholder, rows: props.rows, dataset: { testid: "step-value" } });
      bind(el, (e) => e.value, (v) => { st.a = v; });
      inputs.push(h("label", { for: id, class: "visually-hidden" }, label), el);
    };
    const b = (label, props) => {
      const id = uid("v");
      const el = h("input", { id, value: st.b, class: "mono", type: props.type, placeholder: props.placeholder });
      bind(el, (e) => e.value, (v) => { st.b = v; });
      inputs.push(h("label", { for: id, class: "visually-hidden" }, label), el);
    };
    switch (st.type) {
      case "page": {
        a("URL", { placeholder: "https://acme.example/shop/a", type: "url" });
        b("Title (optional)", { placeholder: "Page title" });
        // A replayed page's other facts, kept as they were.
        const x = st.extra || {};
        const facts = [x.section && `section ${x.section}`, x.referrer && `from ${x.referrer}`,
          x.elements && `zone elements: ${x.elements.length ? x.elements.join(", ") : "none"}`].filter(Boolean);
        if (facts.length) inputs.push(h("span", { class: "muted small step-extra", dataset: { testid: "step-extra" } }, facts.join(" · ")));
        break;
      }
      case "wait": a("Seconds", { type: "number", min: 0, max: 604800 }); break;
      case "scroll": a("Percent", { type: "number", min: 0, max: 100 }); break;
      case "decline": case "accept": a("Engagement", { tag: "select", options: ["", ...ids] }); break;
      case "attributes": case "availability": a("JSON", { tag: "textarea", rows: 2, placeholder: st.type === "attributes" ? '{"cart": {"total": 0}}' : '{"sales": {"agents_online": 0}}' }); break;
      case "goal": a("Goal name", { placeholder: "purchase" }); b("Value (optional)", { type: "number", placeholder: "99" }); break;
      case "elements": a("Element ids, comma separated", { placeholder: "help-button-slot, promo-banner-slot" }); break;
      default: break;
    }
    const remove = h("button", { type: "button", class: "icon-btn", "aria-label": `Remove step ${i + 1}` }, "×");
    remove.addEventListener("click", () => {
      s.steps.splice(i, 1);
      drawSteps();
      (stepsList.children[i] || stepsList.children[i - 1])?.querySelector("select")?.focus();
    });
    return h("li", { class: "step-row", dataset: { testid: "simulate-step" } },
      h("label", { for: typeId, class: "visually-hidden" }, `Step ${i + 1}`), type, ...inputs, remove);
  };
  drawSteps();
  const addStep = (type, a = "", b = "") => {
    s.steps.push({ type, a, b });
    drawSteps();
    stepsList.lastElementChild?.querySelector("select")?.focus();
  };
  const steps = h("fieldset", { class: "group" }, h("legend", {}, "Steps"), stepsList,
    h("div", { class: "actions" },
      h("button", { type: "button", class: "btn small", dataset: { testid: "add-step" }, onclick: () => addStep("wait", "5") }, "+ Add step"),
      h("button", { type: "button", class: "btn small ghost", onclick: () => addStep("page", defaultUrl(ctx, "")) }, "+ Page view"),
      h("button", { type: "button", class: "btn small ghost", onclick: () => addStep("scroll", "75") }, "+ Scroll"),
      h("button", { type: "button", class: "btn small ghost", onclick: () => addStep("exit_intent") }, "+ Exit intent"),
      h("button", { type: "button", class: "btn small ghost", onclick: () => addStep("decline", ids[0] || "") }, "+ Decline")));

  const onlyId = uid("o");
  const only = h("select", { id: onlyId, value: s.only, dataset: { testid: "simulate-only" } },
    h("option", { value: "" }, "All campaigns"), (ctx.doc?.campaigns || []).map((c) => h("option", { value: c.id }, c.name || c.id)));
  only.addEventListener("change", () => { s.only = only.value; if (lastResult) drawResult(result, lastResult.script, lastResult.res, s.only); });

  const run = h("button", { type: "submit", class: "btn primary", dataset: { testid: "simulate-run" } }, "Run simulation");
  const form = h("form", { class: "sim-form", dataset: { testid: "simulate-form" }, novalidate: true },
    visitor, when, steps,
    h("div", { class: "save-bar" }, run,
      h("label", { for: onlyId, class: "inline-label" }, "Show"), only));
  let lastResult = null;
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    let script;
    try {
      script = buildScript(s);
    } catch (e) {
      fill(result, h("p", { class: "msg error", role: "alert" }, e.message));
      return;
    }
    run.disabled = true;
    fill(result, h("p", { class: "muted" }, "Running…"));
    try {
      const res = await api.simulate(script);
      lastResult = { script, res };
      drawResult(result, script, res, s.only);
    } catch (e) {
      fill(result, h("div", { class: "msg error", role: "alert" },
        h("p", {}, e.message),
        e.details.length ? h("ul", {}, e.details.map((d) => h("li", {}, h("code", {}, d.path || "request"), ` ${d.message}`))) : null));
    } finally {
      run.disabled = false;
    }
  });

  const from = params.get("site");
  const note = replay
    ? h("p", { class: `msg ${from && from !== api.session.site ? "warn" : "info"}`, role: "status", dataset: { testid: "replay-note" } },
      from && from !== api.session.site
        ? `This visit was recorded on site “${from}”, but the console is signed in to “${api.session.site}”: switch site to replay it against its own campaigns.`
        : `A visit recorded by the debug panel: ${replay.steps.length} steps, replayed against the active version.`)
    : null;
  fill(root, 
    h("div", { class: "page-head" }, h("div", {},
      h("h1", {}, "Simulate a visit"),
      h("p", { class: "muted" }, "Run the decision engine on a scripted visit against the active version: what shows after each step, and why everything else doesn't."))),
    note,
    h("div", { class: "sim-layout" }, form, result));
  if (replay && (!from || from === api.session.site)) form.requestSubmit();
}

function parseJson(text, what) {
  const t = (text || "").trim();
  if (!t) return {};
  try {
    const v = JSON.parse(t);
    if (!v || typeof v !== "object" || Array.isArray(v)) throw new Error("expected an object");
    return v;
  } catch (e) {
    throw new Error(`${what} is not a JSON object: ${e.message}`);
  }
}

function buildScript(s) {
  const visitor = {
    id: s.visitor.id || "console-visitor",
    device: s.visitor.device,
    attributes: parseJson(s.visitor.attributes, "Visitor attributes"),
    returning: Boolean(s.visitor.returning),
  };
  if (s.visitor.returning && s.visitor.visits > 0) visitor.visits = s.visitor.visits;
  if (s.visitor.language) visitor.language = s.visitor.language;
  if (s.visitor.country) visitor.country = s.visitor.country.toUpperCase();
  const script = { visitor, now: s.now || nowIso(), steps: [] };
  if (!s.live) script.availability = parseJson(s.availability, "Availability");
  s.steps.forEach((st, i) => {
    const n = `Step ${i + 1}`;
    const num = (v) => {
      const x = Number(v);
      if (v === "" || !Number.isFinite(x) || x < 0) throw new Error(`${n}: give a number.`);
      return Math.round(x);
    };
    switch (st.type) {
      case "page": {
        if (!st.a) throw new Error(`${n}: give the page URL.`);
        const page = { ...(st.extra || {}), url: st.a };
        if (st.b) page.title = st.b;
        script.steps.push({ page });
        break;
      }
      case "wait": script.steps.push({ wait: num(st.a) }); break;
      case "scroll": script.steps.push({ scroll: Math.min(100, num(st.a)) }); break;
      case "exit_intent": script.steps.push({ exit_intent: true }); break;
      case "activity": script.steps.push({ activity: true }); break;
      case "decline": case "accept":
        if (!st.a) throw new Error(`${n}: choose the engagement.`);
        script.steps.push({ [st.type]: st.a });
        break;
      case "attributes": script.steps.push({ attributes: parseJson(st.a, `${n}'s attributes`) }); break;
      case "availability": script.steps.push({ availability: parseJson(st.a, `${n}'s availability`) }); break;
      case "goal": {
        if (!st.a) throw new Error(`${n}: name the goal.`);
        const goal = { name: st.a };
        if (st.b !== "") goal.value = Number(st.b);
        script.steps.push({ goal });
        break;
      }
      case "elements": script.steps.push({ elements: st.a.split(",").map((x) => x.trim()).filter(Boolean) }); break;
      default: break;
    }
  });
  if (!script.steps.length) throw new Error("Add at least one step (a page view first).");
  return script;
}

function describeStep(step) {
  const [k] = Object.keys(step);
  const v = step[k];
  switch (k) {
    case "page": return `Page view: ${v.url}`;
    case "wait": return `Wait ${v} s`;
    case "scroll": return `Scroll to ${v}%`;
    case "exit_intent": return "Exit intent";
    case "activity": return "Activity";
    case "decline": return `Decline ${v}`;
    case "accept": return `Accept ${v}`;
    case "goal": return `Goal ${v.name}${v.value !== undefined ? ` (${v.value})` : ""}`;
    case "attributes": return `Attributes ${JSON.stringify(v)}`;
    case "availability": return `Availability ${JSON.stringify(v)}`;
    case "elements": return `Elements: ${v.join(", ") || "none"}`;
    default: return k;
  }
}

function drawResult(root, script, res, only) {
  const steps = Array.isArray(res?.steps) ? res.steps : [];
  if (!steps.length) {
    fill(root, h("p", { class: "muted" }, "The server answered no steps."));
    return;
  }
  const t0 = Date.parse(steps[0].at);
  const filter = (x) => !only || x.campaign === only;
  fill(root, 
    h("h2", {}, "Result", res.version ? h("span", { class: "muted small" }, ` · version ${res.version}`) : null),
    steps.map((st, i) => {
      const shown = (st.shown || []).filter(filter);
      const trace = (st.trace || []).filter(filter);
      const events = (st.events || []).filter((e) => !only || !e.campaign || e.campaign === only);
      const dt = Number.isFinite(t0) ? Math.round((Date.parse(st.at) - t0) / 1000) : null;
      return h("article", { class: "sim-step", dataset: { testid: "sim-step", step: i } },
        h("header", {},
          h("h3", {}, `${i + 1}. ${describeStep(script.steps[i] || {})}`),
          h("span", { class: "muted small" }, dt !== null ? `t = ${dt} s · ` : "", st.at || "")),
        h("div", { class: "shown" },
          h("span", { class: "label" }, "On the page:"),
          shown.length
            ? shown.map((x) => h("span", { class: `chip state-${x.state}`, dataset: { testid: "shown-engagement", engagement: x.engagement, state: x.state, zone: x.zone } },
              h("b", {}, x.engagement), ` · ${x.zone} · ${x.state}`))
            : h("span", { class: "muted" }, "nothing")),
        events.length ? h("p", { class: "small events", dataset: { testid: "sim-events" } }, h("span", { class: "label" }, "Events: "),
          events.map((e, j) => [j ? ", " : "", h("code", {}, `${e.type}${e.engagement ? ` ${e.engagement}` : e.name ? ` ${e.name}` : ""}`)])) : null,
        h("details", { open: i === steps.length - 1 },
          h("summary", {}, `Why: ${trace.filter((x) => x.result === "shown").length} shown, ${trace.filter((x) => x.result !== "shown").length} not shown`),
          traceTable(trace)));
    }));
}

function traceTable(trace) {
  if (!trace.length) return h("p", { class: "muted" }, "No engagements.");
  return h("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": "Why: every engagement" }, h("table", { class: "data trace", dataset: { testid: "trace-table" } },
    h("thead", {}, h("tr", {}, ["Campaign", "Engagement", "Result", "Reason", "Detail"].map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, trace.map((t) => h("tr", {
      class: t.result === "shown" ? "ok" : "",
      dataset: { testid: "trace-row", engagement: t.engagement, campaign: t.campaign, result: t.result, reason: t.reason || "" },
    },
    h("td", {}, h("code", {}, t.campaign)),
    h("td", {}, h("code", {}, t.engagement)),
    h("td", {}, h("span", { class: `result ${t.result}` }, t.result === "shown" ? `shown${t.state ? ` (${t.state})` : ""}` : t.result)),
    h("td", {}, t.reason ? h("span", { title: REASONS[t.reason] || "" }, t.reason.replace(/_/g, " ")) : ""),
    h("td", {}, t.detail || (t.reason ? REASONS[t.reason] || "" : t.zone ? `zone ${t.zone}` : "")))))));
}

export { buildScript };
