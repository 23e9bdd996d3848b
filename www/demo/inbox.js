// The demo's agent inbox: what the contact centre's agent system receives from engage (SPEC §11).
// Polls the demo receiver (`cargo xtask demo` runs it on the server's port + 1, or `?receiver=`)
// every second for the conversations engage handed off, and posts simulated SMS replies to it,
// which it sends through the demo's Kannel to engage's inbound webhook.
// Everything shown is built with text nodes: nothing a customer writes becomes markup.

const POLL_MS = 1000;

/** The receiver's origin: `?receiver=http://host:port`, else this page's host on port + 1. */
function receiverBase() {
  const given = new URLSearchParams(location.search).get("receiver");
  if (given) {
    try {
      const u = new URL(given);
      if (u.protocol === "http:" || u.protocol === "https:") return u.origin;
    } catch (_) {
      /* fall through to the default */
    }
  }
  const port = Number(location.port) || (location.protocol === "https:" ? 443 : 80);
  return `${location.protocol}//${location.hostname}:${port + 1}`;
}

const RECEIVER = receiverBase();

const REASONS = {
  timeframe: "the campaign that reached this number is outside its timeframe",
  disabled: "the outbound engagement or its campaign is disabled",
  no_broadcast: "no SMS campaign or broadcast reached this number",
  no_engagement: "no outbound engagement matches the campaign that reached this number",
  no_document: "the site has no active campaign document",
};

const $ = (sel) => document.querySelector(sel);

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") e.className = v;
    else e.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function when(iso) {
  const d = new Date(iso);
  if (!iso || Number.isNaN(d.getTime())) return "";
  return d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" });
}

/** `{a: {b: 1}, tags: ["x", "y"]}` → [["a.b", "1"], ["tags", "x, y"]], at most `max` pairs. */
function flatten(value, prefix = "", out = [], max = 14) {
  if (out.length >= max) return out;
  if (value && typeof value === "object" && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) {
      // An SMS conversation's contact: its own attributes read better without the prefix.
      flatten(v, prefix === "" && k === "attributes" ? "" : prefix ? `${prefix}.${k}` : k, out, max);
      if (out.length >= max) break;
    }
  } else if (Array.isArray(value)) {
    out.push([prefix, value.map((v) => (typeof v === "object" ? JSON.stringify(v) : String(v))).join(", ")]);
  } else if (value !== null && value !== undefined && prefix) {
    out.push([prefix, String(value)]);
  }
  return out;
}

function row(label, ...value) {
  return [el("dt", {}, label), el("dd", {}, ...value)];
}

function card(c) {
  if (!c.signature_valid) return rejectedCard(c);
  if (c.started_here === false) return followUpCard(c);
  const sms = c.channel === "sms";
  const attrs = c.attributes && typeof c.attributes === "object" ? c.attributes : {};
  const name = sms && typeof attrs.name === "string" ? attrs.name : "";
  const who = sms ? c.phone || "unknown number" : "Web visitor";
  const titleId = `cv-${String(c.id).replace(/[^A-Za-z0-9_-]/g, "")}`;
  const engagement = c.engagement
    ? [el("code", {}, c.engagement), c.campaign ? el("span", { class: "note" }, ` in campaign ${c.campaign}`) : null]
    : [el("span", { class: "no-engagement", "data-testid": "no-engagement" },
      `no engagement${c.unlinked ? `: ${c.unlinked}` : ""}`),
    c.unlinked ? el("small", { class: "note block", title: c.unlinked_via ? `The reason comes from engage's ${c.unlinked_via}: the hand-off does not carry it.` : null }, REASONS[c.unlinked] || "") : null];
  const pairs = flatten(attrs).filter(([k]) => !(sms && (k === "name" || k === "contact")));
  const messages = Array.isArray(c.messages) ? c.messages : [];
  return el("article", {
    class: "panel convo", "data-testid": "inbox-conversation", "data-channel": c.channel || "", "data-id": c.id,
    "data-engagement": c.engagement || "", "aria-labelledby": titleId,
  },
  el("header", { class: "convo-head" },
    el("span", { class: "channel-pill", "data-channel": c.channel || "" }, sms ? "SMS" : c.source === "offsite" ? "Web · offsite link" : "Web"),
    el("h3", { id: titleId }, who, name ? el("span", { class: "convo-name" }, ` · ${name}`) : null),
    el("span", { class: "sig ok", "data-testid": "signature" }, "signature verified ✓")),
  c.first_message
    ? el("blockquote", { class: "first-message", "data-testid": "first-message" }, c.first_message)
    : sms ? null : el("p", { class: "note first-message-none" }, "Accepted a chat invitation: the visitor is joining the chat window."),
  el("dl", { class: "convo-meta" },
    row("Engagement", el("span", { "data-testid": "convo-engagement" }, ...engagement)),
    row("Skill", c.skill || "—"),
    row("Language", c.language || "—"),
    row("Agent note", c.agent_note || "—"),
    sms
      ? row("Phone", el("span", { class: "mono" }, c.phone || "—"), c.sms_campaign ? el("small", { class: "note block" }, `answered the SMS campaign “${c.sms_campaign}”`) : null)
      : row("Visitor", el("span", { class: "mono" }, c.visitor || "—")),
    row("Attributes", pairs.length
      ? el("ul", { class: "attr-list" }, pairs.map(([k, v]) => el("li", {}, el("span", { class: "attr-key" }, k), ` ${v}`)))
      : el("span", { class: "note" }, "none")),
    row("Started", el("time", { datetime: c.started_at || "" }, when(c.started_at) || "—"),
      el("small", { class: "note block" }, `received ${when(c.received_at)}`))),
  thread(messages));
}

function thread(messages) {
  return messages.length
    ? el("div", { class: "convo-thread" },
      el("h4", {}, `Later messages (${messages.length})`),
      el("ol", {}, messages.map((m) => el("li", {}, el("time", { datetime: m.at || "" }, when(m.at)), " ", m.text || ""))))
    : null;
}

/** Messages of a conversation that started before this receiver ran (it keeps them in memory). */
function followUpCard(c) {
  const titleId = `cv-${String(c.id).replace(/[^A-Za-z0-9_-]/g, "")}`;
  return el("article", {
    class: "panel convo", "data-testid": "inbox-conversation", "data-channel": c.channel || "", "data-id": c.id,
    "data-engagement": "", "data-follow-up": "true", "aria-labelledby": titleId,
  },
  el("header", { class: "convo-head" },
    el("span", { class: "channel-pill", "data-channel": c.channel || "" }, c.channel === "sms" ? "SMS" : "Message"),
    el("h3", { id: titleId }, c.phone || "A conversation"),
    el("span", { class: "sig ok", "data-testid": "signature" }, "signature verified ✓")),
  el("p", { class: "note", style: "margin:0" },
    "More messages in a conversation that started before this inbox was running: its engagement, skill and agent note are in the ",
    el("a", { href: "/admin/#/conversations" }, "admin console"), "."),
  thread(Array.isArray(c.messages) ? c.messages : []));
}

function rejectedCard(c) {
  return el("article", { class: "panel convo rejected", "data-testid": "inbox-rejected", "aria-label": "Rejected delivery" },
    el("header", { class: "convo-head" },
      el("span", { class: "channel-pill", "data-channel": "rejected" }, "Rejected"),
      el("h3", {}, `A delivery answered 401`),
      el("span", { class: "sig bad" }, "signature invalid ✗")),
    el("p", { class: "note" }, `${c.error || "bad signature"} · ${c.event || "unknown event"} · ${when(c.received_at)}. Nothing from it was kept.`));
}

let lastText = "";
let seen = null;

function render(list) {
  const root = $("#conversations");
  if (!list.length) {
    root.replaceChildren(el("div", { class: "panel inbox-empty", "data-testid": "inbox-empty" },
      el("h3", {}, "No conversations yet"),
      el("p", { class: "note" }, "Accept a chat on the shop, or send an SMS reply with the form: the conversation appears here within a second or two of engage handing it off.")));
  } else {
    root.replaceChildren(...list.map(card));
  }
  // Announce what is new (not the first load): screen readers hear one line, not the list.
  const ids = new Set(list.filter((c) => c.signature_valid).map((c) => `${c.id}:${(c.messages || []).length}`));
  if (seen) {
    const fresh = list.filter((c) => c.signature_valid && !seen.has(`${c.id}:${(c.messages || []).length}`));
    if (fresh.length) {
      const c = fresh[0];
      const what = (c.messages || []).length && seen.has(`${c.id}:${c.messages.length - 1}`) ? "New message in" : "New";
      $("#inbox-announce").textContent = `${what} ${c.channel === "sms" ? "SMS" : "web"} conversation${c.channel === "sms" && c.phone ? ` from ${c.phone}` : ""}${c.engagement ? `, engagement ${c.engagement}` : ", no engagement"}.`;
    }
  }
  seen = ids;
}

let failures = 0;

async function poll() {
  const status = $("#receiver-status");
  try {
    const res = await fetch(`${RECEIVER}/conversations`, { cache: "no-store" });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    const text = await res.text();
    const list = JSON.parse(text);
    if (!Array.isArray(list)) throw new Error("not a list");
    failures = 0;
    const n = list.filter((c) => c.signature_valid).length;
    status.textContent = `● Live · ${n} conversation${n === 1 ? "" : "s"}`;
    status.dataset.live = "on";
    if (text !== lastText) {
      lastText = text;
      render(list);
    }
  } catch (e) {
    failures += 1;
    status.dataset.live = "off";
    status.textContent = `Receiver unreachable at ${RECEIVER} (${e.message}): is cargo xtask demo running?`;
    if (lastText === "" && failures === 1) render([]);
  } finally {
    setTimeout(poll, POLL_MS);
  }
}

function say(text, error = false) {
  const s = $("#inject-status");
  s.textContent = text;
  s.classList.toggle("error", error);
  s.hidden = !text;
}

function injectForm() {
  const form = $("#inject-form");
  const from = $("#inject-from");
  const text = $("#inject-text");
  const send = form.querySelector("button[type=submit]");
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const number = from.value.replace(/[\s().-]/g, "");
    if (!/^\+[1-9]\d{6,14}$/.test(number)) {
      from.setAttribute("aria-invalid", "true");
      say("The number must be in international format, e.g. +447400100001.", true);
      from.focus();
      return;
    }
    from.removeAttribute("aria-invalid");
    if (!text.value.trim()) {
      text.setAttribute("aria-invalid", "true");
      say("Write the customer's message first.", true);
      text.focus();
      return;
    }
    text.removeAttribute("aria-invalid");
    send.disabled = true;
    say(`Sending from ${number} through the demo's Kannel…`);
    try {
      const res = await fetch(`${RECEIVER}/inject`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ from: number, text: text.value.trim() }),
      });
      const body = await res.json().catch(() => null);
      if (!res.ok) {
        say(`Not sent: ${body?.error || `HTTP ${res.status}`}`, true);
        return;
      }
      say(`Sent from ${number} to ${body?.to || "+447400123000"}. engage receives it through Kannel's get-url; the conversation appears in the list once it is handed off.`);
    } catch (e) {
      say(`Could not reach the demo receiver at ${RECEIVER} (${e.message}).`, true);
    } finally {
      send.disabled = false;
    }
  });
}

injectForm();
poll();
