// Create (`#/sms/new`) or edit (`#/sms/{id}/edit`, while scheduled) an SMS campaign.
// The character and segment counter is the server's (`POST /sms/preview`), the audience size too
// (`POST /sms/audience`), both asked for a moment after the last keystroke. The schedule is
// entered in the site's time zone. Every input carries `data-path`, its place in the request
// body, so that the server's 422 details (`audience.tags.any[0]`, `scheduled_at`…) land next to
// the input they are about, as in the campaign editor.

import { h, uid, toast, fill, confirmDialog } from "./dom.js";
import * as api from "./api.js";
import { isPrefix } from "./paths.js";
import { ID_RE } from "./model.js";
import {
  ENCODING_LABEL, siteTimeZone, browserTimeZone, wallClock, zonedToDate, dateToZoned, formatInZone,
  rfc3339, slugify, reportHash, plural, settleFocus,
} from "./sms-model.js";

const MAX_SEGMENTS = 10;

/** A template as text and placeholders `{field, fallback, raw}`; an invalid one stays text. */
export function templatePieces(text) {
  const out = [];
  let rest = String(text || "");
  while (rest) {
    const open = rest.indexOf("{{");
    if (open < 0) break;
    const close = rest.indexOf("}}", open + 2);
    if (close < 0) break;
    if (open > 0) out.push(rest.slice(0, open));
    const raw = rest.slice(open, close + 2);
    const inner = rest.slice(open + 2, close);
    const bar = inner.indexOf("|");
    const field = (bar < 0 ? inner : inner.slice(0, bar)).trim();
    const fallback = bar < 0 ? undefined : inner.slice(bar + 1).trim();
    const ok = field === "name" || field === "id" || /^attributes\.[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/.test(field);
    out.push(ok ? { field, fallback, raw } : raw);
    rest = rest.slice(close + 2);
  }
  if (rest) out.push(rest);
  return out;
}

function attributeText(attributes, key) {
  let v = attributes;
  for (const k of key.split(".")) {
    if (v === null || typeof v !== "object") return undefined;
    v = v[k];
  }
  return typeof v === "string" || typeof v === "number" || typeof v === "boolean" ? String(v) : undefined;
}

// ---- the phone preview --------------------------------------------------------------------------

/** The message as a phone shows it: the sender, one bubble, {{placeholders}} filled in. */
export function phonePreview({ message, sender, sample, counter, caption, when = "Today 10:00" }) {
  const name = sample ? sample.name : "Ana";
  const bubble = h("div", { class: "bubble", dataset: { testid: "sms-bubble" } });
  const text = String(message || "");
  let filled = false;
  if (!text.trim()) bubble.append(h("span", { class: "muted" }, "Your message appears here."));
  else {
    // As the server fills them (engine/src/sms.rs): `{{name}}`, `{{id}}`, `{{attributes.x}}`,
    // each with an optional fallback (`{{name | there}}`) for a missing or empty value.
    for (const piece of templatePieces(text)) {
      if (typeof piece === "string") {
        bubble.append(piece);
        continue;
      }
      filled = true;
      const { field, fallback, raw } = piece;
      let value;
      if (field === "name") value = name;
      else if (field === "id") value = sample ? sample.id : "c-1";
      else value = sample?.attributes ? attributeText(sample.attributes, field.slice(11)) : undefined;
      let shown = value != null && String(value).trim() !== "" ? String(value) : fallback;
      if (shown == null) shown = field.startsWith("attributes.") && !sample?.attributes ? `‹${field.slice(11)}›` : "";
      bubble.append(h("mark", { class: "ph", title: raw }, shown));
    }
  }
  const who = String(sender || "Sender");
  return h("figure", { class: "phone-wrap", dataset: { testid: "sms-phone-preview" } },
    h("div", { class: "phone", "aria-hidden": "true" },
      h("div", { class: "phone-status" }, h("span", {}, "9:41"), h("span", { class: "phone-notch" }), h("span", {}, "▂▄▆ ▭")),
      h("div", { class: "phone-head" },
        h("span", { class: "phone-avatar" }, /^[+\d]/.test(who) ? "#" : who.slice(0, 1).toUpperCase()),
        h("span", { class: "phone-from" }, who),
        h("span", { class: "phone-sub" }, "Text message")),
      h("div", { class: "phone-thread" },
        h("p", { class: "phone-day" }, when),
        bubble,
        counter ? h("p", { class: "phone-meta" }, counter) : null),
      h("div", { class: "phone-compose" }, h("span", {}, "Text message"), h("span", { class: "phone-send" }, "↑"))),
    caption === null ? null : h("figcaption", { class: "small muted" }, caption !== undefined ? caption : [
      "Shown to ", h("b", {}, name || sample?.id || "Ana"), sample ? ` (${sample.phone || sample.id}), the first contact in the audience` : " (an example: no contact matches yet)",
      filled ? ". Highlighted text is filled in per contact." : "."]),
    h("div", { class: "visually-hidden" }, `Preview of the message from ${who}: ${bubble.textContent}`));
}

// ---- the form ---------------------------------------------------------------------------------

export function renderSmsForm(root, ctx, id) {
  const form = new SmsForm(root, ctx, id);
  form.start();
  return () => form.dispose();
}

function tomorrowAtTen(tz) {
  const w = wallClock(Date.now(), tz);
  const d = new Date(Date.UTC(w.year, w.month - 1, w.day + 1));
  const p = (n) => String(n).padStart(2, "0");
  return `${d.getUTCFullYear()}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())}T10:00`;
}

function outboundEngagements(doc) {
  const out = [];
  for (const c of doc?.campaigns || []) for (const e of c.engagements || []) if (e.source === "outbound") out.push({ id: e.id, name: e.name, campaign: c.name || c.id });
  return out;
}

class SmsForm {
  constructor(root, ctx, id) {
    this.root = root;
    this.ctx = ctx;
    this.id = id || null;
    this.isNew = !id;
    this.tz = siteTimeZone(ctx);
    this.touched = new Set();
    this.submitted = false;
    this.serverErrors = [];
    this.clientErrors = [];
    this.idEdited = false;
    this.timers = {};
    this.aborts = {};
    this.tags = [];
    this.inboxes = [];
    this.sample = null;
    this.preview = null;
    this.disposed = false;
    this.dirty = false;
    this.state = {
      id: "", title: "", message: "", inbox: "", any: [], none: [], condition: "",
      mode: "later", local: tomorrowAtTen(this.tz), quietFrom: "", quietTo: "", engagement: "",
    };
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
    for (const t of Object.values(this.timers)) clearTimeout(t);
    for (const a of Object.values(this.aborts)) a?.abort();
    window.removeEventListener("beforeunload", this.onBeforeUnload);
  }

  async start() {
    fill(this.root, h("p", { class: "crumbs" }, h("a", { href: "#/sms" }, "SMS campaigns"), " › ", this.isNew ? "New" : this.id),
      h("h1", {}, this.isNew ? "New SMS campaign" : `Edit ${this.id}`), h("p", { class: "muted" }, "Loading…"));
    let campaign = null;
    try {
      const [ib, tags, c] = await Promise.all([
        api.smsInboxes(),
        api.contactTags().catch(() => ({ tags: [] })),
        this.isNew ? null : api.smsCampaign(this.id),
      ]);
      this.inboxes = ib?.inboxes || [];
      this.tags = tags?.tags || [];
      campaign = c;
    } catch (e) {
      if (this.disposed) return;
      fill(this.root, h("div", { class: "msg error", role: "alert" },
        h("p", {}, e.status === 404 && !this.isNew ? `There is no SMS campaign “${this.id}”.` : `Could not load the form: ${e.message}`),
        h("a", { class: "btn", href: "#/sms" }, "Back to SMS campaigns")));
      return;
    }
    if (this.disposed) return;
    if (campaign) {
      if (campaign.status !== "scheduled") {
        fill(this.root, h("div", { class: "empty-state" },
          h("h1", {}, `“${campaign.title || campaign.id}” can't be edited`),
          h("p", {}, "Only a scheduled campaign can be changed; this one is ", h("b", {}, campaign.status), "."),
          h("a", { class: "btn", href: reportHash(campaign.id) }, "See its report")));
        return;
      }
      this.load(campaign);
    } else if (this.inboxes.length === 1) this.state.inbox = this.inboxes[0].id;
    this.render();
    settleFocus(this.root);
    this.validate();
    this.countSoon(0);
    this.audienceSoon(0);
  }

  load(c) {
    const s = this.state;
    s.id = c.id;
    s.title = c.title || "";
    s.message = c.message || "";
    s.inbox = c.inbox || "";
    s.any = [...(c.audience?.tags?.any || [])];
    s.none = [...(c.audience?.tags?.none || [])];
    s.condition = c.audience?.condition ? JSON.stringify(c.audience.condition, null, 2) : "";
    s.mode = c.scheduled_at ? "later" : "now";
    if (c.scheduled_at) s.local = dateToZoned(new Date(c.scheduled_at), this.tz);
    s.quietFrom = c.quiet_hours?.from || "";
    s.quietTo = c.quiet_hours?.to || "";
    s.engagement = c.engagement || "";
    this.idEdited = true;
  }

  // ---- rendering ------------------------------------------------------------------------------

  field(path, label, control, { help, required, extra } = {}) {
    const id = control.id || uid("sf");
    control.id = id;
    const helpId = help ? `${id}-help` : null;
    const errId = `${id}-err`;
    control.setAttribute("aria-describedby", [helpId, errId].filter(Boolean).join(" "));
    control.dataset.path = path;
    if (required) control.setAttribute("aria-required", "true");
    return h("div", { class: "field", dataset: { path } },
      h("label", { for: id }, label, required ? h("span", { class: "req", "aria-hidden": "true" }, " *") : null),
      control,
      extra || null,
      help ? h("p", { class: "help", id: helpId }, help) : null,
      h("ul", { class: "errors", id: errId }));
  }

  group(legend, path, children, testid) {
    return h("fieldset", { class: "group", dataset: { path, testid } },
      h("legend", {}, legend),
      h("ul", { class: "errors" }),
      children);
  }

  render() {
    const s = this.state;
    this.summary = h("div", { class: "error-summary", role: "alert", tabindex: "-1", hidden: true, dataset: { testid: "error-summary" } });
    this.statusLine = h("span", { class: "server-check muted small", "aria-live": "polite", dataset: { testid: "sms-save-status" } });

    // Campaign: title, id.
    const title = h("input", { type: "text", name: "title", value: s.title, placeholder: "Winter sale", autocomplete: "off", maxlength: 200, dataset: { testid: "sms-field-title" } });
    title.addEventListener("input", () => {
      s.title = title.value;
      this.touch("title");
      if (this.isNew && !this.idEdited) {
        s.id = slugify(title.value);
        idInput.value = s.id;
      }
      this.changed();
    });
    const idInput = h("input", {
      type: "text", name: "id", value: s.id, class: "mono", placeholder: "winter-sale", autocomplete: "off", spellcheck: "false",
      maxlength: 64, readonly: !this.isNew, dataset: { testid: "sms-field-id" },
    });
    idInput.addEventListener("input", () => {
      s.id = idInput.value.trim();
      this.idEdited = s.id !== "";
      this.touch("id");
      this.changed();
    });

    // Message, counter.
    const message = h("textarea", { name: "message", rows: 5, value: s.message, placeholder: "Hi {{name}}, 20% off everything until Sunday. Reply STOP to opt out.", dataset: { testid: "sms-field-message" } });
    message.addEventListener("input", () => {
      s.message = message.value;
      this.touch("message");
      this.changed();
      this.countSoon();
    });
    this.messageInput = message;
    this.counter = h("p", { class: "counter", id: uid("counter"), "aria-live": "polite", dataset: { testid: "sms-counter" } }, "…");
    const insert = (text) => {
      const start = message.selectionStart ?? message.value.length;
      const end = message.selectionEnd ?? start;
      message.setRangeText(text, start, end, "end");
      message.focus();
      message.dispatchEvent(new Event("input"));
    };
    const placeholders = h("div", { class: "insert-row" },
      h("span", { class: "small muted" }, "Insert:"),
      ["{{name}}", "{{id}}"].map((p) => h("button", { type: "button", class: "btn small ghost ph", onclick: () => insert(p), "aria-label": `Insert ${p}` }, p)),
      h("button", { type: "button", class: "btn small ghost", onclick: () => insert("Reply STOP to opt out."), dataset: { testid: "sms-insert-stop" } }, "Opt-out line"),
      // Narrow screens show the phone below the form: a way there and back.
      h("button", { type: "button", class: "btn small ghost narrow-only", onclick: () => {
        const pane = document.getElementById("sms-preview-title");
        pane?.scrollIntoView({ block: "start" });
        pane?.setAttribute("tabindex", "-1");
        pane?.focus({ preventScroll: true });
      } }, "See it on the phone ↓"));

    // Inbox and replies.
    const inbox = h("select", { name: "inbox", value: s.inbox, dataset: { testid: "sms-inbox" } },
      h("option", { value: "" }, this.inboxes.length ? "Choose an inbox…" : "No inbox on this site"),
      this.inboxes.map((i) => h("option", { value: i.id }, `${i.name || i.id}${i.from ? ` · ${i.from}` : ""}`)),
      s.inbox && !this.inboxes.some((i) => i.id === s.inbox) ? h("option", { value: s.inbox }, `${s.inbox} (unknown)`) : null);
    inbox.addEventListener("change", () => {
      s.inbox = inbox.value;
      this.touch("inbox");
      this.changed();
    });
    this.inboxHelp = h("p", { class: "help" });
    const outbound = outboundEngagements(this.ctx.doc);
    const engagement = outbound.length
      ? h("select", { name: "engagement", value: s.engagement, dataset: { testid: "sms-engagement" } },
        h("option", { value: "" }, "Automatic (the one whose sender is this number)"),
        outbound.map((e) => h("option", { value: e.id }, `${e.name || e.id} · ${e.campaign}`)))
      : null;
    engagement?.addEventListener("change", () => {
      s.engagement = engagement.value;
      this.touch("engagement");
      this.changed();
    });

    // Audience.
    const pickers = h("div", { class: "grid-2 tag-pickers" },
      this.tagPicker("any", "Any of these tags", "Contacts with at least one of them. None picked: every contact."),
      this.tagPicker("none", "None of these tags", "Contacts with one of them are left out."));
    const condition = h("textarea", { name: "condition", rows: 3, class: "mono", spellcheck: "false", value: s.condition, placeholder: '{"attributes.city": "Leeds"}', dataset: { testid: "sms-condition" } });
    condition.addEventListener("input", () => {
      s.condition = condition.value;
      this.touch("audience.condition");
      this.changed();
      this.audienceSoon();
    });
    this.audienceOut = h("p", { class: "audience-size", "aria-live": "polite", dataset: { testid: "sms-audience-size" } }, "Counting…");

    // When.
    const radio = (value, label) => {
      const rid = uid("when");
      const r = h("input", { type: "radio", id: rid, name: "when", value, checked: s.mode === value, dataset: { testid: `sms-when-${value}` } });
      r.addEventListener("change", () => {
        if (!r.checked) return;
        s.mode = value;
        this.touch("scheduled_at");
        local.disabled = value === "now";
        this.changed();
      });
      return h("span", { class: "radio" }, r, h("label", { for: rid }, label));
    };
    const local = h("input", { type: "datetime-local", name: "scheduled_at", value: s.local, step: 60, min: dateToZoned(new Date(), this.tz), disabled: s.mode === "now", dataset: { testid: "sms-schedule" } });
    local.addEventListener("input", () => {
      s.local = local.value;
      this.touch("scheduled_at");
      this.changed();
    });
    this.localInput = local;
    this.whenNote = h("p", { class: "help", dataset: { testid: "sms-when-note" } });
    const browserTz = browserTimeZone();
    const quiet = (key, label, path) => {
      const q = h("input", { type: "time", name: path, value: s[key], step: 60, dataset: { testid: `sms-${path.replace(".", "-").replace("_", "-")}` } });
      q.addEventListener("input", () => {
        s[key] = q.value;
        this.touch("quiet_hours");
        this.changed();
      });
      return this.field(path, label, q);
    };

    this.form = h("form", { class: "editor sms-form", novalidate: true, dataset: { testid: "sms-form" }, "aria-labelledby": "sms-form-title" },
      this.summary,
      this.group("Campaign", "", h("div", { class: "grid-2" },
        this.field("title", "Title", title, { required: true, help: "For you and your team; recipients don't see it." }),
        this.field("id", "Campaign id", idInput, { required: true, help: this.isNew ? "Made from the title; lowercase letters, digits, - and _. It can't change later." : "An id can't change." })), "sms-section-campaign"),
      this.group("Message", "message", [
        this.field("message", "Text", message, {
          required: true,
          help: h("span", {}, "Plain text. ", h("code", {}, "{{name}}"), ", ", h("code", {}, "{{id}}"), " and ", h("code", {}, "{{attributes.city}}"), " are filled in for each contact; ", h("code", {}, "{{name | there}}"), " says what to write for a contact without one. Characters outside GSM-7 (most emoji, curly quotes) switch the whole message to UCS-2: 70 characters a segment instead of 160."),
          extra: [placeholders, this.counter],
        }),
      ], "sms-section-message"),
      this.group("Sent from", "inbox", [
        h("div", { class: "grid-2" },
          this.field("inbox", "SMS inbox", inbox, { required: true, extra: this.inboxHelp }),
          engagement ? this.field("engagement", "Replies go to", engagement, { help: "The outbound engagement whose agents answer the replies." }) : null),
        this.inboxes.length ? null : h("p", { class: "msg warn" }, "This site has no SMS inbox yet. Add one with ", h("code", {}, `PUT /admin/v1/sites/${api.session.site}/sms/inboxes/{inbox}`), ", then reload this page."),
      ], "sms-section-inbox"),
      this.group("Audience", "audience", [
        pickers,
        h("details", { class: "more", open: Boolean(s.condition) },
          h("summary", {}, "Condition on contact fields (optional)"),
          this.field("audience.condition", "Condition (GrowthBook / MongoDB syntax)", condition, { help: "Over the contact's fields and attributes, e.g. {\"attributes.city\": {\"$in\": [\"Leeds\", \"York\"]}}." })),
        this.audienceOut,
      ], "sms-section-audience"),
      this.group("When", "scheduled_at", [
        h("div", { class: "field", dataset: { path: "scheduled_at" } },
          h("div", { class: "radios", role: "radiogroup", "aria-label": "When to send" }, radio("later", "At a date and time"), radio("now", "Send now")),
          h("label", { for: local.id || (local.id = uid("sf")), class: "label" }, `Date and time (${this.tz})`),
          local,
          this.whenNote,
          h("ul", { class: "errors" })),
        h("fieldset", { class: "quiet", dataset: { path: "quiet_hours" } },
          h("legend", { class: "label" }, "Quiet hours (optional)"),
          h("p", { class: "help" }, "No message is sent between these times in each contact's own time zone (", h("code", {}, "timezone"), ", else the site's); they wait until the morning."),
          h("div", { class: "grid-2 quiet-times" }, quiet("quietFrom", "From", "quiet_hours.from"), quiet("quietTo", "To", "quiet_hours.to")),
          h("ul", { class: "errors" })),
        browserTz !== this.tz ? h("p", { class: "help" }, `Your browser is in ${browserTz}; dates here are in the site's time zone, ${this.tz}.`) : null,
      ], "sms-section-when"),
      h("div", { class: "save-bar" },
        h("button", { type: "submit", class: "btn primary", dataset: { testid: "sms-save" } }, this.isNew ? "Create campaign" : "Save changes"),
        h("a", { class: "btn ghost", href: this.isNew ? "#/sms" : reportHash(this.id), dataset: { testid: "sms-cancel-edit" } }, "Cancel"),
        this.statusLine));
    this.form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      this.save();
    });
    this.previewSlot = h("div", {});
    fill(this.root, h("div", { class: "editor-layout sms-layout" },
      h("div", {},
        h("div", { class: "page-head" }, h("div", {},
          h("p", { class: "crumbs" }, h("a", { href: "#/sms" }, "SMS campaigns"), " › ", this.isNew ? "New" : this.id),
          h("h1", { id: "sms-form-title" }, this.isNew ? "New SMS campaign" : `Edit “${s.title || s.id}”`))),
        this.form),
      h("aside", { class: "preview-pane", "aria-labelledby": "sms-preview-title", tabindex: "0" },
        h("h2", { id: "sms-preview-title" }, "On the phone"),
        this.previewSlot)));
    this.updateDerived();
  }

  tagPicker(which, legend, help) {
    const s = this.state;
    const known = this.tags.map((t) => t.tag);
    const extra = s[which].filter((t) => !known.includes(t)).map((tag) => ({ tag, contacts: null }));
    const all = [...this.tags, ...extra];
    const path = `audience.tags.${which}`;
    const boxes = all.map((t) => {
      const bid = uid("tag");
      const box = h("input", { type: "checkbox", id: bid, value: t.tag, checked: s[which].includes(t.tag), dataset: { which, tag: t.tag } });
      box.addEventListener("change", () => {
        const other = which === "any" ? "none" : "any";
        s[which] = box.checked ? [...s[which], t.tag] : s[which].filter((x) => x !== t.tag);
        if (box.checked && s[other].includes(t.tag)) {
          s[other] = s[other].filter((x) => x !== t.tag);
          const twin = this.form.querySelector(`[data-which="${other}"][data-tag="${CSS.escape(t.tag)}"]`);
          if (twin) twin.checked = false;
        }
        this.touch("audience");
        this.changed();
        this.audienceSoon();
      });
      return h("span", { class: `tag-check ${which}` }, box,
        h("label", { for: bid }, t.tag, t.contacts != null ? h("small", {}, ` ${t.contacts.toLocaleString()}`) : null));
    });
    const helpId = uid("tag-help");
    return h("fieldset", { class: "tag-picker", dataset: { path, testid: `sms-tags-${which}` }, "aria-describedby": helpId },
      h("legend", { class: "label" }, legend),
      all.length ? h("div", { class: "tag-checks" }, boxes) : h("p", { class: "muted small" }, "No tags yet: import contacts with tags first."),
      h("p", { class: "help", id: helpId }, help),
      h("ul", { class: "errors" }));
  }

  // ---- the request body and its checks ---------------------------------------------------------

  /** The body as it would be sent (client-side problems in `this.clientErrors`). */
  body() {
    const s = this.state;
    const problems = [];
    const audience = { tags: { any: [...s.any], none: [...s.none] } };
    if (s.condition.trim()) {
      try {
        const c = JSON.parse(s.condition);
        if (!c || typeof c !== "object" || Array.isArray(c)) problems.push({ path: "audience.condition", message: "A condition is a JSON object, e.g. {\"attributes.city\": \"Leeds\"}." });
        else audience.condition = c;
      } catch (e) {
        problems.push({ path: "audience.condition", message: `Not valid JSON: ${e.message}` });
      }
    }
    let scheduled = null;
    if (s.mode === "later") {
      const when = zonedToDate(s.local, this.tz);
      if (!s.local) problems.push({ path: "scheduled_at", message: "Pick a date and time, or Send now." });
      else if (!when) problems.push({ path: "scheduled_at", message: "Not a date and time." });
      else if (when.getTime() < Date.now()) problems.push({ path: "scheduled_at", message: `That time has passed (it is ${formatInZone(new Date(), this.tz)} now).` });
      else scheduled = rfc3339(when);
    }
    let quiet = null;
    if (s.quietFrom || s.quietTo) {
      if (!s.quietFrom) problems.push({ path: "quiet_hours.from", message: "Give the time quiet hours start, or clear both." });
      if (!s.quietTo) problems.push({ path: "quiet_hours.to", message: "Give the time quiet hours end, or clear both." });
      if (s.quietFrom && s.quietTo && s.quietFrom === s.quietTo) problems.push({ path: "quiet_hours.to", message: "Quiet hours need to end at another time than they start." });
      quiet = { from: s.quietFrom, to: s.quietTo };
    }
    if (!s.title.trim()) problems.push({ path: "title", message: "Give the campaign a title." });
    if (!s.id) problems.push({ path: "id", message: "Give the campaign an id." });
    else if (!ID_RE.test(s.id)) problems.push({ path: "id", message: "An id is 1–64 lowercase letters, digits, - and _, starting with a letter or digit." });
    if (!s.message.trim()) problems.push({ path: "message", message: "Write the message." });
    else if (this.preview) {
      const max = this.preview.max_segments || MAX_SEGMENTS;
      if (this.preview.segments > max) problems.push({ path: "message", message: `${this.preview.segments} segments: a message can have at most ${max}.` });
      // The server's template check (unknown placeholders, unclosed braces), live.
      for (const x of this.preview.problems || []) {
        problems.push({ path: "message", message: typeof x.offset === "number" ? `at character ${x.offset + 1}: ${x.message}` : x.message });
      }
    }
    if (!s.inbox) problems.push({ path: "inbox", message: this.inboxes.length ? "Choose the inbox to send from." : "Add an SMS inbox to the site first." });
    this.clientErrors = problems;
    return {
      id: s.id, title: s.title.trim(), message: s.message, inbox: s.inbox, audience,
      scheduled_at: scheduled, quiet_hours: quiet, engagement: s.engagement || null,
    };
  }

  touch(path) {
    this.touched.add(path);
    this.lastTouched = path;
    this.dirty = true;
  }

  visible(p) {
    if (this.submitted) return true;
    for (const t of this.touched) if (isPrefix(t, p.path) || isPrefix(p.path, t)) return true;
    return false;
  }

  changed() {
    // A server problem is about the body it was given: editing that field clears it.
    const t = this.lastTouched;
    if (t !== undefined) this.serverErrors = this.serverErrors.filter((p) => !(isPrefix(t, p.path) || isPrefix(p.path, t)));
    this.validate();
  }

  validate() {
    this.body();
    this.showErrors();
    this.updateDerived();
  }

  showErrors() {
    const form = this.form;
    for (const ul of form.querySelectorAll("ul.errors")) fill(ul);
    for (const el of form.querySelectorAll(".invalid")) el.classList.remove("invalid");
    for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
    const seen = new Set();
    const all = [...this.serverErrors, ...this.clientErrors.filter((p) => this.visible(p))].filter((p) => {
      const k = `${p.path}\n${p.message}`;
      if (seen.has(k)) return false;
      seen.add(k);
      return true;
    });
    // The inputs and groups (not the messages: they carry data-path too). On a tie the later,
    // inner one wins (a field inside a group of the same path).
    const anchors = [...form.querySelectorAll("[data-path]")].filter((el) => !el.matches("li") && !this.summary.contains(el));
    const items = [];
    for (const p of all) {
      let best = null;
      for (const el of anchors) {
        const dp = el.dataset.path;
        if (dp && isPrefix(dp, p.path) && (!best || dp.length >= best.dataset.path.length)) best = el;
      }
      const host = best?.closest(".field, fieldset") || null;
      const list = host?.querySelector(":scope > ul.errors");
      if (list) {
        list.append(h("li", { dataset: { testid: "field-error", path: p.path } }, p.message));
        host.classList.add("invalid");
        const inputs = best.matches("input, select, textarea") ? [best] : [...host.querySelectorAll(":scope > input, :scope > select, :scope > textarea")];
        for (const i of inputs) i.setAttribute("aria-invalid", "true");
        const d = host.closest("details");
        if (d) d.open = true;
      }
      items.push({ p, target: best });
    }
    this.summary.hidden = !items.length;
    if (!items.length) {
      fill(this.summary);
      return;
    }
    fill(this.summary,
      h("h2", {}, items.length === 1 ? "1 problem to fix" : `${items.length} problems to fix`),
      h("ul", {}, items.map(({ p, target }) => {
        const b = h("button", { type: "button", class: "link" }, h("code", {}, p.path || "campaign"), ` ${p.message}`);
        b.addEventListener("click", () => {
          const f = target?.matches("input, select, textarea") ? target : target?.querySelector("input, select, textarea");
          (f || target)?.focus();
          target?.scrollIntoView({ block: "center" });
        });
        return h("li", { dataset: { testid: "error-item", path: p.path, source: p.source || "client" } }, b);
      })));
  }

  updateDerived() {
    const s = this.state;
    const ib = this.inboxes.find((i) => i.id === s.inbox);
    // The inbox's numbers: rate, and how long the audience takes at that rate.
    if (this.inboxHelp) {
      if (ib) {
        const size = this.audience?.size;
        const secs = ib.rate_per_second > 0 && size ? size / ib.rate_per_second : null;
        fill(this.inboxHelp,
          `${ib.provider || "provider"} · from ${ib.from || "?"} · ${ib.rate_per_second ?? "?"} messages a second`,
          secs ? ` · ≈ ${duration(secs)} for this audience` : "");
      } else fill(this.inboxHelp);
    }
    // The schedule, in words.
    if (this.whenNote) {
      if (s.mode === "now") fill(this.whenNote, "Sending starts as soon as you create the campaign.");
      else {
        const when = zonedToDate(s.local, this.tz);
        if (when && !Number.isNaN(when.getTime())) {
          const back = dateToZoned(when, this.tz);
          const bt = browserTimeZone();
          fill(this.whenNote,
            back !== s.local ? `${s.local.replace("T", " ")} doesn't exist in ${this.tz} (the clocks change): it would go at ${formatInZone(when, this.tz)}. ` : "",
            `Sends ${formatInZone(when, this.tz)}`,
            bt !== this.tz ? ` (${formatInZone(when, bt)} for you)` : "",
            `, ${relative(when.getTime() - Date.now())}.`);
        } else fill(this.whenNote, `In the site's time zone, ${this.tz}.`);
      }
      if (this.localInput) this.localInput.min = dateToZoned(new Date(), this.tz);
    }
    const at = s.mode === "now" ? new Date() : zonedToDate(s.local, this.tz);
    fill(this.previewSlot, phonePreview({
      message: s.message, sender: ib?.from || ib?.name || "Your inbox", sample: this.sample,
      when: at && !Number.isNaN(at.getTime()) ? phoneTime(at, this.tz) : undefined,
      counter: this.preview ? `${plural(this.preview.segments, "segment")} · ${ENCODING_LABEL[this.preview.encoding] || this.preview.encoding}` : null,
    }));
  }

  // ---- the server's counter and audience --------------------------------------------------------

  countSoon(delay = 250) {
    clearTimeout(this.timers.count);
    this.timers.count = setTimeout(() => this.count(), delay);
  }

  async count() {
    const text = this.state.message;
    this.aborts.count?.abort();
    const ctl = new AbortController();
    this.aborts.count = ctl;
    if (!text) {
      this.preview = null;
      this.drawCounter({ encoding: "gsm7", characters: 0, segments: 0, characters_per_segment: 160 });
      this.validate();
      return;
    }
    try {
      const p = await api.smsPreview(text, ctl.signal);
      if (ctl.signal.aborted || this.disposed) return;
      this.preview = p;
      this.drawCounter(p);
      this.validate();
    } catch (e) {
      if (e?.name === "AbortError" || this.disposed) return;
      this.preview = null;
      fill(this.counter, h("span", { class: "muted" }, `Counter unavailable: ${e.message}`));
    }
  }

  drawCounter(p) {
    const max = p.max_segments || MAX_SEGMENTS;
    const over = p.segments > max;
    const left = p.segments ? p.segments * p.characters_per_segment - p.characters : p.characters_per_segment;
    this.counter.dataset.encoding = p.encoding;
    this.counter.dataset.segments = String(p.segments);
    this.counter.dataset.characters = String(p.characters);
    this.counter.className = `counter${over ? " over" : ""}${p.encoding === "ucs2" ? " ucs2" : ""}`;
    fill(this.counter,
      h("b", {}, plural(p.characters, "character")),
      " · ",
      h("b", {}, plural(p.segments, "segment")),
      " · ",
      h("span", { class: `enc ${p.encoding}`, title: p.encoding }, ENCODING_LABEL[p.encoding] || p.encoding),
      h("span", { class: "muted" }, ` (${p.characters_per_segment} a segment${p.segments ? `, ${left} left in this one` : ""})`),
      over ? h("span", { class: "over-note" }, ` — over the ${max}-segment limit`) : null);
  }

  audienceSoon(delay = 300) {
    clearTimeout(this.timers.audience);
    this.timers.audience = setTimeout(() => this.countAudience(), delay);
  }

  async countAudience() {
    const body = this.body();
    if (this.clientErrors.some((p) => p.path.startsWith("audience"))) {
      fill(this.audienceOut, h("span", { class: "muted" }, "Fix the condition to count the audience."));
      return;
    }
    this.aborts.audience?.abort();
    const ctl = new AbortController();
    this.aborts.audience = ctl;
    this.audienceOut.classList.add("busy");
    try {
      const a = await api.smsAudience(body.audience, ctl.signal);
      if (ctl.signal.aborted || this.disposed) return;
      this.audience = a;
      this.sample = a.sample || null;
      this.audienceOut.dataset.size = String(a.size);
      const skipped = [
        a.opted_out ? `${plural(a.opted_out, "contact")} opted out` : null,
        a.no_consent ? `${plural(a.no_consent, "contact")} without consent` : null,
        a.duplicates ? `${plural(a.duplicates, "duplicate number")}` : null,
      ].filter(Boolean);
      fill(this.audienceOut,
        h("span", { class: "big-num" }, (a.size ?? 0).toLocaleString()),
        ` ${a.size === 1 ? "recipient" : "recipients"} right now`,
        skipped.length ? h("span", { class: "muted" }, ` · skipped: ${skipped.join(", ")}`) : null,
        h("span", { class: "muted small block" }, "The audience is counted again when sending starts."));
      this.updateDerived();
    } catch (e) {
      if (e?.name === "AbortError" || this.disposed) return;
      if (e.status === 422) {
        this.serverErrors = [...this.serverErrors.filter((p) => !p.path.startsWith("audience")),
          ...(e.details || []).map((d) => ({ path: d.path || "audience", message: d.message, source: "server" }))];
        this.showErrors();
        fill(this.audienceOut, h("span", { class: "muted" }, "The server can't count this audience: see above."));
      } else fill(this.audienceOut, h("span", { class: "muted" }, `Audience size unavailable: ${e.message}`));
    } finally {
      this.audienceOut.classList.remove("busy");
    }
  }

  // ---- saving -------------------------------------------------------------------------------------

  async save() {
    this.submitted = true;
    this.serverErrors = [];
    const body = this.body();
    this.showErrors();
    if (this.clientErrors.length) {
      this.summary.focus();
      toast("Fix the highlighted fields first.", "error");
      return;
    }
    if (body.scheduled_at === null) {
      const size = this.audience?.size;
      const ok = await confirmDialog({
        title: "Send now?",
        message: `“${body.title}” goes out at once${typeof size === "number" ? ` to about ${plural(size, "recipient")}` : ""}. You can stop it while it sends, but messages already sent can't be recalled.`,
        confirmLabel: "Send now",
      });
      if (!ok) return;
    }
    const button = this.form.querySelector("[data-testid=sms-save]");
    button.disabled = true;
    this.statusLine.textContent = this.isNew ? "Creating…" : "Saving…";
    try {
      let res;
      if (this.isNew) res = await api.createSmsCampaign(body);
      else {
        const { id: _, ...patch } = body;
        res = await api.updateSmsCampaign(this.id, patch);
      }
      this.dirty = false;
      const id = res?.id || body.id;
      toast(body.scheduled_at === null
        ? `“${body.title}” is sending`
        : `${this.isNew ? "Scheduled" : "Saved"} “${body.title}” for ${formatInZone(body.scheduled_at, this.tz)}`);
      location.hash = body.scheduled_at === null || !this.isNew ? reportHash(id) : "#/sms";
    } catch (e) {
      button.disabled = false;
      if (e.status === 422) {
        this.serverErrors = (e.details?.length ? e.details : [{ path: "", message: e.message }]).map((d) => ({ path: d.path || "", message: d.message, source: "server" }));
        this.statusLine.textContent = "Not saved: the server found problems.";
        this.showErrors();
        this.summary.focus();
      } else if (e.status === 409) {
        this.serverErrors = [{ path: this.isNew ? "id" : "", message: this.isNew ? `${e.message} Choose another id.` : `${e.message} It has started sending, so it can no longer be changed.`, source: "server" }];
        this.statusLine.textContent = "Not saved.";
        this.showErrors();
        this.summary.focus();
      } else {
        this.statusLine.textContent = "Not saved.";
        toast(`Could not save: ${e.message}`, "error");
      }
    }
  }
}

/** "Sat 5 Dec 10:00" in `tz`, as a phone heads a message (the contact's zone may differ). */
export function phoneTime(date, tz) {
  try {
    return date.toLocaleString(undefined, { timeZone: tz, weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" });
  } catch (_) {
    return date.toLocaleString();
  }
}

function duration(secs) {
  if (secs < 90) return `${Math.max(1, Math.round(secs))} s`;
  if (secs < 5400) return `${Math.round(secs / 60)} min`;
  return `${(secs / 3600).toFixed(1)} h`;
}

function relative(ms) {
  const abs = Math.abs(ms);
  const rtf = new Intl.RelativeTimeFormat(undefined, { numeric: "auto" });
  if (abs < 3600000) return rtf.format(Math.round(ms / 60000), "minute");
  if (abs < 86400000 * 2) return rtf.format(Math.round(ms / 3600000), "hour");
  return rtf.format(Math.round(ms / 86400000), "day");
}
