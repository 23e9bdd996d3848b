// Live preview of an engagement's creative in each state (online, busy, offline — or content),
// placed on a miniature page the way its format appears. Built with DOM APIs only; the message
// goes through the safe subset renderer.

import { h, fill } from "./dom.js";
import { renderMessage } from "./richtext.js";
import { FORMAT_LABEL, STYLE_FIELDS, creativeSet, isProactive, zoneKey } from "./model.js";

const STATE_LABEL = { online: "Online", busy: "Busy", offline: "Offline", content: "Content" };

/** Which creative a state shows, following SPEC §3's fallbacks; null when nothing shows. */
export function creativeFor(set, state, e) {
  if (state === "content") return set.content || null;
  if (e.channel === "messaging") return set[state] || set.online || null;
  if (state === "online") return set.online || null;
  if (state === "busy") return set.busy || set.offline || null;
  return set.offline || null;
}

function safeCss(v) {
  if (typeof v !== "string") return null;
  const lower = v.toLowerCase();
  return ["url(", "expression(", ";", "{", "}", "<", "\\", "@import"].some((f) => lower.includes(f)) ? null : v;
}

function applyStyle(el, ...styles) {
  const merged = {};
  for (const s of styles) if (s && typeof s === "object") for (const k of STYLE_FIELDS) if (s[k]) merged[k] = s[k];
  const set = (prop, v) => { const ok = safeCss(v); if (ok) el.style.setProperty(prop, ok); };
  set("--pv-bg", merged.background);
  set("--pv-fg", merged.color);
  set("--pv-accent", merged.accent);
  set("--pv-radius", merged.radius);
  set("--pv-width", merged.width);
}

function creativeEl(e, set, cr, state) {
  const format = e.format || "sticky";
  const sender = e.sender?.name;
  const el = h("div", {
    class: `pv-creative pv-${format}`,
    dataset: { testid: "preview-creative", state, format },
  },
  h("span", { class: "pv-close", "aria-hidden": "true" }, "×"),
  sender && format !== "button" ? h("div", { class: "pv-sender" }, h("span", { class: "pv-avatar", "aria-hidden": "true" }, sender.trim()[0]?.toUpperCase() || "?"), sender) : null,
  cr.title ? h("strong", { class: "pv-title" }, cr.title) : null,
  cr.message && format !== "button" ? h("div", { class: "pv-message", dataset: { testid: "preview-message" } }, renderMessage(cr.message)) : null,
  h("span", { class: "pv-cta" }, cr.cta || (state === "content" ? "Open" : "Chat")));
  applyStyle(el, e.style, set.style, cr.style);
  return el;
}

function stage(e, set, state) {
  const format = e.format || "sticky";
  const zone = zoneKey(e) || "";
  const cr = creativeFor(set, state, e);
  const page = h("div", { class: `pv-page pv-zone-${zone.startsWith("embedded:") ? "embedded" : zone}` },
    h("div", { class: "pv-bar" }, h("i"), h("i"), h("i")),
    h("div", { class: "pv-lines" }, h("b"), h("b"), h("b", { class: "short" })));
  if (!cr) {
    const why = state === "busy"
      ? "Not shown while busy: add a busy or an offline creative."
      : `Not shown while ${state}: add ${state === "online" ? "an online" : `an ${state}`} creative.`;
    page.append(h("p", { class: "pv-none", dataset: { testid: "preview-none" } }, why));
    return page;
  }
  const creative = creativeEl(e, set, cr, state);
  if (format === "button" || format === "banner") {
    const slot = h("div", { class: `pv-slot pv-slot-${format}` }, h("span", { class: "pv-slot-label" }, `#${e.zone?.embedded || "element-id"}`), creative);
    page.append(slot);
  } else {
    if (format === "overlay") page.append(h("div", { class: "pv-backdrop" }));
    if (format === "peeling_corner") page.append(h("div", { class: "pv-peel", "aria-hidden": "true" }));
    if (format === "sticky") {
      // As on the page: a tab on its edge (close, title, call to action) with its card opened.
      const tab = h("div", { class: "pv-tab", dataset: { testid: "preview-tab" } },
        h("span", { "aria-hidden": "true" }, "×"),
        cr.title ? h("span", { class: "pv-tab-title" }, cr.title) : null,
        h("span", { class: "pv-tab-cta" }, cr.cta || "Chat"));
      applyStyle(tab, e.style, set.style, cr.style);
      page.append(tab);
    }
    page.append(creative);
  }
  return page;
}

/** Renders the preview of engagement `e` (of `doc`) into `root`. */
export function renderPreview(root, doc, e) {
  if (!e) {
    fill(root, h("p", { class: "muted" }, "Add an engagement to see its preview."));
    return;
  }
  if (e.source === "offsite") {
    fill(root, h("p", { class: "muted" }, "Offsite engagements are links and QR codes, not page elements: the link opens the landing page with the conversation (online creative) when eligible, the survey otherwise."));
    return;
  }
  const set = creativeSet(doc, e);
  const states = e.kind === "content" ? ["content"] : ["online", "busy", "offline"];
  const note = e.kind === "content"
    ? "Content engagements show one creative."
    : e.channel === "messaging"
      ? "Messaging is asynchronous: it shows whatever the agents' state."
      : isProactive(e.format)
        ? "Proactive: shown once per page, in the state agents are in at that moment."
        : "A missing busy creative falls back to offline; no offline creative means not shown.";
  fill(root, 
    h("p", { class: "muted small" }, `${FORMAT_LABEL[e.format] || "?"}${zoneKey(e) ? ` · zone ${zoneKey(e)}` : ""} · ${note}`),
    ...states.map((s) => h("figure", { class: "pv-state", dataset: { testid: `preview-${s}`, state: s } },
      h("figcaption", {}, h("span", { class: `dot ${s}`, "aria-hidden": "true" }), STATE_LABEL[s]),
      stage(e, set, s))));
}
