// The campaign list: one card per campaign, an enable switch on each (PATCH), delete with a
// confirmation dialog, and an empty state that explains what a campaign is.

import { h, toast, confirmDialog, fill } from "./dom.js";
import * as api from "./api.js";
import {
  FORMAT_LABEL, describeEntryPoint, describeTimeframe, leadCreative, unique, zoneKey,
} from "./model.js";
import { plainText, truncateWords } from "./richtext.js";

export function renderCampaigns(root, ctx) {
  const campaigns = ctx.doc?.campaigns || [];
  const create = h("a", { class: "btn primary big", href: "#/campaigns/new", dataset: { testid: "create-campaign" } },
    h("span", { "aria-hidden": "true" }, "+ "), "Create campaign");

  const head = h("div", { class: "page-head" },
    h("div", {},
      h("h1", {}, "Campaigns"),
      h("p", { class: "muted" }, campaigns.length
        ? `${campaigns.length} campaign${campaigns.length === 1 ? "" : "s"} on site “${api.session.site}”` + (ctx.version ? ` · version ${ctx.version}` : "")
        : `Site “${api.session.site}” has no campaigns yet.`)),
    campaigns.length ? create : null);

  if (!campaigns.length) {
    fill(root, head, emptyState(create));
    return;
  }

  const filter = h("input", {
    type: "search", id: "campaign-filter", placeholder: "Filter by name, id, skill or format",
    dataset: { testid: "campaign-filter" }, autocomplete: "off",
  });
  const list = h("div", { class: "card-list", dataset: { testid: "campaign-list" } },
    campaigns.map((c) => card(c, ctx)));
  const count = h("p", { class: "muted small", "aria-live": "polite" });
  filter.addEventListener("input", () => {
    const q = filter.value.trim().toLowerCase();
    let shown = 0;
    for (const el of list.children) {
      const hit = !q || el.dataset.search.includes(q);
      el.hidden = !hit;
      if (hit) shown++;
    }
    count.textContent = q ? `${shown} of ${campaigns.length} shown` : "";
  });
  fill(root, head,
    h("div", { class: "toolbar" }, h("label", { for: "campaign-filter", class: "visually-hidden" }, "Filter campaigns"), filter, count),
    list);
}

function emptyState(create) {
  return h("section", { class: "empty-state", dataset: { testid: "empty-state" }, "aria-labelledby": "empty-title" },
    emptyArt(),
    h("h2", { id: "empty-title" }, "Start your first campaign"),
    h("p", {}, "A campaign decides ", h("b", {}, "who"), " is invited to chat, ", h("b", {}, "where"), " and ", h("b", {}, "when"),
      ". It holds one or more engagements — a chat button, a banner, a sticky tab, an overlay, a toaster or a peeling corner — each with its page rules, behavior triggers and a creative for when agents are online, busy or offline."),
    h("ul", { class: "checklist" },
      h("li", {}, "Target pages with entry points (URL patterns, titles, sections)."),
      h("li", {}, "Trigger on behavior: time on page, scrolling, exit intent, idle time."),
      h("li", {}, "Hold out a control group to measure the lift in conversions.")),
    h("div", { class: "actions center" }, create,
      h("a", { class: "btn", href: "#/versions" }, "Upload a campaign document")));
}

function emptyArt() {
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", "0 0 120 80");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("class", "empty-art");
  const add = (tag, attrs) => {
    const n = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v);
    svg.append(n);
  };
  add("rect", { x: 8, y: 8, width: 104, height: 64, rx: 8, fill: "var(--surface-2)", stroke: "var(--line)" });
  add("rect", { x: 16, y: 18, width: 50, height: 6, rx: 3, fill: "var(--line)" });
  add("rect", { x: 16, y: 30, width: 36, height: 6, rx: 3, fill: "var(--line)" });
  add("rect", { x: 70, y: 44, width: 36, height: 20, rx: 6, fill: "var(--accent)" });
  add("rect", { x: 76, y: 51, width: 24, height: 5, rx: 2.5, fill: "#fff" });
  add("circle", { cx: 100, cy: 20, r: 7, fill: "var(--ok)" });
  return svg;
}

function card(c, ctx) {
  const doc = ctx.doc;
  const engagements = c.engagements || [];
  const { creative, engagement } = leadCreative(doc, c);
  const message = truncateWords(plainText(creative?.message || creative?.title || ""), 140);
  const senders = unique(engagements.map((e) => e.sender?.name));
  const skills = unique(engagements.map((e) => e.skill));
  const web = engagements.filter((e) => e.source !== "offsite");
  const offsite = engagements.filter((e) => e.source === "offsite");
  const entry = unique(web.map((e) => describeEntryPoint(doc, e.entry_point)));
  const formats = web.map((e) => ({ e, label: FORMAT_LABEL[e.format] || e.format || "?", zone: zoneKey(e) }));
  const title = c.name || c.id;
  const enabled = c.enabled !== false;

  const status = h("span", { class: `status ${enabled ? "on" : "off"}`, dataset: { testid: "campaign-status" } }, enabled ? "Enabled" : "Disabled");
  const toggle = h("button", {
    type: "button", role: "switch", class: "switch", "aria-checked": String(enabled),
    "aria-label": `Enabled: ${title}`, dataset: { testid: "toggle-enabled" },
  }, h("span", { class: "knob", "aria-hidden": "true" }));
  toggle.addEventListener("click", () => toggleEnabled(c, toggle, status, ctx));

  const del = h("button", { type: "button", class: "btn ghost danger", dataset: { testid: "delete-campaign" } }, "Delete");
  del.addEventListener("click", () => remove(c, ctx, del));

  const meta = h("dl", { class: "meta" },
    row("Sender", senders.join(", ") || "—"),
    row("Skill", skills.join(", ") || "Any (site-wide availability)"),
    row("Entry points", entry.length ? entry.join("; ") : offsite.length ? "Offsite links only" : "—"),
    row("Formats", formats.length
      ? h("span", { class: "chips" }, formats.map((f) => h("span", { class: "chip", title: f.e.id, dataset: { format: f.e.format } }, f.label, f.zone ? h("small", {}, ` · ${f.zone}`) : null)))
      : "—"),
    row("Time frame", describeTimeframe(doc, c)),
    row("Priority", `${c.priority ?? 0}` + (c.control_group_percent ? ` · control group ${c.control_group_percent}%` : "")));

  const search = [c.id, c.name, c.goal, ...skills, ...senders, ...engagements.map((e) => `${e.id} ${e.name || ""} ${e.format || ""}`)].join(" ").toLowerCase();

  return h("article", {
    class: `campaign-card${enabled ? "" : " disabled"}`,
    dataset: { testid: "campaign-card", campaignId: c.id, enabled: String(enabled), search },
    "aria-labelledby": `card-${c.id}`,
  },
  h("header", { class: "card-head" },
    h("div", { class: "card-title" },
      h("h2", { id: `card-${c.id}` }, h("a", { href: `#/campaigns/edit/${encodeURIComponent(c.id)}` }, title)),
      h("p", { class: "muted small" }, h("code", {}, c.id), c.goal ? ` · goal: ${c.goal}` : "", ` · ${engagements.length} engagement${engagements.length === 1 ? "" : "s"}`)),
    h("div", { class: "card-status" }, status, toggle)),
  message
    ? h("blockquote", { class: "message", dataset: { testid: "campaign-message" }, title: engagement ? `From ${engagement.id}` : null }, message)
    : h("p", { class: "muted message-empty" }, "No creative message"),
  meta,
  offsite.length ? h("div", { class: "offsite-list" }, offsite.map(offsiteBlock)) : null,
  h("footer", { class: "card-actions" },
    h("a", { class: "btn", href: `#/campaigns/edit/${encodeURIComponent(c.id)}`, dataset: { testid: "edit-campaign" } }, "Edit"),
    h("a", { class: "btn ghost", href: `#/simulate?campaign=${encodeURIComponent(c.id)}` }, "Simulate"),
    del));
}

function row(label, value) {
  return [h("dt", {}, label), h("dd", {}, value)];
}

export function offsiteBlock(e) {
  const link = api.offsiteLink(e.id);
  const abs = new URL(link, location.origin).href;
  const copy = h("button", { type: "button", class: "btn small ghost" }, "Copy link");
  copy.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(abs);
      toast("Link copied");
    } catch (_) {
      toast(abs);
    }
  });
  return h("div", { class: "offsite", dataset: { testid: "offsite-link", engagement: e.id } },
    h("img", { src: api.offsiteQr(e.id), alt: `QR code for the ${e.offsite?.source || "offsite"} link of ${e.id}`, width: 96, height: 96, loading: "lazy", dataset: { testid: "offsite-qr" } }),
    h("div", {},
      h("p", { class: "small" }, h("b", {}, `Offsite link (${e.offsite?.source || "other"})`), ` · ${e.name || e.id}`),
      h("p", {}, h("a", { href: link, target: "_blank", rel: "noopener" }, h("code", {}, link))),
      h("p", { class: "muted small" }, "Opens ", h("code", {}, e.offsite?.landing_url || "?"), " when eligible, otherwise the survey."),
      copy));
}

async function toggleEnabled(c, toggle, status, ctx) {
  const next = toggle.getAttribute("aria-checked") !== "true";
  const apply = (on) => {
    toggle.setAttribute("aria-checked", String(on));
    status.textContent = on ? "Enabled" : "Disabled";
    status.className = `status ${on ? "on" : "off"}`;
    const cardEl = toggle.closest("[data-testid=campaign-card]");
    cardEl.dataset.enabled = String(on);
    cardEl.classList.toggle("disabled", !on);
  };
  apply(next);
  toggle.disabled = true;
  try {
    const res = await api.setEnabled(c.id, next);
    c.enabled = next;
    toast(`${c.name || c.id} ${next ? "enabled" : "disabled"}${res?.version ? ` · version ${res.version}` : ""}`);
    ctx.refresh({ quiet: true });
  } catch (e) {
    apply(!next);
    toast(`Could not ${next ? "enable" : "disable"} ${c.id}: ${e.message}`, "error");
  } finally {
    toggle.disabled = false;
    toggle.focus();
  }
}

async function remove(c, ctx, button) {
  const ok = await confirmDialog({
    title: `Delete “${c.name || c.id}”?`,
    message: `This removes the campaign and its ${(c.engagements || []).length} engagement(s) from the live document and publishes a new version. You can roll back from Versions.`,
    confirmLabel: "Delete campaign",
    danger: true,
  });
  if (!ok) {
    button.focus();
    return;
  }
  try {
    const res = await api.deleteCampaign(c.id);
    toast(`Deleted ${c.id}${res?.version ? ` · version ${res.version}` : ""}`);
    await ctx.refresh();
    document.querySelector("[data-testid=create-campaign]")?.focus();
  } catch (e) {
    toast(`Could not delete ${c.id}: ${e.message}`, "error");
  }
}
