// Create and edit a campaign: a form over a working copy (the draft) of the campaign's JSON.
// Every input is bound to a JSON path: its `name` is the path inside the campaign
// (`engagements[0].format`), its `data-path` the path inside the document
// (`campaigns[2].engagements[0].format`), which is how the server reports problems (422) — so
// each problem is shown at the input (or the group) with the longest matching `data-path`.
// Fields the form doesn't show are kept as they are.

import { h, uid, toast, fill } from "./dom.js";
import * as api from "./api.js";
import { getIn, setIn, deleteIn, isPrefix, clone } from "./paths.js";
import {
  FORMATS, REFRESH_SECONDS, DAYS, DAY_LABEL, OFFSITE_SOURCES, MATCH_FIELDS, MATCH_OPS, STYLE_FIELDS,
  BEHAVIOR_NUMBERS, isProactive, zoneKind, isRef, splitMatcher, emptyCampaign, emptyEngagement,
  engagementIds, stripPrivate, resolveRef,
} from "./model.js";
import initValidator, { check as checkDocument } from "./pkg/engage_admin.js";
import { renderPreview } from "./preview.js";
import { richText } from "./richtext.js";
import { dateToZoned, zonedToDate, rfc3339 } from "./sms-model.js";
import { offsiteBlock } from "./campaigns.js";

const GOALS = ["sales", "leads", "service", "purchase", "awareness", "retention"];

// The engine's own validation in the browser (admin-wasm/, built into ./pkg/): the server's
// rules, messages and paths on every keystroke. Loaded once; until it is (or if it cannot be),
// the server's check after each pause is what the editor shows.
let validator = null;
function loadValidator() {
  validator ??= initValidator().then(() => true, (e) => {
    console.warn("engage admin: the validator did not load:", e);
    return false;
  });
  return validator;
}

/** The draft document's errors as the server would report them on upload. */
function localProblems(doc) {
  try {
    return JSON.parse(checkDocument(JSON.stringify(doc), Date.now())).errors;
  } catch (e) {
    return [];
  }
}

/** Example copy per creative state, shown as placeholders (never written into the draft). */
const EXAMPLES = {
  online: { title: "Questions? Ask an expert", message: "Our team is <b>online</b> now.", cta: "Chat now" },
  busy: { title: "We're busy", message: "Expect a short wait.", cta: "Join the queue" },
  offline: { title: "We're away", message: "Leave a message and we'll email you back.", cta: "Leave a message" },
  content: { title: "Free delivery this winter", message: "On every order over <b>£50</b>.", cta: "Shop now" },
};

export function renderEditor(root, ctx, id) {
  const campaigns = ctx.doc?.campaigns || [];
  const isNew = !id;
  const index = isNew ? campaigns.length : campaigns.findIndex((c) => c.id === id);
  if (!isNew && index < 0) {
    fill(root, h("div", { class: "empty-state" },
      h("h1", {}, "Campaign not found"),
      h("p", {}, `There is no campaign “${id}” on site “${api.session.site}”.`),
      h("a", { class: "btn", href: "#/campaigns" }, "Back to campaigns")));
    return () => {};
  }
  const draft = isNew ? emptyCampaign() : normalize(clone(campaigns[index]));
  const editor = new Editor(root, ctx, { draft, index, isNew, originalId: id });
  editor.render();
  editor.refreshDerived({ server: !isNew });
  loadValidator().then((ok) => {
    editor.validatorReady = ok;
    if (ok && !editor.disposed) editor.refreshDerived({ server: false });
  });
  return () => editor.dispose();
}

/** Shorthand matchers (`{"contains": "x"}`) become `{"url": {"contains": "x"}}`: one shape to edit. */
function normalize(c) {
  const full = (m) => {
    const { field, op, value } = splitMatcher(m);
    return { [field]: { [op]: value } };
  };
  for (const e of c.engagements || []) {
    if (e.source === "web") delete e.source;
    if (e.entry_point && !isRef(e.entry_point)) {
      for (const list of ["include", "exclude"]) if (Array.isArray(e.entry_point[list])) e.entry_point[list] = e.entry_point[list].map(full);
    }
    if (e.behavior && !isRef(e.behavior)) {
      for (const k of ["visited", "referrer"]) if (e.behavior[k]) e.behavior[k] = full(e.behavior[k]);
    }
  }
  return c;
}

class Editor {
  constructor(root, ctx, { draft, index, isNew, originalId }) {
    this.root = root;
    this.ctx = ctx;
    this.doc = ctx.doc;
    this.draft = draft;
    this.index = index;
    this.isNew = isNew;
    this.originalId = originalId;
    this.clientErrors = [];
    this.serverErrors = [];
    this.jsonErrors = {};
    this.previewIndex = 0;
    this.serverSeq = 0;
    // A new campaign shows a problem only once its field was touched, or after a save attempt.
    this.touched = new Set();
    this.submitted = !isNew;
    this.dirty = false;
    this.onBeforeUnload = (ev) => {
      if (this.dirty) {
        ev.preventDefault();
        ev.returnValue = "";
      }
    };
    window.addEventListener("beforeunload", this.onBeforeUnload);
  }

  dispose() {
    this.disposed = true;
    clearTimeout(this.serverTimer);
    clearTimeout(this.localTimer);
    this.serverSeq++;
    window.removeEventListener("beforeunload", this.onBeforeUnload);
  }

  full(rel) {
    return rel ? `campaigns[${this.index}].${rel}` : `campaigns[${this.index}]`;
  }

  // ---- rendering -------------------------------------------------------------------------------

  render() {
    const c = this.draft;
    const title = this.isNew ? "New campaign" : `Edit “${c.name || c.id}”`;
    this.summary = h("div", { class: "error-summary", role: "alert", tabindex: "-1", hidden: true, dataset: { testid: "error-summary" } });
    this.check = h("span", { class: "server-check muted small", "aria-live": "polite", dataset: { testid: "server-check" } });
    this.jsonView = h("pre", { class: "json-view", dataset: { testid: "draft-json" } });
    this.previewBody = h("div", { class: "preview-body" });
    this.previewPick = h("div", { class: "preview-pick" });

    this.form = h("form", {
      class: "editor", novalidate: true, dataset: { testid: "campaign-form" },
      "aria-labelledby": "editor-title",
    },
    this.summary,
    this.campaignSection(),
    this.scheduleSection(),
    this.audienceSection(),
    this.engagementsSection(),
    h("details", { class: "panel json-details" }, h("summary", {}, "Campaign JSON (what will be saved)"), this.jsonView),
    h("div", { class: "save-bar" },
      h("button", { type: "submit", class: "btn primary", dataset: { testid: "save-campaign" } }, this.isNew ? "Create campaign" : "Save changes"),
      h("a", { class: "btn ghost", href: "#/campaigns", dataset: { testid: "cancel-edit" } }, "Cancel"),
      this.check));
    this.form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      this.save();
    });
    this.form.addEventListener("focusin", (ev) => {
      const fs = ev.target.closest?.("[data-engagement-index]");
      if (fs) {
        const i = Number(fs.dataset.engagementIndex);
        if (i !== this.previewIndex) {
          this.previewIndex = i;
          this.updatePreview();
        }
      }
    });

    const layout = h("div", { class: "editor-layout" },
      h("div", {},
        h("div", { class: "page-head" },
          h("div", {},
            h("p", { class: "crumbs" }, h("a", { href: "#/campaigns" }, "Campaigns"), " › ", this.isNew ? "New" : c.id),
            h("h1", { id: "editor-title" }, title))),
        this.form),
      h("aside", { class: "preview-pane", "aria-labelledby": "preview-title", tabindex: "0", dataset: { testid: "preview" } },
        h("h2", { id: "preview-title" }, "Live preview"),
        this.previewPick,
        this.previewBody));
    fill(this.root, layout);
  }

  /** Re-renders after a structural change, keeping the focus where it was. */
  rerender() {
    const a = document.activeElement;
    const name = a?.name;
    const value = a?.type === "checkbox" ? a.value : null;
    const sel = typeof a?.selectionStart === "number" ? [a.selectionStart, a.selectionEnd] : null;
    const scroll = window.scrollY;
    this.render();
    window.scrollTo(0, scroll);
    if (name) {
      const sameName = [...this.form.querySelectorAll("[name]")].filter((el) => el.name === name);
      const target = value !== null ? sameName.find((el) => el.value === value) : sameName[0];
      if (target) {
        target.focus({ preventScroll: true });
        if (sel && typeof target.setSelectionRange === "function") {
          try { target.setSelectionRange(sel[0], sel[1]); } catch (_) { /* not a text input */ }
        }
      }
    }
    this.refreshDerived();
  }

  fieldset(legend, rel, children, { cls = "", testid, extra } = {}) {
    return h("fieldset", { class: `group ${cls}`, dataset: { path: this.full(rel), testid } },
      h("legend", {}, legend, extra || null),
      h("ul", { class: "errors", id: uid("err") }),
      children);
  }

  /** A labelled input bound to `rel`. */
  field(rel, label, opts = {}) {
    const { kind = "string", type = "text", help, placeholder, options, min, max, step, rows, list, readonly, def, structural, wide, anchor, testid } = opts;
    const id = uid("f");
    const helpId = help ? `${id}-help` : null;
    const errId = `${id}-err`;
    const value = getIn(this.draft, rel);
    const describedBy = [helpId, errId].filter(Boolean).join(" ");
    const common = {
      id, name: rel, "aria-describedby": describedBy,
      dataset: { path: this.full(rel), testid: testid || `field-${rel}` },
    };
    let control;
    if (kind === "bool") {
      control = h("input", { ...common, type: "checkbox", checked: value === undefined ? Boolean(def) : Boolean(value) });
    } else if (kind === "enum" || kind === "tristate") {
      const opts2 = kind === "tristate" ? options || [{ value: "", label: "Any" }, { value: "true", label: "Yes" }, { value: "false", label: "No" }] : options;
      let cur = value === undefined || value === null ? "" : String(value);
      // Left out: the first option shows (it is the default); nothing is written until changed.
      if (cur === "" && !opts2.some((o) => o.value === "")) cur = opts2[0]?.value ?? "";
      const all = opts2.some((o) => o.value === cur) ? opts2 : [...opts2, { value: cur, label: `${cur} (unknown)` }];
      control = h("select", { ...common, value: cur }, all.map((o) => h("option", { value: o.value }, o.label)));
    } else if (kind === "json") {
      const raw = this.jsonErrors[rel]?.raw;
      control = h("textarea", { ...common, rows: rows || 5, spellcheck: "false", class: "mono", placeholder,
        value: raw !== undefined ? raw : value === undefined ? "" : JSON.stringify(value, null, 2) });
    } else if (type === "textarea") {
      control = h("textarea", { ...common, rows: rows || 3, placeholder, value: value ?? "" });
    } else {
      control = h("input", {
        ...common, type: kind === "int" || kind === "float" ? "number" : type,
        value: value ?? "", placeholder, min, max, step: step || (kind === "int" ? 1 : undefined),
        list, readonly, autocomplete: "off", spellcheck: type === "text" && !opts.code ? undefined : "false",
        class: opts.code ? "mono" : undefined,
      });
    }
    if (opts.required) control.setAttribute("aria-required", "true");
    const read = () => {
      if (kind === "bool") return control.checked === Boolean(def) && opts.omitDefault ? undefined : control.checked;
      if (kind === "tristate") return control.value === "" ? undefined : control.value === "true";
      if (kind === "int" || kind === "float") return control.value === "" ? undefined : Number(control.value);
      if (kind === "enum") return control.value === "" ? undefined : (opts.numeric ? Number(control.value) : control.value);
      return control.value === "" ? undefined : control.value;
    };
    const onChange = () => {
      if (kind === "json") {
        const text = control.value.trim();
        if (!text) {
          delete this.jsonErrors[rel];
          this.set(rel, undefined);
          return;
        }
        try {
          const v = JSON.parse(text);
          delete this.jsonErrors[rel];
          this.set(rel, v);
        } catch (e) {
          this.jsonErrors[rel] = { raw: control.value, message: `Not valid JSON: ${e.message}` };
          this.touch(rel);
          this.refreshDerived();
        }
        return;
      }
      if (opts.onChange) opts.onChange(read());
      else this.set(rel, read(), { structural });
    };
    const live = kind === "string" || kind === "int" || kind === "float" || kind === "json";
    control.addEventListener(live ? "input" : "change", onChange);
    const wrapCls = `field${kind === "bool" ? " check" : ""}${wide ? " wide" : ""}`;
    const labelEl = h("label", { for: id }, label, opts.required ? h("span", { class: "req", "aria-hidden": "true" }, " *") : null);
    return h("div", { class: wrapCls, dataset: { path: this.full(anchor || rel) } },
      kind === "bool" ? [control, labelEl] : [labelEl, control],
      help ? h("p", { class: "help", id: helpId }, help) : null,
      h("ul", { class: "errors", id: errId }));
  }

  touch(rel) {
    this.touched.add(this.full(rel));
  }

  visible(problem) {
    if (this.submitted) return true;
    for (const t of this.touched) if (isPrefix(t, problem.path) || isPrefix(problem.path, t)) return true;
    return false;
  }

  set(rel, value, { structural = false } = {}) {
    this.touch(rel);
    if (value === undefined) deleteIn(this.draft, rel);
    else setIn(this.draft, rel, value);
    this.dirty = true;
    if (structural) this.rerender();
    else this.refreshDerived();
  }

  /** A library-or-inline selector for a slot (`audience`, `entry_point`, `creative`…). */
  refChoice(rel, category, label, { modes, current, onMode }) {
    const id = uid("f");
    const lib = Object.keys(this.doc?.library?.[category] || {});
    const v = getIn(this.draft, rel);
    const cur = current ?? (isRef(v) ? `ref:${v.ref}` : v === undefined && modes.some((m) => m.value === "none") ? "none" : "inline");
    const options = [...modes, ...lib.map((n) => ({ value: `ref:${n}`, label: `Library: ${n}` }))];
    if (cur.startsWith("ref:") && !lib.includes(cur.slice(4))) options.push({ value: cur, label: `Library: ${cur.slice(4)} (missing)` });
    if (options.length < 2) return null;
    const select = h("select", { id, name: `${rel}#mode`, value: cur, dataset: { testid: `mode-${rel}` } }, options.map((o) => h("option", { value: o.value }, o.label)));
    select.addEventListener("change", () => {
      const m = select.value;
      if (m.startsWith("ref:")) setIn(this.draft, rel, { ref: m.slice(4) });
      else onMode(m, isRef(v) ? clone(this.doc?.library?.[category]?.[v.ref]) : undefined);
      this.dirty = true;
      this.rerender();
    });
    return h("div", { class: "field mode" }, h("label", { for: id }, label), select);
  }

  // ---- sections ---------------------------------------------------------------------------------

  campaignSection() {
    const c = this.draft;
    return this.fieldset("Campaign", "", [
      h("div", { class: "grid-2" },
        this.isNew
          ? this.field("id", "Campaign id", {
            required: true, code: true, placeholder: "summer-sale",
            help: "Lowercase letters, digits, - and _. Used in reports and links; it can't change later.",
            onChange: (v) => this.changeCampaignId(v),
          })
          : h("div", { class: "field", dataset: { path: this.full("id") } },
            h("span", { class: "label" }, "Campaign id"),
            h("p", { class: "static" }, h("code", { dataset: { testid: "campaign-id" } }, c.id)),
            h("ul", { class: "errors" })),
        this.field("name", "Name", { placeholder: "Summer sale", required: true, help: "What the campaign list, reports and your team call it." })),
      this.field("description", "Description", { type: "textarea", rows: 2, wide: true }),
      h("div", { class: "grid-3" },
        this.field("goal", "Goal", { list: "goal-list", placeholder: "sales", help: "What the campaign is for, in your words." }),
        this.field("priority", "Priority", { kind: "int", min: -1000000, max: 1000000, help: "Higher wins a zone." }),
        this.field("control_group_percent", "Control group (%)", { kind: "float", min: 0, max: 100, step: 0.1, help: "Visitors held out to measure lift." })),
      h("datalist", { id: "goal-list" }, GOALS.map((g) => h("option", { value: g }))),
      h("div", { class: "checks" },
        this.field("enabled", "Enabled", { kind: "bool", def: true }),
        this.field("business_hours_only", "Only during business hours", { kind: "bool", def: false, omitDefault: true })),
    ], { testid: "section-campaign" });
  }

  scheduleSection() {
    const tf = this.draft.timeframe || {};
    const weekly = tf.weekly;
    const mode = this.refChoice("timeframe.weekly", "schedules", "Weekly windows", {
      modes: [{ value: "none", label: "All week" }, { value: "inline", label: "Only in these windows" }],
      onMode: (m, copy) => {
        if (m === "none") deleteIn(this.draft, "timeframe.weekly");
        else setIn(this.draft, "timeframe.weekly", copy || [{ days: ["mon", "tue", "wed", "thu", "fri"], from: "09:00", to: "17:00" }]);
      },
    });
    const rows = Array.isArray(weekly)
      ? h("div", { class: "rows", dataset: { path: this.full("timeframe.weekly") } },
        weekly.map((w, i) => this.windowRow(`timeframe.weekly[${i}]`, w, i)),
        h("button", { type: "button", class: "btn small ghost", onclick: () => {
          weekly.push({ days: ["sat", "sun"], from: "10:00", to: "16:00" });
          this.dirty = true;
          this.rerender();
        } }, "+ Add a window"))
      : null;
    return this.fieldset("When", "timeframe", [
      h("div", { class: "grid-2" },
        this.zonedField("timeframe.start", "Starts", "Empty: already running."),
        this.zonedField("timeframe.end", "Ends", "Empty: runs until disabled.")),
      mode, rows,
      h("p", { class: "help" }, "Times of weekly windows are in the site's time zone", this.doc?.timezone ? ` (${this.doc.timezone})` : "", "."),
    ], { testid: "section-when" });
  }

  windowRow(rel, w, i) {
    const days = h("div", { class: "days", role: "group", "aria-label": `Days of window ${i + 1}` },
      DAYS.map((d) => {
        const id = uid("d");
        const box = h("input", { type: "checkbox", id, name: `${rel}.days`, value: d, checked: (w.days || []).includes(d), dataset: { path: this.full(`${rel}.days`) } });
        box.addEventListener("change", () => {
          const picked = [...days.querySelectorAll("input")].filter((x) => x.checked).map((x) => x.value);
          this.set(`${rel}.days`, picked);
        });
        return h("span", { class: "day" }, box, h("label", { for: id }, DAY_LABEL[d]));
      }));
    const remove = h("button", { type: "button", class: "btn small ghost", "aria-label": `Remove window ${i + 1}` }, "Remove");
    remove.addEventListener("click", () => {
      const list = this.draft.timeframe.weekly;
      list.splice(i, 1);
      this.dirty = true;
      this.rerender();
    });
    return h("div", { class: "row window", dataset: { path: this.full(rel) } },
      h("div", { class: "field", dataset: { path: this.full(`${rel}.days`) } }, h("span", { class: "label" }, "Days"), days, h("ul", { class: "errors" })),
      this.field(`${rel}.from`, "From", { code: true, placeholder: "09:00" }),
      this.field(`${rel}.to`, "To", { code: true, placeholder: "17:30" }),
      remove);
  }

  audienceSection() {
    const mode = this.refChoice("audience", "audiences", "Who", {
      modes: [{ value: "none", label: "Everyone" }, { value: "inline", label: "Visitors matching a condition" }],
      onMode: (m, copy) => {
        if (m === "none") deleteIn(this.draft, "audience");
        else setIn(this.draft, "audience", copy || { "cart.total": { $gte: 50 } });
      },
    });
    const a = this.draft.audience;
    const { ref, item } = resolveRef(this.doc, "audiences", a);
    return this.fieldset("Audience", "audience", [
      mode,
      a !== undefined && !ref
        ? this.field("audience", "Condition (GrowthBook / MongoDB syntax)", {
          kind: "json", rows: 5, wide: true, placeholder: '{"country": {"$in": ["GB", "IE"]}}',
          help: "Visitor attributes: what the site pushes, plus device, language, country, returning, visits, referrer, utm_*, engaged.",
        })
        : null,
      ref && item ? h("pre", { class: "json-view small" }, JSON.stringify(item, null, 2)) : null,
    ], { testid: "section-audience" });
  }

  engagementsSection() {
    const list = this.draft.engagements || (this.draft.engagements = []);
    const add = h("button", { type: "button", class: "btn", dataset: { testid: "add-engagement" } }, "+ Add engagement");
    add.addEventListener("click", () => {
      const e = { id: this.suggestId(), ...emptyEngagement() };
      list.push(e);
      this.previewIndex = list.length - 1;
      this.dirty = true;
      this.rerender();
      this.form.querySelector(`[name="engagements[${list.length - 1}].id"]`)?.focus();
    });
    return h("section", { class: "engagements", "aria-labelledby": "engagements-title", dataset: { path: this.full("engagements") } },
      h("div", { class: "section-head" }, h("h2", { id: "engagements-title" }, "Engagements"),
        h("p", { class: "muted small" }, "What the visitor sees: each engagement has a format, a place, rules and creatives.")),
      h("ul", { class: "errors" }),
      list.map((e, i) => this.engagementFieldset(e, i)),
      add);
  }

  suggestId() {
    const base = (this.draft.id || "engagement").replace(/[^a-z0-9_-]/g, "") || "engagement";
    const taken = new Set([...engagementIds(this.doc).map((x) => x.id), ...(this.draft.engagements || []).map((e) => e.id)]);
    for (let n = 1; ; n++) {
      const id = `${base}-${n}`.slice(0, 64);
      if (!taken.has(id)) return id;
    }
  }

  engagementFieldset(e, i) {
    const p = `engagements[${i}]`;
    const conversation = e.kind !== "content";
    const offsite = e.source === "offsite";
    const remove = h("button", { type: "button", class: "btn small ghost danger", dataset: { testid: "remove-engagement" } }, "Remove");
    remove.addEventListener("click", () => {
      this.draft.engagements.splice(i, 1);
      this.previewIndex = Math.max(0, Math.min(this.previewIndex, this.draft.engagements.length - 1));
      this.dirty = true;
      this.rerender();
    });
    const preview = h("button", { type: "button", class: "btn small ghost" }, "Preview");
    preview.addEventListener("click", () => {
      this.previewIndex = i;
      this.updatePreview();
      document.querySelector(".preview-pane")?.scrollIntoView({ block: "nearest" });
    });

    const basics = h("div", { class: "grid-3" },
      this.field(`${p}.id`, "Engagement id", { required: true, code: true, placeholder: "summer-sale-chat" }),
      this.field(`${p}.name`, "Name", { placeholder: "Chat with sales" }),
      this.field(`${p}.kind`, "Kind", {
        kind: "enum", options: [{ value: "conversation", label: "Conversation" }, { value: "content", label: "Content (link)" }],
        onChange: (v) => this.changeKind(i, v),
      }),
      this.field(`${p}.source`, "Source", {
        kind: "enum", options: [{ value: "", label: "Web (on the site)" }, { value: "offsite", label: "Offsite (link / QR code)" }],
        onChange: (v) => this.changeSource(i, v),
      }),
      conversation
        ? this.field(`${p}.channel`, "Channel", {
          kind: "enum", options: [{ value: "chat", label: "Chat" }, { value: "messaging", label: "Messaging (asynchronous)" }],
          onChange: (v) => {
            if (v === undefined) deleteIn(this.draft, `${p}.channel`);
            else setIn(this.draft, `${p}.channel`, v);
            if (v === "messaging") deleteIn(this.draft, `${p}.refresh_seconds`);
            this.dirty = true;
            this.rerender();
          },
        })
        : null,
      conversation ? this.skillField(p, e) : null,
      h("div", { class: "checks" }, this.field(`${p}.enabled`, "Enabled", { kind: "bool", def: true })));

    const placement = offsite ? this.offsiteFields(p, e) : this.placementFields(p, e);

    return h("fieldset", {
      class: "group engagement", dataset: { path: this.full(p), engagementIndex: i, testid: "engagement" },
    },
    h("legend", {}, h("span", { dataset: { legendFor: i } }, legendText(e, i))),
    h("div", { class: "group-tools" }, preview, remove),
    h("ul", { class: "errors" }),
    basics,
    placement,
    offsite ? null : this.entryPointFields(p, e),
    offsite ? null : this.behaviorFields(p, e),
    this.creativeFields(p, e),
    this.moreFields(p, e, conversation, offsite));
  }

  skillField(p, e) {
    const skills = (this.doc?.skills || []).map((s) => ({ value: s.id, label: s.name ? `${s.name} (${s.id})` : s.id }));
    return this.field(`${p}.skill`, "Skill", {
      kind: "enum", options: [{ value: "", label: "Any skill (site-wide)" }, ...skills],
      help: skills.length ? "Whose availability sets the state." : "The document declares no skills yet.",
    });
  }

  placementFields(p, e) {
    const format = e.format || "";
    const kind = zoneKind(format);
    let zone;
    if (kind === "side") {
      zone = this.field(`${p}.zone`, "Zone", { kind: "enum", options: [{ value: "right", label: "Right edge" }, { value: "left", label: "Left edge" }] });
    } else if (kind === "embedded") {
      zone = this.field(`${p}.zone.embedded`, "Page element id", {
        code: true, placeholder: format === "button" ? "help-button-slot" : "promo-banner-slot", anchor: `${p}.zone`,
        help: "Rendered inside the element with this id; not shown on pages without it.",
      });
    } else if (kind === "proactive") {
      zone = h("div", { class: "field", dataset: { path: this.full(`${p}.zone`) } },
        h("span", { class: "label" }, "Zone"), h("p", { class: "static" }, "Proactive (one at a time, counts against displays per visit)"), h("ul", { class: "errors" }));
    }
    const refreshable = e.kind !== "content" && e.channel !== "messaging" && kind && kind !== "proactive";
    return h("div", { class: "grid-3" },
      this.field(`${p}.format`, "Format", {
        kind: "enum", options: [{ value: "", label: "Choose…" }, ...FORMATS.map((f) => ({ value: f.id, label: f.label }))],
        onChange: (v) => this.changeFormat(indexOf(p), v),
      }),
      zone || null,
      refreshable
        ? this.field(`${p}.refresh_seconds`, "Button refresh", {
          kind: "enum", numeric: true,
          options: [{ value: "", label: "Never" }, ...REFRESH_SECONDS.map((s) => ({ value: String(s), label: `Every ${s} s` }))],
          help: "Re-checks agent availability while shown.",
        })
        : null);
  }

  offsiteFields(p, e) {
    const saved = (this.doc?.campaigns || []).some((c) => (c.engagements || []).some((x) => x.id === e.id && x.source === "offsite"));
    return h("div", {},
      h("div", { class: "grid-3" },
        this.field(`${p}.offsite.source`, "Channel of the link", {
          kind: "enum", options: OFFSITE_SOURCES.map((s) => ({ value: s, label: s[0].toUpperCase() + s.slice(1) })),
        }),
        this.field(`${p}.offsite.landing_url`, "Landing page", { type: "url", code: true, required: true, placeholder: "https://acme.example/shop" }),
        this.field(`${p}.offsite.offline_survey_url`, "Survey when not available", { type: "url", code: true, placeholder: "https://acme.example/survey" })),
      saved && !this.dirtyId(e)
        ? offsiteBlock(e)
        : h("p", { class: "help" }, "The link (", h("code", {}, api.offsiteLink(e.id || "<id>")), ") and its QR code are live once saved."));
  }

  dirtyId(e) {
    return !e.id;
  }

  matcherRow(rel, { optional = false, label, onRemove } = {}) {
    const m = getIn(this.draft, rel);
    this.matcherUi = this.matcherUi || {};
    const ui = m ? splitMatcher(m) : { ...(this.matcherUi[rel] || { field: "url", op: "contains" }), value: "" };
    const ids = [uid("m"), uid("m"), uid("m")];
    const valuePath = `${rel}.${ui.field}.${ui.op}`;
    const fieldSel = h("select", { id: ids[0], name: `${rel}#field`, value: ui.field }, MATCH_FIELDS.map((f) => h("option", { value: f }, f === "url" ? "URL" : f[0].toUpperCase() + f.slice(1))));
    const opSel = h("select", { id: ids[1], name: `${rel}#op`, value: ui.op }, MATCH_OPS.map((o) => h("option", { value: o }, o === "pattern" ? "matches pattern" : o === "regex" ? "matches regex" : o === "prefix" ? "starts with" : o)));
    const input = h("input", {
      id: ids[2], name: valuePath, value: ui.value, class: "mono", autocomplete: "off", spellcheck: "false",
      placeholder: ui.op === "pattern" ? "/shop/*" : ui.op === "regex" ? "^/(sale|offers)" : "/checkout",
      dataset: { path: this.full(valuePath), testid: `field-${valuePath}` },
    });
    const rebuild = (value) => {
      const field = fieldSel.value;
      const op = opSel.value;
      this.matcherUi[rel] = { field, op };
      if (optional && !value) deleteIn(this.draft, rel);
      else setIn(this.draft, rel, { [field]: { [op]: value } });
      this.dirty = true;
    };
    fieldSel.addEventListener("change", () => { rebuild(input.value); this.rerender(); });
    opSel.addEventListener("change", () => { rebuild(input.value); this.rerender(); });
    input.addEventListener("input", () => {
      rebuild(input.value);
      this.touch(rel);
      this.refreshDerived();
    });
    return h("div", { class: "field matcher", dataset: { path: this.full(rel) } },
      label ? h("span", { class: "label" }, label) : null,
      h("div", { class: "matcher-controls" },
        h("label", { for: ids[0], class: "visually-hidden" }, `${label || "Rule"}: what to test`), fieldSel,
        h("label", { for: ids[1], class: "visually-hidden" }, `${label || "Rule"}: how`), opSel,
        h("label", { for: ids[2], class: "visually-hidden" }, `${label || "Rule"}: value`), input,
        onRemove ? h("button", { type: "button", class: "icon-btn", "aria-label": `Remove ${label || "rule"}`, onclick: onRemove }, "×") : null),
      h("ul", { class: "errors" }));
  }

  entryPointFields(p, e) {
    const rel = `${p}.entry_point`;
    const mode = this.refChoice(rel, "entry_points", "Pages", {
      modes: [{ value: "inline", label: "These rules" }],
      onMode: (m, copy) => setIn(this.draft, rel, copy || { include: [], exclude: [] }),
    });
    const ep = e.entry_point;
    let body = null;
    if (!isRef(ep)) {
      const lists = ["include", "exclude"].map((list) => {
        const items = ep?.[list] || [];
        const add = h("button", { type: "button", class: "btn small ghost", dataset: { testid: `add-${list}` } }, list === "include" ? "+ Include pages" : "+ Exclude pages");
        add.addEventListener("click", () => {
          const cur = getIn(this.draft, rel) || {};
          cur[list] = [...(cur[list] || []), { url: { [list === "include" ? "pattern" : "contains"]: "" } }];
          setIn(this.draft, rel, cur);
          this.dirty = true;
          this.rerender();
          const n = cur[list].length - 1;
          this.form.querySelector(`[data-path="${this.full(`${rel}.${list}[${n}]`)}"] input`)?.focus();
        });
        return h("div", { class: "match-list", dataset: { path: this.full(`${rel}.${list}`) } },
          h("p", { class: "label" }, list === "include" ? (items.length ? "Show on pages where any of:" : "Show on every page") : items.length ? "…but not where any of:" : ""),
          items.map((_, j) => this.matcherRow(`${rel}.${list}[${j}]`, {
            label: `${list === "include" ? "Include" : "Exclude"} ${j + 1}`,
            onRemove: () => {
              const cur = getIn(this.draft, rel);
              cur[list].splice(j, 1);
              if (!cur.include?.length && !cur.exclude?.length) deleteIn(this.draft, rel);
              this.dirty = true;
              this.rerender();
            },
          })),
          h("ul", { class: "errors" }),
          add);
      });
      body = h("div", {}, lists, h("p", { class: "help" }, "Patterns follow URLPattern: ", h("code", {}, "/shop/*"), ", ", h("code", {}, "https://{*.}?acme.example/*"), "; relative patterns match any origin."));
    } else {
      body = this.libraryNote("entry_points", ep.ref);
    }
    return this.fieldset("Entry points", rel, [mode, body], { cls: "sub", testid: "section-entry-point" });
  }

  behaviorFields(p, e) {
    const rel = `${p}.behavior`;
    const mode = this.refChoice(rel, "behaviors", "Rules", {
      modes: [{ value: "inline", label: "These conditions" }],
      onMode: (m, copy) => setIn(this.draft, rel, copy || { time_on_page: 5 }),
    });
    const b = e.behavior;
    let body;
    if (isRef(b)) body = this.libraryNote("behaviors", b.ref);
    else {
      const engaged = getIn(this.draft, `${rel}.engaged`);
      const ids = [...engagementIds(this.doc).map((x) => x.id), ...(this.draft.engagements || []).map((x) => x.id)];
      const choices = [...new Set(ids.filter(Boolean))].filter((x) => x !== e.id);
      const engagedSel = this.field(`${rel}.engaged.engagement`, "Only after engagement…", {
        kind: "enum", options: [{ value: "", label: "No condition" }, ...choices.map((x) => ({ value: x, label: x }))],
        anchor: `${rel}.engaged`,
        onChange: (v) => {
          if (!v) deleteIn(this.draft, `${rel}.engaged`);
          else setIn(this.draft, `${rel}.engaged`, { engagement: v, state: engaged?.state || "shown" });
          this.dirty = true;
          this.rerender();
        },
      });
      body = h("div", {},
        h("div", { class: "grid-3" },
          BEHAVIOR_NUMBERS.map((n) => this.field(`${rel}.${n.key}`, n.label, { kind: "int", min: n.min, max: n.max })),
          this.field(`${rel}.exit_intent`, "Exit intent", {
            kind: "tristate", options: [{ value: "", label: "Doesn't matter" }, { value: "true", label: "Only on exit intent" }, { value: "false", label: "Only before exit intent" }],
          })),
        h("div", { class: "grid-2" },
          this.matcherRow(`${rel}.visited`, { optional: true, label: "Visited earlier this visit" }),
          this.matcherRow(`${rel}.referrer`, { optional: true, label: "Came from (referrer)" })),
        h("div", { class: "grid-3" },
          engagedSel,
          engaged ? this.field(`${rel}.engaged.state`, "…was", {
            kind: "enum", options: [{ value: "shown", label: "Shown" }, { value: "accepted", label: "Accepted" }, { value: "declined", label: "Declined" }],
          }) : null),
        h("p", { class: "help" }, "All the conditions given must hold. Leave everything empty to show at once."));
    }
    return this.fieldset("Behavior", rel, [mode, body], { cls: "sub", testid: "section-behavior" });
  }

  creativeFields(p, e) {
    const rel = `${p}.creative`;
    const content = e.kind === "content";
    const mode = this.refChoice(rel, "creatives", "Creatives", {
      modes: [{ value: "inline", label: "Written here" }],
      onMode: (m, copy) => setIn(this.draft, rel, copy || (content ? { content: { title: "", cta: "", url: "" } } : { online: { title: "", cta: "" } })),
    });
    let body;
    if (isRef(e.creative)) body = this.libraryNote("creatives", e.creative.ref);
    else {
      const states = content ? ["content"] : ["online", "busy", "offline"];
      const hints = {
        online: "Shown while agents are available. Required.",
        busy: "Optional: shown while agents are busy (falls back to offline).",
        offline: "Optional: without it, not shown while no agent is online.",
        content: "The banner's text and where its call to action leads.",
      };
      body = h("div", { class: content ? "" : "grid-3 creatives" }, states.map((s) => {
        const cp = `${rel}.${s}`;
        return h("fieldset", { class: "group creative", dataset: { path: this.full(cp), testid: `creative-${s}` } },
          h("legend", {}, h("span", { class: `dot ${s}`, "aria-hidden": "true" }), s[0].toUpperCase() + s.slice(1)),
          h("ul", { class: "errors" }),
          h("p", { class: "help" }, hints[s]),
          this.field(`${cp}.title`, "Title", { placeholder: EXAMPLES[s].title, required: s === "online" || s === "content" }),
          richText(this.field(`${cp}.message`, "Message", { type: "textarea", rows: 3, placeholder: EXAMPLES[s].message, help: "Bold, italic, underline, line breaks and links (http, https, mailto); nothing else is kept." })),
          this.field(`${cp}.cta`, "Call to action", { placeholder: EXAMPLES[s].cta, required: s === "online" || s === "content" }),
          s === "content" ? this.field(`${cp}.url`, "Link (opened by the call to action)", { type: "url", code: true, placeholder: "https://acme.example/sale" }) : null);
      }));
    }
    return this.fieldset("Creatives", rel, [mode, body], { cls: "sub", testid: "section-creative" });
  }

  moreFields(p, e, conversation, offsite) {
    const open = Boolean(e.sender || e.style || e.language || e.agent_note || e.ignore_max_wait || e.authenticated || e.window_mode);
    return h("details", { class: "more", open },
      h("summary", {}, "Sender, style and advanced options"),
      h("div", { class: "grid-2" },
        this.field(`${p}.sender.name`, "Sender name", { placeholder: "Sam from support" }),
        this.field(`${p}.sender.avatar_url`, "Sender avatar URL", { type: "url", code: true, placeholder: "https://acme.example/sam.png" })),
      offsite ? null : h("div", { class: "grid-4" },
        STYLE_FIELDS.map((k) => this.field(`${p}.style.${k}`, styleLabel(k), { code: true, placeholder: stylePlaceholder(k) }))),
      conversation
        ? h("div", { class: "grid-3" },
          this.field(`${p}.language`, "Language", { code: true, placeholder: "en-GB" }),
          offsite ? null : this.field(`${p}.window_mode`, "Conversation window", {
            kind: "enum", options: [{ value: "embedded", label: "Embedded panel (default)" }, { value: "popup", label: "Popup window" }],
          }),
          this.field(`${p}.agent_note`, "Note for the agent", { type: "textarea", rows: 2 }))
        : null,
      h("div", { class: "checks" },
        conversation ? this.field(`${p}.ignore_max_wait`, "Online whenever an agent is logged in (ignore max wait)", { kind: "bool", def: false, omitDefault: true }) : null,
        offsite ? null : this.field(`${p}.authenticated`, "Logged-in visitors only", { kind: "bool", def: false, omitDefault: true })));
  }

  libraryNote(category, name) {
    const item = this.doc?.library?.[category]?.[name];
    return h("div", { class: "library-note" },
      h("p", { class: "help" }, `Uses the library item “${name}”: editing it in the document changes every campaign that uses it.`),
      item ? h("pre", { class: "json-view small" }, JSON.stringify(item, null, 2)) : h("p", { class: "help" }, "(not found in the library)"));
  }

  // ---- structural changes ---------------------------------------------------------------------

  /** New campaigns: the first engagement's id follows the campaign id until edited by hand. */
  changeCampaignId(id) {
    const prev = this.draft.id;
    if (id === undefined) delete this.draft.id;
    else this.draft.id = id;
    this.touch("id");
    const first = this.draft.engagements?.[0];
    if (first && (!first.id || first.id === `${prev}-chat`) && id) {
      first.id = `${id}-chat`.slice(0, 64);
      const input = this.form.querySelector('[name="engagements[0].id"]');
      if (input) input.value = first.id;
    }
    this.dirty = true;
    this.refreshDerived();
  }

  changeKind(i, kind) {
    const e = this.draft.engagements[i];
    if (!kind || kind === e.kind) return;
    e.kind = kind;
    if (kind === "content") {
      for (const k of ["channel", "skill", "refresh_seconds", "ignore_max_wait", "window_mode", "language", "agent_note"]) delete e[k];
      if (!isRef(e.creative)) {
        const from = e.creative?.online || {};
        e.creative = { content: { title: from.title || "", message: from.message || "", cta: from.cta || "", url: "" } };
        deleteEmpty(e.creative.content);
      }
    } else {
      e.channel = "chat";
      if (!isRef(e.creative)) {
        const from = e.creative?.content || {};
        e.creative = { online: { title: from.title || "", message: from.message || "", cta: from.cta || "" } };
        deleteEmpty(e.creative.online);
      }
    }
    this.dirty = true;
    this.rerender();
  }

  changeSource(i, source) {
    const e = this.draft.engagements[i];
    if (source === "offsite") {
      e.source = "offsite";
      for (const k of ["format", "zone", "entry_point", "refresh_seconds", "window_mode", "style", "behavior"]) delete e[k];
      e.offsite = e.offsite || { source: "email", landing_url: "" };
      if (e.kind === "content") this.changeKind(i, "conversation");
    } else {
      delete e.source;
      delete e.offsite;
      e.format = e.format || "sticky";
      if (e.format === "sticky" && !e.zone) e.zone = "right";
    }
    this.dirty = true;
    this.rerender();
  }

  changeFormat(i, format) {
    const e = this.draft.engagements[i];
    const old = e.zone;
    if (!format) delete e.format;
    else e.format = format;
    const kind = zoneKind(format);
    if (kind === "side") e.zone = old === "left" || old === "right" ? old : "right";
    else if (kind === "proactive") {
      delete e.zone;
      delete e.refresh_seconds;
    } else if (kind === "embedded") {
      const prev = old && typeof old === "object" ? old.embedded : "";
      e.zone = { embedded: prev || (format === "button" ? "help-button-slot" : "promo-banner-slot") };
    } else delete e.zone;
    this.dirty = true;
    this.rerender();
  }

  // ---- derived: errors, preview, JSON, server check ---------------------------------------------

  refreshDerived({ server = true } = {}) {
    const local = [...this.localCheck(), ...this.consoleProblems()];
    for (const [path, { message }] of Object.entries(this.jsonErrors)) local.push({ path: this.full(path), message });
    this.clientErrors = local.map((x) => ({ path: x.path, message: x.message, source: "client" }));
    this.showErrors();
    this.updatePreview();
    for (const el of this.form.querySelectorAll("[data-legend-for]")) {
      const i = Number(el.dataset.legendFor);
      const e = this.draft.engagements?.[i];
      if (e) el.textContent = legendText(e, i);
    }
    this.jsonView.textContent = JSON.stringify(stripPrivate(this.draft), null, 2);
    if (server) this.scheduleServerCheck();
  }

  /** What the console asks for beyond the engine's rules before a campaign goes out: a name,
   * and the words of its online (or content) creative, which the editor never pre-fills. */
  consoleProblems() {
    const out = [];
    if (!String(this.draft.name ?? "").trim()) {
      out.push({ path: this.full("name"), message: "A campaign needs a name: the campaign list, reports and your team know it by that." });
    }
    (this.draft.engagements || []).forEach((e, i) => {
      const c = e?.creative;
      if (!c || isRef(c)) return;
      const s = e.kind === "content" ? "content" : "online";
      // A button shows only its call to action.
      const needs = e.format === "button" ? [["cta", "a call to action (the button's words)"]]
        : [["title", "a title"], ["cta", "a call to action (the button's words)"]];
      for (const [k, what] of needs) {
        if (!String(c[s]?.[k] ?? "").trim()) {
          out.push({ path: this.full(`engagements[${i}].creative.${s}.${k}`), message: `The ${s} creative needs ${what}.` });
        }
      }
    });
    return out;
  }

  /** A date and time picker in the site's time zone for an RFC 3339 instant at `rel`. */
  zonedField(rel, label, help) {
    const tz = this.ctx.doc?.timezone || "UTC";
    const id = uid("f");
    const value = getIn(this.draft, rel);
    const date = value ? new Date(value) : null;
    const input = h("input", {
      type: "datetime-local", id, name: rel, step: 60,
      value: date && !Number.isNaN(date.getTime()) ? dateToZoned(date, tz) : "",
      "aria-describedby": `${id}-help ${id}-err`,
      dataset: { path: this.full(rel), testid: `field-${rel}` },
    });
    input.addEventListener("change", () => {
      const d = input.value ? zonedToDate(input.value, tz) : null;
      this.set(rel, d ? rfc3339(d) : undefined);
    });
    return h("div", { class: "field", dataset: { path: this.full(rel) } },
      h("label", { for: id }, label), input,
      h("p", { class: "help", id: `${id}-help` }, `${help} In the site's time zone (${tz}).`),
      h("ul", { class: "errors", id: `${id}-err` }));
  }

  /** The engine's errors for the draft document. A document whose check took over 50 ms (a site
   * with hundreds of campaigns) is checked after a pause in typing instead of on every key. */
  localCheck() {
    if (!this.validatorReady) return [];
    if (this.checkMs > 50 && !this.checkNow) {
      clearTimeout(this.localTimer);
      this.localTimer = setTimeout(() => {
        this.checkNow = true;
        this.refreshDerived({ server: false });
        this.checkNow = false;
      }, 250);
      return (this.lastLocal || []).slice();
    }
    const t0 = performance.now();
    this.lastLocal = localProblems(this.draftDocument());
    this.checkMs = performance.now() - t0;
    return this.lastLocal.slice();
  }

  updatePreview() {
    const list = this.draft.engagements || [];
    if (this.previewIndex >= list.length) this.previewIndex = Math.max(0, list.length - 1);
    if (list.length > 1) {
      const id = "preview-engagement";
      const sel = h("select", { id, value: String(this.previewIndex), dataset: { testid: "preview-engagement" } },
        list.map((e, i) => h("option", { value: String(i) }, legendText(e, i))));
      sel.addEventListener("change", () => {
        this.previewIndex = Number(sel.value);
        this.updatePreview();
        document.getElementById(id)?.focus();
      });
      fill(this.previewPick, h("label", { for: id }, "Engagement"), sel);
    } else fill(this.previewPick);
    renderPreview(this.previewBody, this.doc, stripPrivate(list[this.previewIndex]));
  }

  /** Clears and re-places every problem at its input; fills the summary. */
  showErrors() {
    const form = this.form;
    for (const ul of form.querySelectorAll("ul.errors")) fill(ul);
    for (const el of form.querySelectorAll(".invalid")) el.classList.remove("invalid");
    for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
    const seen = new Set();
    const all = [...this.clientErrors, ...this.serverErrors].filter((x) => this.visible(x)).filter((x) => {
      const key = `${x.path}\n${x.message}`;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    });
    // Inputs and groups only: the summary's items carry paths too, and would take the problem.
    const anchors = [...form.querySelectorAll("[data-path]")].filter((el) => !this.summary.contains(el));
    const items = [];
    for (const problem of all) {
      const mine = isPrefix(this.full(""), problem.path);
      let best = null;
      if (mine) {
        for (const el of anchors) {
          const dp = el.dataset.path;
          if (isPrefix(dp, problem.path) && (!best || dp.length > best.dataset.path.length)) best = el;
        }
      }
      let host = best?.closest(".field, fieldset, .match-list, .rows, section") || null;
      if (host && !host.querySelector(":scope > ul.errors")) host = host.parentElement?.closest(".field, fieldset, section") || host;
      const list = host?.querySelector(":scope > ul.errors");
      if (list) {
        list.append(h("li", { dataset: { testid: "field-error", path: problem.path, source: problem.source } }, problem.message));
        host.classList.add("invalid");
        const inputs = best && best.matches("input, select, textarea") ? [best] : [...host.querySelectorAll(":scope > input, :scope > select, :scope > textarea")];
        for (const inp of inputs) inp.setAttribute("aria-invalid", "true");
        for (const d of ancestorsDetails(host)) d.open = true;
      }
      items.push({ problem, target: best, mine });
    }
    this.summary.hidden = items.length === 0;
    if (!items.length) {
      fill(this.summary);
      return;
    }
    fill(this.summary, 
      h("h2", {}, items.length === 1 ? "1 problem to fix" : `${items.length} problems to fix`),
      h("ul", {}, items.map(({ problem, target, mine }) => {
        const where = mine ? problem.path.slice(this.full("").length).replace(/^\./, "") || "campaign" : problem.path || "document";
        const b = h("button", { type: "button", class: "link" }, h("code", {}, where), ` ${problem.message}`);
        b.addEventListener("click", () => {
          const focusable = target?.matches("input, select, textarea") ? target : target?.querySelector("input, select, textarea, button");
          for (const d of ancestorsDetails(target)) d.open = true;
          (focusable || target)?.focus();
          target?.scrollIntoView({ block: "center" });
        });
        return h("li", { dataset: { testid: "error-item", path: problem.path, source: problem.source || "server" } }, b,
          mine ? null : h("span", { class: "muted small" }, " (elsewhere in the document)"));
      })));
  }

  draftDocument() {
    const base = this.doc ? clone(this.doc) : { site: api.session.site, campaigns: [] };
    base.campaigns = Array.isArray(base.campaigns) ? base.campaigns : [];
    base.campaigns[this.index] = stripPrivate(this.draft);
    return base;
  }

  scheduleServerCheck() {
    clearTimeout(this.serverTimer);
    this.serverTimer = setTimeout(() => this.serverCheck(), 700);
  }

  /** Validates the draft on the server without saving it: a simulation of the draft document. */
  async serverCheck() {
    const seq = ++this.serverSeq;
    this.check.textContent = "Checking with the server…";
    try {
      await api.simulate({
        visitor: { id: "console-check" },
        now: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
        availability: {},
        steps: [],
        campaigns: this.draftDocument(),
      });
      if (seq !== this.serverSeq) return;
      this.serverErrors = [];
      this.check.textContent = this.clientErrors.length ? "" : "✓ The server accepts this campaign.";
    } catch (e) {
      if (seq !== this.serverSeq) return;
      if (e.status === 422 && e.code === "invalid_document") {
        this.serverErrors = (e.details.length ? e.details : [{ path: "", message: e.message }]).map((d) => ({ path: d.path || "", message: d.message, source: "server" }));
        this.check.textContent = `The server found ${this.serverErrors.length} problem${this.serverErrors.length === 1 ? "" : "s"}.`;
      } else {
        this.check.textContent = `Server check unavailable (${e.message}).`;
      }
    }
    this.showErrors();
  }

  async save() {
    clearTimeout(this.serverTimer);
    this.serverSeq++;
    this.submitted = true;
    this.refreshDerived({ server: false });
    if (this.clientErrors.length) {
      this.summary.focus();
      toast("Fix the highlighted fields first.", "error");
      return;
    }
    const button = this.form.querySelector("[data-testid=save-campaign]");
    button.disabled = true;
    this.check.textContent = "Saving…";
    const body = stripPrivate(this.draft);
    try {
      const res = this.isNew ? await api.createCampaign(body) : await api.replaceCampaign(this.originalId, body);
      this.dirty = false;
      const warnings = res?.warnings || [];
      toast(`Saved “${body.name || body.id}”${res?.version ? ` as version ${res.version}` : ""}` +
        (warnings.length ? ` · ${warnings.length} warning${warnings.length === 1 ? "" : "s"}: ${warnings.map((w) => `${w.path}: ${w.message}`).join("; ")}` : ""),
      warnings.length ? "warn" : "info");
      await this.ctx.refresh({ quiet: true });
      location.hash = "#/campaigns";
    } catch (e) {
      button.disabled = false;
      if (e.status === 422) {
        this.serverErrors = (e.details.length ? e.details : [{ path: "", message: e.message }]).map((d) => ({ path: d.path || "", message: d.message, source: "server" }));
        this.check.textContent = "Not saved: the server found problems.";
        this.showErrors();
        this.summary.focus();
      } else if (e.status === 409) {
        this.serverErrors = [{ path: this.full("id"), message: e.message, source: "server" }];
        this.check.textContent = "Not saved.";
        this.showErrors();
        this.summary.focus();
      } else {
        this.check.textContent = "Not saved.";
        toast(`Could not save: ${e.message}`, "error");
      }
    }
  }
}

function indexOf(p) {
  return Number(/engagements\[(\d+)\]/.exec(p)[1]);
}

function legendText(e, idx) {
  const what = e.source === "offsite" ? `offsite ${e.offsite?.source || ""}`.trim() : e.format ? e.format.replace("_", " ") : "no format";
  return `Engagement ${idx + 1}: ${e.id || "(no id)"} · ${e.kind || "?"} · ${what}`;
}

function styleLabel(k) {
  return { background: "Background", color: "Text colour", accent: "Accent (button)", radius: "Corner radius", width: "Width", offset_x: "Offset X", offset_y: "Offset Y" }[k] || k;
}

function stylePlaceholder(k) {
  return { background: "#0f3d2e", color: "#ffffff", accent: "#f2b134", radius: "12px", width: "320px", offset_x: "24px", offset_y: "24px" }[k];
}

function deleteEmpty(o) {
  for (const k of Object.keys(o)) if (o[k] === "") delete o[k];
}

function ancestorsDetails(el) {
  const out = [];
  let cur = el?.parentElement;
  while (cur) {
    if (cur.tagName === "DETAILS") out.push(cur);
    cur = cur.parentElement;
  }
  return out;
}
