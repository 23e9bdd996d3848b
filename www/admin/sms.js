// SMS campaigns (SPEC §10): the list (one card per campaign, live progress while sending, cancel
// and delete with a confirmation dialog, an empty state saying what SMS campaigns are for) and a
// campaign's report (`#/sms/{id}`: stat tiles and the progress bar, followed live).

import { h, toast, confirmDialog, fill } from "./dom.js";
import * as api from "./api.js";
import { truncateWords } from "./richtext.js";
import {
  STATUS_LABEL, ENCODING_LABEL, siteTimeZone, formatInZone, describeAudience, progressBar, follow,
  isLive, reportHash, num, plural, templateNodes, settleFocus,
} from "./sms-model.js";
import { phonePreview, phoneTime } from "./sms-form.js";

/** The SMS section's tabs: campaigns and contacts. */
export function smsTabs(current) {
  const tab = (key, href, label, testid) => h("a", {
    href, class: "tab", "aria-current": current === key ? "page" : null, dataset: { testid },
  }, label);
  return h("nav", { class: "tabs", "aria-label": "SMS" },
    tab("campaigns", "#/sms", "SMS campaigns", "tab-sms-campaigns"),
    tab("contacts", "#/sms/contacts", "Contacts", "tab-sms-contacts"));
}

function statusBadge(status) {
  return h("span", { class: `status sms-${status || "unknown"}`, dataset: { testid: "sms-status", status } },
    STATUS_LABEL[status] || status || "Unknown");
}

function createButton(big = true) {
  return h("a", { class: `btn primary${big ? " big" : ""}`, href: "#/sms/new", dataset: { testid: "sms-create" } },
    h("span", { "aria-hidden": "true" }, "+ "), "Create campaign");
}

function loadError(root, what, e, retry) {
  fill(root, h("div", { class: "msg error", role: "alert" },
    h("p", {}, `Could not load ${what}: ${e.message}`),
    h("button", { type: "button", class: "btn", onclick: retry }, "Try again")));
}

// ---- the list --------------------------------------------------------------------------------

export function renderSmsList(root, ctx) {
  const stops = [];
  let disposed = false;
  let pollTimer = null;
  const tz = siteTimeZone(ctx);
  fill(root, h("div", { class: "page-head" }, h("div", {}, h("h1", {}, "SMS campaigns"), h("p", { class: "muted" }, "Loading…"))),
    smsTabs("campaigns"));

  let shown = null; // {ids, cards} of the cards on screen, for in-place updates
  let filters = { q: "", status: "" };
  const load = async ({ poll = false } = {}) => {
    let campaigns;
    let inboxes = [];
    try {
      const [list, ib] = await Promise.all([api.smsCampaigns(), api.smsInboxes().catch(() => null)]);
      campaigns = list?.campaigns || [];
      inboxes = ib?.inboxes || [];
    } catch (e) {
      if (disposed) return;
      if (poll && shown) schedulePoll(shown.cards);
      else loadError(root, "the SMS campaigns", e, () => load());
      return;
    }
    if (disposed) return;
    // A poll that finds the same campaigns updates the cards where they are (the focus stays).
    if (poll && shown && shown.ids === campaigns.map((c) => c.id).join("\n")) {
      campaigns.forEach((c, i) => shown.cards[i].update(c));
      schedulePoll(shown.cards);
      return;
    }
    draw(campaigns, inboxes);
    settleFocus(root);
  };
  const schedulePoll = (cards) => {
    clearTimeout(pollTimer);
    const unwatched = cards.filter((x) => isLive(x.c) && !x.watched);
    if (!unwatched.length) return;
    const sending = unwatched.some((x) => x.c.status === "sending");
    pollTimer = setTimeout(() => load({ poll: true }), sending ? 10000 : 60000);
  };

  const draw = (campaigns, inboxes) => {
    for (const s of stops.splice(0)) s();
    clearTimeout(pollTimer);
    const byId = Object.fromEntries(inboxes.map((i) => [i.id, i]));
    const head = h("div", { class: "page-head" },
      h("div", {},
        h("h1", {}, "SMS campaigns"),
        h("p", { class: "muted" }, campaigns.length
          ? `${plural(campaigns.length, "campaign")} on site “${api.session.site}” · times in ${tz}`
          : `Site “${api.session.site}” has no SMS campaigns yet.`)),
      campaigns.length ? createButton() : null);
    if (!campaigns.length) {
      fill(root, head, smsTabs("campaigns"), emptyState(inboxes));
      return;
    }
    const search = h("input", { type: "search", id: "sms-filter", placeholder: "Filter by title, id, inbox or tag", autocomplete: "off", dataset: { testid: "sms-filter" } });
    const status = h("select", { id: "sms-status-filter", dataset: { testid: "sms-status-filter" } },
      h("option", { value: "" }, "All statuses"),
      Object.entries(STATUS_LABEL).map(([k, v]) => h("option", { value: k }, v)));
    const count = h("p", { class: "muted small", "aria-live": "polite" });
    const cards = campaigns.map((c) => smsCard(c, { tz, inbox: byId[c.inbox], onChange: () => load() }));
    const list = h("div", { class: "card-list", dataset: { testid: "sms-list" } }, cards.map((x) => x.el));
    const apply = () => {
      filters = { q: search.value, status: status.value };
      const q = search.value.trim().toLowerCase();
      let visible = 0;
      for (const x of cards) {
        const hit = (!q || x.el.dataset.search.includes(q)) && (!status.value || x.el.dataset.status === status.value);
        x.el.hidden = !hit;
        if (hit) visible++;
      }
      count.textContent = q || status.value ? `${visible} of ${campaigns.length} shown` : "";
    };
    search.addEventListener("input", apply);
    status.addEventListener("change", apply);
    fill(root, head, smsTabs("campaigns"),
      h("div", { class: "toolbar" },
        h("label", { for: "sms-filter", class: "visually-hidden" }, "Filter SMS campaigns"), search,
        h("label", { for: "sms-status-filter", class: "visually-hidden" }, "Status"), status,
        count),
      list);
    // A redraw (after a cancel or delete) keeps the filters.
    search.value = filters.q;
    status.value = filters.status;
    if (filters.q || filters.status) apply();

    // Live: a stream for the campaigns sending now or about to (at most 3: each holds one of
    // the browser's few connections to the server); a slow poll covers the rest.
    const soon = Date.now() + 120000;
    const watch = cards.filter((x) => x.c.status === "sending" || (x.c.status === "scheduled" && (!x.c.scheduled_at || Date.parse(x.c.scheduled_at) <= soon)));
    for (const x of watch.slice(0, 3)) {
      x.watched = true;
      stops.push(follow(x.c.id, (c) => x.update(c)));
    }
    shown = { ids: campaigns.map((c) => c.id).join("\n"), cards };
    schedulePoll(cards);
  };

  load();
  return () => {
    disposed = true;
    clearTimeout(pollTimer);
    for (const s of stops.splice(0)) s();
  };
}

function emptyState(inboxes) {
  return h("section", { class: "empty-state", dataset: { testid: "sms-empty" }, "aria-labelledby": "sms-empty-title" },
    smsArt(),
    h("h2", { id: "sms-empty-title" }, "No SMS campaigns are available"),
    h("p", {}, "An SMS campaign sends one text message to the contacts you pick (by tag or condition) at a time you choose, through one of your SMS inboxes — and replies come back to your agents as conversations."),
    h("div", { class: "actions center" }, createButton(),
      h("a", { class: "btn", href: "#/sms/contacts" }, "Import contacts")),
    inboxes.length ? null : h("p", { class: "small" },
      "There is no SMS inbox on this site yet: add one with ", h("code", {}, "PUT /admin/v1/sites/{site}/sms/inboxes/{inbox}"), " (provider, sender number, rate)."));
}

function smsArt() {
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", "0 0 120 80");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("class", "empty-art");
  const add = (tag, attrs) => {
    const n = document.createElementNS("http://www.w3.org/2000/svg", tag);
    for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v);
    svg.append(n);
  };
  add("rect", { x: 40, y: 4, width: 40, height: 72, rx: 7, fill: "var(--surface-2)", stroke: "var(--line-2)" });
  add("rect", { x: 54, y: 8, width: 12, height: 3, rx: 1.5, fill: "var(--line-2)" });
  add("rect", { x: 45, y: 18, width: 26, height: 12, rx: 5, fill: "var(--line)" });
  add("rect", { x: 50, y: 34, width: 26, height: 16, rx: 5, fill: "var(--accent)" });
  add("rect", { x: 54, y: 39, width: 17, height: 3, rx: 1.5, fill: "#fff" });
  add("rect", { x: 54, y: 44, width: 11, height: 3, rx: 1.5, fill: "#fff" });
  add("rect", { x: 45, y: 54, width: 20, height: 10, rx: 5, fill: "var(--line)" });
  add("circle", { cx: 84, cy: 12, r: 7, fill: "var(--ok)" });
  return svg;
}

/** One campaign's card; `update(c)` redraws what can change while it sends. */
function smsCard(c, { tz, inbox, onChange }) {
  const title = c.title || c.id;
  const titleId = `sms-card-${c.id}`;
  const statusSlot = h("div", { class: "card-status" });
  const progressSlot = h("div", { class: "card-progress" });
  const metaSlot = h("dl", { class: "meta" });
  const actions = h("footer", { class: "card-actions" });
  const el = h("article", {
    class: "campaign-card sms-card",
    dataset: { testid: "sms-card", campaign: c.id, status: c.status, search: [c.id, c.title, c.inbox, inbox?.name, ...(c.audience?.tags?.any || []), ...(c.audience?.tags?.none || [])].join(" ").toLowerCase() },
    "aria-labelledby": titleId,
  },
  h("header", { class: "card-head" },
    h("div", { class: "card-title" },
      h("h2", { id: titleId }, h("a", { href: reportHash(c.id) }, title)),
      h("p", { class: "muted small" }, h("code", {}, c.id))),
    statusSlot),
  c.message
    ? h("blockquote", { class: "message sms-message", dataset: { testid: "sms-message" }, title: c.message.length > 140 ? c.message : null }, templateNodes(truncateWords(c.message, 140)))
    : h("p", { class: "muted message-empty" }, "No message"),
  metaSlot, progressSlot, actions);
  let progress = null;
  let last = null;
  const update = (x) => {
    const statusChanged = last?.status !== x.status;
    last = x;
    x = { ...c, ...x };
    Object.assign(c, x);
    el.dataset.status = x.status;
    fill(statusSlot, statusBadge(x.status));
    fill(metaSlot,
      row("Inbox", inbox ? [inbox.name || inbox.id, inbox.from ? h("span", { class: "muted" }, ` · ${inbox.from}`) : null] : h("code", {}, x.inbox || "—")),
      row(x.status === "scheduled" ? "Scheduled" : x.status === "sending" ? "Started" : x.status === "cancelled" && !x.started_at ? "Schedule" : "Sent", scheduleText(x, tz)),
      row("Audience", describeAudience(x.audience)),
      row(x.status === "scheduled" ? "Audience size" : "Recipients", x.status === "scheduled"
        ? `≈ ${plural(x.audience_size ?? 0, "recipient")} (estimate)`
        : plural(x.progress?.recipients ?? x.audience_size ?? 0, "recipient")),
      x.segments ? row("Length", `${plural(x.segments.segments, "segment")} · ${ENCODING_LABEL[x.segments.encoding] || x.segments.encoding}`) : null);
    if (x.status === "scheduled" || (x.status === "cancelled" && !x.started_at)) {
      progress = null;
      fill(progressSlot);
    } else if (!progress) {
      progress = progressBar(x, { label: `Progress of ${title}`, compact: true });
      fill(progressSlot, progress.el);
    } else progress.update(x);
    if (statusChanged) drawActions(x);
  };
  const drawActions = (x) => {
    const report = h("a", { class: "btn", href: reportHash(x.id), dataset: { testid: "sms-report" } }, "Report");
    const edit = x.status === "scheduled" ? h("a", { class: "btn ghost", href: `${reportHash(x.id)}/edit`, dataset: { testid: "sms-edit" } }, "Edit") : null;
    const cancel = isLive(x) ? h("button", { type: "button", class: "btn ghost", dataset: { testid: "sms-cancel" } }, x.status === "sending" ? "Stop sending" : "Cancel") : null;
    cancel?.addEventListener("click", () => cancelCampaign(x, cancel, onChange));
    const del = x.status !== "sending" ? h("button", { type: "button", class: "btn ghost danger", dataset: { testid: "sms-delete" } }, "Delete") : null;
    del?.addEventListener("click", () => deleteCampaign(x, del, onChange));
    fill(actions, report, edit, cancel, del);
  };
  update(c);
  return { el, c, update };
}

function row(label, value) {
  return [h("dt", {}, label), h("dd", {}, value)];
}

function scheduleText(c, tz) {
  if (c.status === "scheduled") return c.scheduled_at ? formatInZone(c.scheduled_at, tz) : "Now";
  if (c.status === "cancelled" && !c.started_at) return ["Cancelled", c.scheduled_at ? h("span", { class: "muted" }, ` (was ${formatInZone(c.scheduled_at, tz)})`) : null];
  const start = c.started_at || c.scheduled_at;
  return [start ? formatInZone(start, tz) : "—", c.completed_at ? h("span", { class: "muted" }, ` · done ${formatInZone(c.completed_at, tz, { zoneName: false })}`) : null];
}

async function cancelCampaign(c, button, onChange) {
  const sending = c.status === "sending";
  const ok = await confirmDialog({
    title: sending ? `Stop sending “${c.title || c.id}”?` : `Cancel “${c.title || c.id}”?`,
    message: sending
      ? "Messages already handed to the provider still arrive; nobody else gets this message. This can't be undone."
      : "The campaign will not be sent. It stays in the list as cancelled; this can't be undone.",
    confirmLabel: sending ? "Stop sending" : "Cancel campaign",
    cancelLabel: sending ? "Keep sending" : "Keep it",
    danger: true,
  });
  if (!ok) {
    button.focus();
    return;
  }
  try {
    await api.cancelSmsCampaign(c.id);
    toast(`Cancelled ${c.id}`);
    onChange?.();
  } catch (e) {
    toast(`Could not cancel ${c.id}: ${e.message}`, "error");
  }
}

async function deleteCampaign(c, button, onDeleted) {
  const ok = await confirmDialog({
    title: `Delete “${c.title || c.id}”?`,
    message: c.status === "scheduled"
      ? "The campaign will not be sent, and it is removed with its settings. This can't be undone."
      : "This removes the campaign and its report. Messages already sent are not affected. This can't be undone.",
    confirmLabel: "Delete campaign",
    danger: true,
  });
  if (!ok) {
    button.focus();
    return;
  }
  try {
    await api.deleteSmsCampaign(c.id);
    toast(`Deleted ${c.id}`);
    onDeleted?.();
  } catch (e) {
    toast(e.status === 409 ? `${c.id} is sending: stop it first, then delete it.` : `Could not delete ${c.id}: ${e.message}`, "error");
  }
}

// ---- a campaign's report ----------------------------------------------------------------------

const TILES = [
  ["recipients", "Recipients", "Distinct numbers the message goes to"],
  ["sent", "Sent", "Accepted by the provider, no delivery report yet"],
  ["delivered", "Delivered", "Confirmed by a delivery report"],
  ["failed", "Failed", "Refused, undeliverable, or out of retries"],
  ["opted_out", "Opted out", "Skipped: the number replied STOP before"],
  ["duplicates", "Duplicates", "Contacts sharing a number already counted"],
  ["quiet_hours_waiting", "Quiet-hours waiting", "Held until quiet hours end where the contact is"],
  ["replies", "Replies", "Inbound messages from recipients"],
  ["uncertain", "Uncertain", "In flight at a server restart: may have arrived"],
];

export function renderSmsReport(root, ctx, id) {
  let stop = null;
  let disposed = false;
  const tz = siteTimeZone(ctx);
  fill(root, h("p", { class: "crumbs" }, h("a", { href: "#/sms" }, "SMS campaigns"), " › ", id),
    h("h1", {}, id), h("p", { class: "muted" }, "Loading…"));

  const load = async () => {
    let c;
    let inbox = null;
    try {
      const [x, ib] = await Promise.all([api.smsCampaign(id), api.smsInboxes().catch(() => null)]);
      c = x;
      inbox = (ib?.inboxes || []).find((i) => i.id === c.inbox) || null;
    } catch (e) {
      if (disposed) return;
      if (e.status === 404) {
        fill(root, h("div", { class: "empty-state" },
          h("h1", {}, "SMS campaign not found"),
          h("p", {}, `There is no SMS campaign “${id}” on site “${api.session.site}”.`),
          h("a", { class: "btn", href: "#/sms" }, "Back to SMS campaigns")));
      } else loadError(root, `the SMS campaign ${id}`, e, () => load());
      return;
    }
    if (disposed) return;
    draw(c, inbox);
    settleFocus(root);
  };

  const draw = (c, inbox) => {
    stop?.();
    const title = c.title || c.id;
    const statusSlot = h("span", {});
    const actions = h("div", { class: "actions" });
    const live = h("p", { class: "muted small live-state", "aria-live": "polite", dataset: { testid: "sms-live" } });
    const tiles = Object.fromEntries(TILES.map(([k]) => [k, h("b", { dataset: { testid: `stat-${k}` } }, "—")]));
    const progress = progressBar(c, { label: `Progress of ${title}` });
    const details = h("dl", { class: "meta wide" });
    let status = null;
    const update = (x) => {
      c = { ...c, ...x };
      fill(statusSlot, statusBadge(c.status));
      for (const [k] of TILES) tiles[k].textContent = num(c.progress?.[k]);
      if (c.status === "scheduled") tiles.recipients.textContent = `≈ ${num(c.audience_size)}`;
      progress.update(c);
      fill(details,
        row("Status", STATUS_LABEL[c.status] || c.status),
        row("Inbox", inbox ? `${inbox.name || inbox.id}${inbox.from ? ` · ${inbox.from}` : ""} (${inbox.provider})` : c.inbox),
        row("Scheduled", c.scheduled_at ? formatInZone(c.scheduled_at, tz) : "Immediately"),
        c.started_at ? row("Started", formatInZone(c.started_at, tz)) : null,
        c.completed_at ? row("Completed", formatInZone(c.completed_at, tz)) : null,
        row("Quiet hours", c.quiet_hours ? `${c.quiet_hours.from} – ${c.quiet_hours.to}, each contact's local time` : "None"),
        row("Audience", describeAudience(c.audience)),
        c.status === "scheduled" ? row("Audience size", `≈ ${plural(c.audience_size ?? 0, "recipient")} now (counted again when sending starts)`) : null,
        c.segments ? row("Length", `${plural(c.segments.characters, "character")} · ${plural(c.segments.segments, "segment")} · ${ENCODING_LABEL[c.segments.encoding] || c.segments.encoding} (${c.segments.characters_per_segment} per segment)`) : null,
        c.engagement ? row("Replies go to", h("code", {}, c.engagement)) : null,
        row("Created", `${formatInZone(c.created_at, tz)}${c.key ? ` by key ${c.key}` : ""}`));
      if (status !== c.status) {
        if (status) {
          live.textContent = c.status === "sending" ? "Live" : `Now ${(STATUS_LABEL[c.status] || c.status).toLowerCase()}`;
          live.dataset.live = c.status === "sending" ? "on" : "off";
        }
        status = c.status;
        const edit = c.status === "scheduled" ? h("a", { class: "btn", href: `${reportHash(c.id)}/edit`, dataset: { testid: "sms-edit" } }, "Edit") : null;
        const cancel = isLive(c) ? h("button", { type: "button", class: "btn", dataset: { testid: "sms-cancel" } }, c.status === "sending" ? "Stop sending" : "Cancel") : null;
        cancel?.addEventListener("click", () => cancelCampaign(c, cancel, () => load()));
        const del = c.status !== "sending" ? h("button", { type: "button", class: "btn ghost danger", dataset: { testid: "sms-delete" } }, "Delete") : null;
        del?.addEventListener("click", () => deleteCampaign(c, del, () => { location.hash = "#/sms"; }));
        fill(actions, edit, cancel, del);
      }
    };
    fill(root,
      h("div", { class: "page-head" },
        h("div", {},
          h("p", { class: "crumbs" }, h("a", { href: "#/sms" }, "SMS campaigns"), " › ", c.id),
          h("h1", { class: "with-badge" }, title, " ", statusSlot),
          h("p", { class: "muted" }, `Times in ${tz}`)),
        actions),
      h("section", { class: "panel", "aria-labelledby": "sms-progress-title", dataset: { testid: "sms-report" } },
        h("div", { class: "section-head" }, h("h2", { id: "sms-progress-title" }, "Progress"), live),
        progress.el,
        h("div", { class: "stats sms-stats" }, TILES.map(([k, label, help]) => h("div", { class: `stat stat-${k}` },
          tiles[k], h("span", {}, label), h("small", { class: "muted" }, help))))),
      h("div", { class: "sms-report-grid" },
        h("section", { class: "panel", "aria-labelledby": "sms-details-title" },
          h("h2", { id: "sms-details-title" }, "Campaign"),
          details),
        h("section", { class: "panel", "aria-labelledby": "sms-message-title" },
          h("h2", { id: "sms-message-title" }, "Message"),
          phonePreview({
            message: c.message, sender: inbox?.from || inbox?.name || c.inbox,
            when: c.started_at || c.scheduled_at ? phoneTime(new Date(c.started_at || c.scheduled_at), tz) : undefined,
            caption: /\{\{/.test(c.message || "") ? "With an example name: the highlighted text is filled in for each contact." : null,
          }))));
    update(c);
    if (isLive(c)) {
      stop = follow(c.id, (x) => update(x), {
        onState: (s) => {
          live.dataset.live = s === "live" && c.status === "sending" ? "on" : "off";
          if (s === "reconnecting") live.textContent = "Reconnecting…";
          else if (s === "live") live.textContent = c.status === "sending" ? "Live" : "";
          else if (s === "gone") live.textContent = "This campaign was deleted.";
        },
      });
    }
  };

  load();
  return () => {
    disposed = true;
    stop?.();
  };
}
