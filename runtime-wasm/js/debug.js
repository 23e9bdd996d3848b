// engage's debug panel: `engage("debug", true)` or `?engage_debug=1`. A chunk of its own,
// loaded by ui.js's `debugPanel()` on first use; it imports nothing.

const DEBUG_ID = "engage-debug";
const INFO = 5; // the engine's INFO operation (host.js, runtime-wasm/src/api.rs)

// The debug panel's own sheet.
const DEBUG_CSS =
  ":host{all:initial}" +
  ".d{position:fixed;left:8px;bottom:8px;z-index:2147483001;width:min(560px,calc(100vw - 16px));" +
  "max-height:45vh;overflow:auto;background:#0f172a;color:#e2e8f0;border-radius:10px;" +
  "font:12px/1.4 ui-monospace,Menlo,Consolas,monospace;box-shadow:0 8px 30px rgba(0,0,0,.35)}" +
  ".h{position:sticky;top:0;display:flex;justify-content:space-between;align-items:center;" +
  "gap:8px;padding:6px 10px;background:#1e293b;font-weight:700}" +
  ".h button{border:0;background:transparent;color:inherit;font:16px/1 inherit;cursor:pointer}" +
  ".rp{margin-left:auto;color:#93c5fd;font-weight:400;white-space:nowrap}" +
  "table{border-collapse:collapse;width:100%}td{padding:3px 10px;border-top:1px solid #1e293b;" +
  "vertical-align:top}.ok{color:#4ade80}.no{color:#f87171}.r{color:#fbbf24}" +
  // A phone: a third of the screen, smaller type, one column per row's cells.
  "@media (max-width:600px){.d{max-height:34vh;font-size:11px}td{display:block;padding:1px 8px}" +
  "tr td:first-child{padding-top:5px;font-weight:700}}";

/** How far `ms` (epoch) is from now, in the unit a person would use. */
function ago(ms) {
  const s = (ms - Date.now()) / 1e3, a = Math.abs(s);
  const r = a < 90 ? Math.round(a) + " s" : a < 5400 ? Math.round(a / 60) + " min" :
    a < 172800 ? Math.round(a / 3600) + " h" : Math.round(a / 86400) + " days";
  return s >= 0 ? "in " + r : r + " ago";
}

/** The engine's instants ("… at 1764770400000 ms") as the visitor's local time and how far
 * away they are ("at 14:00:00, 3 Dec (in 4 min)"). */
const local = (text) =>
  text.replace(/(\d{11,}) ms\b/g, (_, ms) => {
    const d = new Date(+ms);
    return d.toLocaleTimeString() + ", " + d.toLocaleDateString(undefined, { day: "numeric", month: "short" }) + " (" + ago(+ms) + ")";
  });

/** The visit as a simulator script (`engine/src/script.rs`, the console's Simulate view) from
 * the runtime's journal `m.j` (`{v: visit, s: [[epoch ms, engine input], …]}`, kept while debug
 * mode is on): the same pages with their titles, referrers and zone elements, the same waits
 * (to the second), attributes, availability, scrolls, exits, activity, accepts and declines.
 * Answers null while nothing is recorded. */
/** The server's availability feed (`{skills: {id: {agents_online, …, state}}}`) as a script's
 * (`{id: {agents_online, agents_with_capacity, expected_wait_seconds}}`). */
function feed(f) {
  const out = {}, n = (x) => (Number.isFinite(x) && x > 0 ? Math.floor(x) : 0);
  // The server's feed, or a bare map of skills (as the runtime's `availability` option takes).
  const skills = f && typeof f == "object" ? (f.skills && typeof f.skills == "object" ? f.skills : f) : {};
  for (const [k, s] of Object.entries(skills)) {
    if (!s || typeof s != "object") continue;
    out[k] = { agents_online: n(s.agents_online), agents_with_capacity: n(s.agents_with_capacity), expected_wait_seconds: n(s.expected_wait_seconds) };
  }
  return out;
}

/** `b` merged into `a` as the engine merges attributes: objects deeply, `null` removes. */
function merge(a, b) {
  for (const [k, v] of Object.entries(b || {})) {
    if (v === null) delete a[k];
    else if (v && typeof v == "object" && !Array.isArray(v) && a[k] && typeof a[k] == "object" && !Array.isArray(a[k])) merge(a[k], v);
    else a[k] = v;
  }
  return a;
}

export function script(m) {
  const list = (m.j && m.j.v == m.info.visit && m.j.s) || [];
  const visitor = { id: m.vid, device: m.device || "desktop", attributes: {} };
  if (navigator.language) visitor.language = navigator.language;
  if (m.info.visit > 1) {
    visitor.returning = true;
    visitor.visits = m.info.visit - 1;
  }
  const out = { visitor, now: null, steps: [] };
  let t0 = null, at = 0, paged = false;
  for (const [t, i] of list) {
    if (t0 == null) {
      t0 = t;
      out.now = new Date(t).toISOString().replace(/\.\d+Z$/, "Z");
    }
    let step = null;
    if (i.page) {
      const p = {};
      for (const k of ["url", "title", "section", "referrer", "elements"]) if (i.page[k] != null) p[k] = i.page[k];
      step = { page: p };
      paged = true;
    } else if (i.availability) {
      const a = feed(i.availability);
      if (!out.steps.length) out.availability = a;
      else step = { availability: a };
    } else if (i.attributes) {
      if (!paged) merge(visitor.attributes, i.attributes);
      else step = { attributes: i.attributes };
    } else if (i.exit) step = { exit_intent: true };
    else if (i.activity) step = { activity: true };
    else for (const k of ["accept", "decline", "goal", "scroll", "elements"]) if (i[k] != null) step = { [k]: i[k] };
    if (!step) continue;
    // Waits from the visit's start, so rounding never adds up.
    const s = Math.round((t - t0) / 1e3);
    if (s > at) out.steps.push({ wait: s - at });
    at = s;
    out.steps.push(step);
  }
  return paged ? out : null;
}

/** `engage("debug", true)` or `?engage_debug=1`: every engagement of the bundle, shown or the
 * first rule that rejected it with the engine's detail. */
export class DebugPanel {
  /** `onClose()` when the visitor closes the panel; `el`, `adopt` and the close glyph `X` are
   * ui.js's (passed in, so this chunk imports nothing and the main bundle shares nothing). */
  /** `visit`: the runtime (host.js's), whose journal and visitor the replay link is made of. */
  constructor(onClose, el, adopt, X, visit) {
    const D = document;
    this.el = el;
    const old = D.getElementById(DEBUG_ID);
    if (old) old.remove();
    this.host = el("div", "", { id: DEBUG_ID });
    const root = this.host.attachShadow({ mode: "open" });
    adopt(root, DEBUG_CSS);
    const panel = el("div", "d", { role: "region", "aria-label": "engage debug" });
    const bar = el("div", "h");
    const close = el("button", "", { type: "button", "aria-label": "Close the engage debug panel" }, X);
    close.addEventListener("click", () => onClose());
    this.head = el("span");
    this.rows = el("tbody");
    this.visit = visit;
    // This very visit in the admin console's simulator (the console asks for a key first).
    this.replay = el("a", "rp", { target: "_blank", rel: "noopener", "data-replay": "" }, "Replay in the simulator");
    bar.append(this.head, this.replay, close);
    const table = el("table");
    table.append(this.rows);
    panel.append(bar, table);
    root.append(panel);
    if (D.body) D.body.append(this.host);
  }

  /** `trace`: the engine's TraceEntry list. */
  show(heading, trace) {
    const el = this.el;
    this.head.textContent = heading;
    const rt = this.visit, m = rt && { j: rt.j, vid: rt.vid, device: rt.device, info: rt.E(INFO), server: rt.server, site: rt.site };
    const sc = m && script(m);
    this.replay.hidden = !sc;
    // The runtime keeps the last 500 inputs: a longer visit replays from the middle.
    const cut = m && m.j && m.j.s.length >= 500;
    this.replay.textContent = cut ? "Replay in the simulator (its last 500 steps only)" : "Replay in the simulator";
    this.replay.title = cut ? "This visit is longer than the debug journal keeps: the simulator starts from its 500th-last step, so its answers can differ." : "";
    if (sc) {
      const site = encodeURIComponent(m.site);
      this.replay.href = (m.server || location.origin) + "/admin/?site=" + site + "#/simulate?site=" + site +
        "&visit=" + encodeURIComponent(JSON.stringify(sc));
    }
    this.rows.textContent = "";
    for (const t of trace) {
      const tr = el("tr");
      const cell = (cls, s) => tr.append(el("td", cls, 0, s));
      cell("", t.engagement + " (" + t.campaign + ")");
      if (t.result == "shown") {
        cell("ok", "shown" + (t.zone != null ? " in " + t.zone : "") + (t.state != null ? ", " + t.state : ""));
      } else {
        cell("no", t.reason || "rejected");
        cell("r", local(t.detail || ""));
      }
      this.rows.append(tr);
    }
  }

  /** The rendered rows' text (for tests). */
  text() {
    return this.rows.textContent;
  }

  close() {
    this.host.remove();
  }
}
