// engage's debug panel: `engage("debug", true)` or `?engage_debug=1`. A chunk of its own,
// loaded by ui.js's `debugPanel()` on first use; it imports nothing.

const DEBUG_ID = "engage-debug";

// The debug panel's own sheet.
const DEBUG_CSS =
  ":host{all:initial}" +
  ".d{position:fixed;left:8px;bottom:8px;z-index:2147483001;width:min(560px,calc(100vw - 16px));" +
  "max-height:45vh;overflow:auto;background:#0f172a;color:#e2e8f0;border-radius:10px;" +
  "font:12px/1.4 ui-monospace,Menlo,Consolas,monospace;box-shadow:0 8px 30px rgba(0,0,0,.35)}" +
  ".h{position:sticky;top:0;display:flex;justify-content:space-between;align-items:center;" +
  "gap:8px;padding:6px 10px;background:#1e293b;font-weight:700}" +
  ".h button{border:0;background:transparent;color:inherit;font:16px/1 inherit;cursor:pointer}" +
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

/** `engage("debug", true)` or `?engage_debug=1`: every engagement of the bundle, shown or the
 * first rule that rejected it with the engine's detail. */
export class DebugPanel {
  /** `onClose()` when the visitor closes the panel; `el`, `adopt` and the close glyph `X` are
   * ui.js's (passed in, so this chunk imports nothing and the main bundle shares nothing). */
  constructor(onClose, el, adopt, X) {
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
    bar.append(this.head, close);
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
