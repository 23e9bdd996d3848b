// SMS campaigns (SPEC §10) in the console: what the views share. Time zones (the schedule is
// entered and shown in the site's time zone), status labels, the progress bar and the live
// stream of a campaign's changes.

import { h, fill } from "./dom.js";
import * as api from "./api.js";

export const STATUS_LABEL = {
  scheduled: "Scheduled",
  sending: "Sending",
  completed: "Completed",
  cancelled: "Cancelled",
};

export const ENCODING_LABEL = { gsm7: "GSM-7", ucs2: "UCS-2" };

/** The id segment a report link uses: `#/sms/{id}`, or `#/sms/c/{id}` for ids that are views. */
export function reportHash(id) {
  const e = encodeURIComponent(id);
  return id === "new" || id === "contacts" || id === "c" ? `#/sms/c/${e}` : `#/sms/${e}`;
}

// ---- time zones ---------------------------------------------------------------------------

export function validTimeZone(tz) {
  if (!tz || typeof tz !== "string") return false;
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: tz });
    return true;
  } catch (_) {
    return false;
  }
}

export function browserTimeZone() {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  } catch (_) {
    return "UTC";
  }
}

/** The site's time zone (the active document's `timezone`), else the browser's. */
export function siteTimeZone(ctx) {
  const tz = ctx?.doc?.timezone;
  return validTimeZone(tz) ? tz : browserTimeZone();
}

const partsCache = new Map();
function partsFormat(tz) {
  let f = partsCache.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat("en-US", {
      timeZone: tz, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
      hour: "2-digit", minute: "2-digit", second: "2-digit",
    });
    partsCache.set(tz, f);
  }
  return f;
}

/** The wall-clock fields of instant `ms` in `tz`. */
export function wallClock(ms, tz) {
  const out = {};
  for (const p of partsFormat(tz).formatToParts(new Date(ms))) if (p.type !== "literal") out[p.type] = Number(p.value);
  if (out.hour === 24) out.hour = 0;
  return out;
}

/** How far `tz` is ahead of UTC at instant `ms`, in ms. */
function offsetAt(ms, tz) {
  const w = wallClock(ms, tz);
  const asUtc = Date.UTC(w.year, w.month - 1, w.day, w.hour, w.minute, w.second);
  return asUtc - Math.floor(ms / 1000) * 1000;
}

/** `"2026-12-05T10:00"` read as a wall-clock time in `tz` → a Date (null when malformed). */
export function zonedToDate(local, tz) {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2}))?$/.exec(local || "");
  if (!m) return null;
  const [y, mo, d, hh, mm, ss] = m.slice(1).map((x) => Number(x || 0));
  const guess = Date.UTC(y, mo - 1, d, hh, mm, ss);
  const first = offsetAt(guess, tz);
  let ms = guess - first;
  const second = offsetAt(ms, tz);
  if (second !== first) ms = guess - second;
  return new Date(ms);
}

const pad = (n) => String(n).padStart(2, "0");

/** A Date as the value of a `datetime-local` input, in `tz`. */
export function dateToZoned(date, tz) {
  const w = wallClock(date.getTime(), tz);
  return `${w.year}-${pad(w.month)}-${pad(w.day)}T${pad(w.hour)}:${pad(w.minute)}`;
}

/** An instant for people, in `tz`, with the zone's short name ("5 Dec 2026, 10:00 GMT"). */
export function formatInZone(iso, tz, { zoneName = true } = {}) {
  if (!iso) return "";
  const d = iso instanceof Date ? iso : new Date(iso);
  if (Number.isNaN(d.getTime())) return String(iso);
  try {
    return d.toLocaleString(undefined, {
      timeZone: tz, year: "numeric", month: "short", day: "numeric", hour: "2-digit", minute: "2-digit",
      timeZoneName: zoneName ? "short" : undefined,
    });
  } catch (_) {
    return d.toLocaleString();
  }
}

/** RFC 3339 in UTC, to the second. */
export const rfc3339 = (date) => date.toISOString().replace(/\.\d{3}Z$/, "Z");

// ---- ids ------------------------------------------------------------------------------------

/** "Winter sale: 20% off!" → "winter-sale-20-off" (a valid id, or ""). */
export function slugify(text) {
  return String(text || "")
    .normalize("NFKD").replace(/[\u0300-\u036f]/g, "")
    .toLowerCase()
    .replace(/[^a-z0-9_]+/g, "-")
    .replace(/^[-_]+/, "")
    .slice(0, 64)
    .replace(/-+$/, "");
}

// ---- audience ------------------------------------------------------------------------------

/** "Any of vip, newsletter · none of churned · + condition" as nodes. */
export function describeAudience(audience) {
  const any = audience?.tags?.any || [];
  const none = audience?.tags?.none || [];
  const cond = audience?.condition && Object.keys(audience.condition).length > 0;
  const parts = [];
  if (any.length) parts.push(h("span", {}, "Any of ", chips(any)));
  if (none.length) parts.push(h("span", {}, "none of ", chips(none, "neg")));
  if (cond) parts.push(h("span", { title: JSON.stringify(audience.condition) }, parts.length ? "+ a condition" : "Contacts matching a condition"));
  if (!parts.length) return "All contacts with consent";
  return h("span", { class: "audience-desc" }, parts.map((p, i) => [i ? " · " : null, p]));
}

function chips(list, cls = "") {
  return h("span", { class: "chips" }, list.map((t) => h("span", { class: `chip tag ${cls}`.trim() }, t)));
}

// ---- progress -------------------------------------------------------------------------------

export function progressOf(c) {
  const p = c?.progress || {};
  const num = (k) => (typeof p[k] === "number" ? p[k] : 0);
  const recipients = typeof p.recipients === "number" ? p.recipients : (c?.status === "scheduled" ? 0 : c?.audience_size || 0);
  const done = num("sent") + num("delivered") + num("failed");
  let fraction = recipients > 0 ? Math.min(1, done / recipients) : c?.status === "completed" ? 1 : 0;
  if (c?.status === "completed" && recipients === 0) fraction = 1;
  return { recipients, done, fraction, sent: num("sent"), delivered: num("delivered"), failed: num("failed") };
}

/**
 * A progress bar (role=progressbar) for campaign `c`: delivered, sent (not yet delivered) and
 * failed as segments of one bar. `update(c)` redraws it.
 */
export function progressBar(c, { label = "Sending progress", compact = false } = {}) {
  const fills = {
    delivered: h("span", { class: "pb-seg delivered" }),
    sent: h("span", { class: "pb-seg sent" }),
    failed: h("span", { class: "pb-seg failed" }),
  };
  const bar = h("div", {
    class: "pb-track", role: "progressbar", "aria-label": label, "aria-valuemin": "0", "aria-valuemax": "100",
    dataset: { testid: "sms-progress" },
  }, fills.delivered, fills.sent, fills.failed);
  const caption = h("p", { class: "pb-caption small" });
  const wrap = h("div", { class: `progress${compact ? " compact" : ""}` }, bar, caption);
  const update = (x) => {
    const p = progressOf(x);
    const pct = Math.round(p.fraction * 100);
    bar.setAttribute("aria-valuenow", String(pct));
    bar.setAttribute("aria-valuetext", p.recipients
      ? `${pct}%: ${p.done.toLocaleString()} of ${p.recipients.toLocaleString()} messages handed over`
      : `${pct}%`);
    const share = (n) => (p.recipients > 0 ? `${(Math.min(n, p.recipients) / p.recipients) * 100}%` : "0%");
    fills.delivered.style.width = p.recipients ? share(p.delivered) : x?.status === "completed" ? "100%" : "0%";
    fills.sent.style.width = share(p.sent);
    fills.failed.style.width = share(p.failed);
    wrap.dataset.status = x?.status || "";
    const waiting = x?.progress?.quiet_hours_waiting || 0;
    if (x?.status === "scheduled" || (x?.status === "cancelled" && !x?.started_at && !p.done)) {
      fill(caption, h("span", {}, x.status === "scheduled"
        ? "Not started yet: the audience is frozen and sending begins at the scheduled time."
        : "Cancelled before sending started: no message was sent."));
      return;
    }
    fill(caption,
      h("span", {}, h("b", {}, `${pct}%`), p.recipients ? ` — ${p.done.toLocaleString()} of ${p.recipients.toLocaleString()} handed over` : " — no recipients"),
      p.delivered ? h("span", { class: "key delivered" }, `${p.delivered.toLocaleString()} delivered`) : null,
      p.sent ? h("span", { class: "key sent" }, `${p.sent.toLocaleString()} awaiting report`) : null,
      p.failed ? h("span", { class: "key failed" }, `${p.failed.toLocaleString()} failed`) : null,
      waiting ? h("span", { class: "key waiting" }, `${waiting.toLocaleString()} waiting for quiet hours to end`) : null);
  };
  update(c);
  return { el: wrap, update };
}

// ---- live updates ----------------------------------------------------------------------------

export const isLive = (c) => c?.status === "scheduled" || c?.status === "sending";

/**
 * Follows campaign `id`'s stream, calling `onUpdate(c)` on every change; reconnects with backoff
 * while the campaign can still change. Answers a stop function.
 */
export function follow(id, onUpdate, { onState } = {}) {
  const ctl = new AbortController();
  let stopped = false;
  let delay = 1000;
  let last = null;
  const run = async () => {
    while (!stopped) {
      try {
        onState?.("live");
        await api.smsStream(id, {
          signal: ctl.signal,
          onEvent: (c) => {
            delay = 1000;
            last = c;
            onUpdate(c);
          },
        });
      } catch (e) {
        if (stopped || e?.name === "AbortError") return;
        if (e?.status === 404 || e?.status === 401 || e?.status === 403) {
          onState?.("gone", e);
          return;
        }
      }
      if (stopped) return;
      if (last && !isLive(last)) {
        onState?.("done");
        return;
      }
      // The stream ended or broke: catch up with one GET, then reconnect.
      onState?.("reconnecting");
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 15000);
      if (stopped) return;
      try {
        const c = await api.smsCampaign(id);
        last = c;
        onUpdate(c);
        if (!isLive(c)) {
          onState?.("done");
          return;
        }
      } catch (e) {
        if (e?.status === 404) {
          onState?.("gone", e);
          return;
        }
      }
    }
  };
  run();
  return () => {
    stopped = true;
    ctl.abort();
  };
}

export const num = (v) => (typeof v === "number" ? v.toLocaleString() : "—");
export const plural = (n, one, many = `${one}s`) => `${typeof n === "number" ? n.toLocaleString() : n} ${n === 1 ? one : many}`;

/** A message template as nodes, its {{placeholders}} marked. */
export function templateNodes(text) {
  const out = [];
  const s = String(text || "");
  let at = 0;
  for (const m of s.matchAll(/\{\{[^{}]*\}\}/g)) {
    out.push(s.slice(at, m.index), h("span", { class: "ph-code" }, m[0]));
    at = m.index + m[0].length;
  }
  out.push(s.slice(at));
  return out;
}

/** After a view replaced what had the focus (its "Loading…" heading), the focus goes to its h1. */
export function settleFocus(root) {
  const a = document.activeElement;
  if (a && a !== document.body && a.isConnected) return;
  const h1 = root.querySelector("h1");
  if (!h1) return;
  h1.setAttribute("tabindex", "-1");
  h1.focus({ preventScroll: true });
}
