// Conversations (SPEC §11): every conversation engage started on the site (web accepts, SMS
// replies), with the engagement it was linked to or why none, filtered by channel and date and
// paged with "Load more"; and the hand-off deliveries to the agent system's webhook (`#/conversations/handoffs`)
// with their state, attempts, last answer and next try, so failures are visible.

import { h, fill, toast } from "./dom.js";
import * as api from "./api.js";
import { siteTimeZone, formatInZone, zonedToDate, rfc3339, plural, num } from "./sms-model.js";

const PAGE = 25;
const HANDOFF_POLL_MS = 5000;

export const UNLINKED = {
  timeframe: "the campaign was outside its timeframe",
  disabled: "the outbound engagement or its campaign is disabled",
  no_broadcast: "no broadcast reached the number",
  no_engagement: "no outbound engagement matches the broadcast",
  no_document: "the site had no active document",
};

export const SOURCE_LABEL = { web: "Web", offsite: "Offsite link", sms: "SMS" };

let lastFilters = { channel: "", from: "", to: "" };

/** The Conversations section's tabs. */
function tabs(current) {
  const tab = (key, href, label, testid) => h("a", {
    href, class: "tab", "aria-current": current === key ? "page" : null, dataset: { testid },
  }, label);
  return h("nav", { class: "tabs", "aria-label": "Conversations" },
    tab("list", "#/conversations", "Conversations", "tab-conversations"),
    tab("handoffs", "#/conversations/handoffs", "Hand-offs", "tab-handoffs"));
}

function webhookNote(ctx) {
  const hook = ctx.doc?.settings?.conversation_webhook;
  if (!hook?.url) {
    return h("p", { class: "msg warn", dataset: { testid: "no-webhook" } },
      h("b", {}, "No agent system is connected. "),
      "Conversations are recorded but not handed off: set ", h("code", {}, "settings.conversation_webhook"),
      " (a URL and a signing secret) in the campaign document.");
  }
  return null;
}

/** `YYYY-MM-DD` of the day after `day`. */
function nextDay(day) {
  const [y, m, d] = day.split("-").map(Number);
  return new Date(Date.UTC(y, m - 1, d + 1)).toISOString().slice(0, 10);
}

/** The start of `day` in `tz` as an RFC 3339 instant (null when `day` is empty or malformed). */
function dayStart(day, tz) {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(day || "")) return null;
  const d = zonedToDate(`${day}T00:00`, tz);
  return d ? rfc3339(d) : null;
}

function channelBadge(c) {
  const label = c.channel === "sms" ? "SMS" : c.source === "offsite" ? "Web · offsite" : "Web";
  return h("span", { class: `status conv-${c.channel === "sms" ? "sms" : "web"}`, dataset: { testid: "conversation-channel" } }, label);
}

function engagementCell(c) {
  if (c.engagement) {
    return [
      h("code", { dataset: { testid: "conversation-engagement" } }, c.engagement),
      c.campaign ? h("small", { class: "muted block" }, `campaign ${c.campaign}`) : null,
      c.agent_note ? h("small", { class: "muted block agent-note" }, `“${c.agent_note}”`) : null,
    ];
  }
  return [
    h("span", { class: "unlinked", dataset: { testid: "conversation-engagement" } }, `No engagement${c.unlinked ? `: ${c.unlinked}` : ""}`),
    c.unlinked ? h("small", { class: "muted block" }, UNLINKED[c.unlinked] || "") : null,
  ];
}

function attributesText(c) {
  const a = c.attributes && typeof c.attributes === "object" ? c.attributes : {};
  const parts = [];
  const walk = (v, prefix) => {
    if (parts.length >= 4) return;
    if (v && typeof v === "object" && !Array.isArray(v)) {
      for (const [k, x] of Object.entries(v)) walk(x, prefix ? `${prefix}.${k}` : k === "attributes" ? "" : k);
    } else if (Array.isArray(v)) parts.push(`${prefix}: ${v.join(", ")}`);
    else if (v !== null && v !== undefined && prefix) parts.push(`${prefix}: ${v}`);
  };
  walk(a, "");
  return parts.length ? parts.join(" · ") : "";
}

function conversationRow(c, tz) {
  const name = c.channel === "sms" && typeof c.attributes?.name === "string" ? c.attributes.name : "";
  const who = c.channel === "sms" ? c.phone || "—" : c.visitor || "—";
  const attrs = attributesText(c);
  return h("tr", { dataset: { testid: "conversation-row", conversation: c.id, channel: c.channel, engagement: c.engagement || "" } },
    h("td", { class: "nowrap", dataset: { label: "Started" } }, formatInZone(c.started_at, tz, { zoneName: false })),
    h("td", {}, channelBadge(c)),
    h("td", { class: "who" }, h("span", { class: "mono" }, who), name ? h("span", {}, ` · ${name}`) : null,
      attrs ? h("small", { class: "muted block" }, attrs) : null),
    h("td", { class: "eng" }, engagementCell(c)),
    h("td", { dataset: { label: "Skill" } }, c.skill || "—", c.language ? h("small", { class: "muted block" }, c.language) : null),
    h("td", { class: "first" }, c.first_message
      ? h("span", { class: "quote" }, c.first_message)
      : h("span", { class: "muted" }, c.channel === "web" ? "accepted a chat" : "—"),
    c.sms_campaign ? h("small", { class: "muted block" }, `reply to SMS campaign ${c.sms_campaign}`) : null),
    h("td", { class: "num", dataset: { label: "Messages" } }, num(c.messages)));
}

export function renderConversations(root, ctx) {
  let disposed = false;
  let seq = 0;
  let cursor = null;
  let total = 0;
  let abort = null;
  const tz = siteTimeZone(ctx);

  const channel = h("select", { id: "conv-channel", dataset: { testid: "conversations-channel" } },
    h("option", { value: "" }, "Web and SMS"), h("option", { value: "web" }, "Web"), h("option", { value: "sms" }, "SMS"));
  const from = h("input", { type: "date", id: "conv-from", dataset: { testid: "conversations-from" } });
  const to = h("input", { type: "date", id: "conv-to", dataset: { testid: "conversations-to" } });
  const clear = h("button", { type: "button", class: "btn small ghost", dataset: { testid: "conversations-clear" } }, "Clear filters");
  channel.value = lastFilters.channel;
  from.value = lastFilters.from;
  to.value = lastFilters.to;
  const status = h("p", { class: "muted small", "aria-live": "polite", dataset: { testid: "conversations-status" } });
  const tbody = h("tbody", {});
  const table = h("div", { class: "table-wrap panel flush", hidden: true },
    h("table", { class: "data conversations", dataset: { testid: "conversations-table" } },
      h("caption", { class: "visually-hidden" }, "Conversations, newest first"),
      h("thead", {}, h("tr", {},
        h("th", { scope: "col" }, "Started"),
        h("th", { scope: "col" }, "Channel"),
        h("th", { scope: "col" }, "Customer"),
        h("th", { scope: "col" }, "Engagement"),
        h("th", { scope: "col" }, "Skill"),
        h("th", { scope: "col" }, "First message"),
        h("th", { scope: "col", class: "num" }, "Messages"))),
      tbody));
  const more = h("button", { type: "button", class: "btn", hidden: true, dataset: { testid: "conversations-more" } }, "Load more");
  const empty = h("div", { class: "empty-state small", hidden: true, dataset: { testid: "conversations-empty" } });

  const load = async ({ append = false } = {}) => {
    const mine = ++seq;
    abort?.abort();
    abort = new AbortController();
    lastFilters = { channel: channel.value, from: from.value, to: to.value };
    if (from.value && to.value && to.value < from.value) {
      status.textContent = "";
      fill(tbody);
      table.hidden = true;
      empty.hidden = false;
      fill(empty, h("h2", {}, "Check the dates"), h("p", {}, "“To” is before “From”."));
      more.hidden = true;
      return;
    }
    more.disabled = true;
    status.textContent = append ? "Loading more…" : "Loading…";
    try {
      const res = await api.conversations({
        channel: channel.value,
        from: dayStart(from.value, tz),
        to: to.value ? dayStart(nextDay(to.value), tz) : null,
        cursor: append ? cursor : null,
        limit: PAGE,
      }, abort.signal);
      if (disposed || mine !== seq) return;
      const list = res?.conversations || [];
      if (!append) {
        fill(tbody);
        total = 0;
      }
      const before = total;
      for (const c of list) tbody.append(conversationRow(c, tz));
      total += list.length;
      cursor = res?.next_cursor || null;
      more.hidden = !cursor;
      more.disabled = false;
      const filtered = channel.value || from.value || to.value;
      table.hidden = total === 0;
      empty.hidden = total !== 0;
      if (total === 0) {
        fill(empty, filtered
          ? [h("h2", {}, "No conversation matches"), h("p", {}, "Try another channel or a wider date range.")]
          : [h("h2", {}, "No conversations yet"),
            h("p", {}, "A conversation starts when a visitor accepts a chat engagement, or a customer answers an SMS campaign. SMS replies are linked to the outbound engagement of the campaign that reached the number.")]);
      }
      status.textContent = total
        ? `${plural(total, "conversation")} shown${cursor ? " · more to load" : ""}${filtered ? " (filtered)" : ""} · times in ${tz}`
        : "";
      // "Load more" went away with the last page: the focus goes to the first row it added.
      if (append && more.hidden && list.length) {
        const first = tbody.querySelectorAll("tr")[before];
        first?.setAttribute("tabindex", "-1");
        first?.focus();
      }
    } catch (e) {
      if (e?.name === "AbortError" || disposed || mine !== seq) return;
      status.textContent = "";
      more.disabled = false;
      table.hidden = true;
      empty.hidden = false;
      fill(empty, h("p", { class: "msg error", role: "alert" }, `Could not load the conversations: ${e.message}`),
        h("button", { type: "button", class: "btn", onclick: () => load() }, "Try again"));
    }
  };

  channel.addEventListener("change", () => load());
  from.addEventListener("change", () => load());
  to.addEventListener("change", () => load());
  clear.addEventListener("click", () => {
    channel.value = "";
    from.value = "";
    to.value = "";
    load();
    channel.focus();
  });
  more.addEventListener("click", () => load({ append: true }));

  fill(root,
    h("div", { class: "page-head" },
      h("div", {},
        h("h1", {}, "Conversations"),
        h("p", { class: "muted" }, `Conversations started on “${api.session.site}”: chats accepted on the web and replies to SMS campaigns, each with the engagement that started it.`))),
    tabs("list"),
    webhookNote(ctx),
    h("form", { class: "toolbar conv-bar", onsubmit: (ev) => { ev.preventDefault(); load(); } },
      h("div", { class: "field inline" }, h("label", { for: "conv-channel" }, "Channel"), channel),
      h("div", { class: "field inline" }, h("label", { for: "conv-from" }, "From"), from),
      h("div", { class: "field inline" }, h("label", { for: "conv-to" }, "To (inclusive)"), to),
      clear,
      status),
    table, empty,
    h("div", { class: "actions center load-more" }, more));
  load();
  return () => {
    disposed = true;
    abort?.abort();
  };
}

// ---- hand-offs --------------------------------------------------------------------------------

const STATE_LABEL = { queued: "Queued", sending: "Sending", delivered: "Delivered" };

function stateBadge(d) {
  const failing = d.state !== "delivered" && (d.attempts || 0) > 0;
  const label = failing ? `${STATE_LABEL[d.state] || d.state} · retrying` : STATE_LABEL[d.state] || d.state || "?";
  return h("span", { class: `status handoff-${failing ? "failing" : d.state || "unknown"}`, dataset: { testid: "handoff-state", state: d.state } }, label);
}

function handoffRow(d, tz) {
  const fmt = (iso) => (iso ? formatInZone(iso, tz, { zoneName: false }) : "—");
  const last = d.last_status || d.last_error
    ? [d.last_status ? h("b", { class: d.last_status >= 200 && d.last_status < 300 ? "ok-text" : "bad-text" }, `HTTP ${d.last_status}`) : null,
      d.last_error ? h("small", { class: "muted block" }, d.last_error) : null]
    : h("span", { class: "muted" }, "—");
  return h("tr", { dataset: { testid: "handoff-row", state: d.state, handoff: d.id } },
    h("td", { class: "num" }, `#${d.id}`),
    h("td", {}, h("code", {}, d.event || "—"), h("small", { class: "muted block mono" }, d.conversation || "")),
    h("td", {}, stateBadge(d)),
    h("td", { class: "num", dataset: { label: "Attempts" } }, num(d.attempts)),
    h("td", { dataset: { testid: "handoff-last" } }, last),
    h("td", { class: "nowrap" }, d.state === "delivered"
      ? [h("span", { class: "muted small" }, "delivered "), fmt(d.delivered_at)]
      : d.next_at ? [h("span", { class: "muted small" }, "next try "), fmt(d.next_at)] : "now"),
    h("td", { class: "nowrap", dataset: { label: "Queued" } }, fmt(d.created_at)));
}

export function renderHandoffs(root, ctx) {
  let disposed = false;
  let timer = null;
  const tz = siteTimeZone(ctx);
  const out = h("div", { dataset: { testid: "handoffs" } }, h("p", { class: "muted" }, "Loading…"));
  const refresh = h("button", { type: "button", class: "btn small", dataset: { testid: "handoffs-refresh" } }, "Refresh");
  const updated = h("p", { class: "muted small", "aria-live": "polite" });
  let lastText = "";

  const load = async ({ quiet = false } = {}) => {
    clearTimeout(timer);
    let list;
    try {
      list = (await api.handoffs())?.handoffs || [];
    } catch (e) {
      if (disposed) return;
      if (!quiet) fill(out, h("p", { class: "msg error", role: "alert" }, `Could not load the hand-offs: ${e.message}`));
      else toast(`Could not refresh the hand-offs: ${e.message}`, "error");
      return;
    }
    if (disposed) return;
    const text = JSON.stringify(list);
    if (text !== lastText) {
      lastText = text;
      draw(list);
    }
    updated.textContent = `Updated ${new Date().toLocaleTimeString()}`;
    if (list.some((d) => d.state !== "delivered")) timer = setTimeout(() => load({ quiet: true }), HANDOFF_POLL_MS);
  };

  const draw = (list) => {
    if (!list.length) {
      fill(out, h("div", { class: "empty-state small", dataset: { testid: "handoffs-empty" } },
        h("h2", {}, "No hand-offs yet"),
        h("p", {}, "Each conversation that starts, and each later SMS message in it, is POSTed to the agent system's webhook. Its deliveries show here.")));
      return;
    }
    const count = (f) => list.filter(f).length;
    const failing = count((d) => d.state !== "delivered" && (d.attempts || 0) > 0);
    const urls = [...new Set(list.map((d) => d.url).filter(Boolean))];
    fill(out,
      h("div", { class: "stats handoff-stats" },
        stat("Delivered", count((d) => d.state === "delivered"), "ok"),
        stat("Waiting", count((d) => d.state !== "delivered" && !(d.attempts > 0)), ""),
        stat("Failing, retried", failing, failing ? "bad" : ""),
        stat("Shown", list.length, "")),
      failing
        ? h("p", { class: "msg error", role: "alert", dataset: { testid: "handoffs-failing" } },
          h("b", {}, `${plural(failing, "delivery", "deliveries")} failing. `),
          "engage retries each with backoff (1 s, 2 s, 4 s … up to 5 minutes) until the agent system answers 2xx, and keeps the order within a conversation.")
        : null,
      h("p", { class: "muted small" }, urls.length === 1 ? ["Webhook: ", h("code", {}, urls[0])] : `Webhooks: ${urls.join(", ")}`),
      h("div", { class: "table-wrap panel flush" },
        h("table", { class: "data handoffs", dataset: { testid: "handoffs-table" } },
          h("caption", { class: "visually-hidden" }, "Hand-off deliveries, newest first"),
          h("thead", {}, h("tr", {},
            h("th", { scope: "col", class: "num" }, "Delivery"),
            h("th", { scope: "col" }, "Event"),
            h("th", { scope: "col" }, "State"),
            h("th", { scope: "col", class: "num" }, "Attempts"),
            h("th", { scope: "col" }, "Last answer"),
            h("th", { scope: "col" }, "Delivered / next try"),
            h("th", { scope: "col" }, "Queued"))),
          h("tbody", {}, list.map((d) => handoffRow(d, tz))))));
  };

  refresh.addEventListener("click", () => load());
  fill(root,
    h("div", { class: "page-head" },
      h("div", {},
        h("h1", {}, "Hand-offs"),
        h("p", { class: "muted" }, `Deliveries of “${api.session.site}”'s conversations to the agent system, signed with X-Engage-Signature · times in ${tz}`)),
      h("div", { class: "actions" }, updated, refresh)),
    tabs("handoffs"),
    webhookNote(ctx),
    out);
  load();
  return () => {
    disposed = true;
    clearTimeout(timer);
  };
}

function stat(label, value, kind) {
  return h("div", { class: `stat${kind ? ` stat-${kind}` : ""}` }, h("span", { class: "muted small" }, label), h("b", {}, num(value)));
}

