// What the console knows about the campaign document (SPEC §3): the vocabularies, defaults, and
// plain-language descriptions of rules for the campaign cards.

export const FORMATS = [
  { id: "sticky", label: "Sticky tab", zone: "side" },
  { id: "overlay", label: "Overlay", zone: "proactive" },
  { id: "toaster", label: "Toaster", zone: "proactive" },
  { id: "peeling_corner", label: "Peeling corner", zone: "proactive" },
  { id: "button", label: "Button", zone: "embedded" },
  { id: "banner", label: "Banner", zone: "embedded" },
];
export const FORMAT_LABEL = Object.fromEntries(FORMATS.map((f) => [f.id, f.label]));
export const zoneKind = (format) => FORMATS.find((f) => f.id === format)?.zone;
export const isProactive = (format) => zoneKind(format) === "proactive";

export const REFRESH_SECONDS = [30, 60, 90, 120, 150, 180, 240, 300];
export const DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
export const DAY_LABEL = { mon: "Mon", tue: "Tue", wed: "Wed", thu: "Thu", fri: "Fri", sat: "Sat", sun: "Sun" };
export const OFFSITE_SOURCES = ["email", "social", "ads", "print", "tv", "sms", "other"];
export const MATCH_FIELDS = ["url", "title", "section"];
export const MATCH_OPS = ["pattern", "contains", "prefix", "equals", "regex"];
export const STYLE_FIELDS = ["background", "color", "accent", "radius", "width", "offset_x", "offset_y"];
export const BEHAVIOR_NUMBERS = [
  { key: "time_on_page", label: "Time on page (s)", min: 0, max: 86400 },
  { key: "time_on_site", label: "Time on site this visit (s)", min: 0, max: 86400 },
  { key: "pages_viewed", label: "Pages viewed this visit", min: 1, max: 100000 },
  { key: "scroll_percent", label: "Scrolled at least (%)", min: 0, max: 100 },
  { key: "idle_seconds", label: "Idle for (s)", min: 0, max: 86400 },
];
export const ID_RE = /^[a-z0-9][a-z0-9_-]{0,63}$/;
export const ELEMENT_ID_RE = /^[A-Za-z][A-Za-z0-9_:.-]{0,63}$/;

export const REASONS = {
  disabled: "The campaign or the engagement is disabled.",
  timeframe: "Outside the campaign's time frame (start, end or weekly windows).",
  business_hours: "Outside business hours (the campaign runs in business hours only).",
  control_group: "The visitor is in the control group: held out to measure lift.",
  audience: "The visitor's attributes don't meet the audience condition.",
  entry_point: "This page isn't one of the entry points (or it is excluded).",
  behavior: "A behavior rule doesn't hold yet (time, pages, scroll, exit intent…).",
  declined: "The visitor closed it earlier in this visit.",
  accepted: "The visitor already accepted it in this visit.",
  display_cap: "The per-visit display cap for proactive engagements is reached.",
  after_decline: "The visitor declined another proactive engagement of this kind.",
  availability: "Agents aren't available and there is no creative for this state.",
  zone_taken: "Another engagement with a higher priority holds the zone.",
  no_zone_element: "The page has no element with the zone's id.",
};

/** Resolves `{"ref": name}` against the document's library category. */
export function resolveRef(doc, category, value) {
  if (value && typeof value === "object" && !Array.isArray(value) && Object.keys(value).length === 1 && typeof value.ref === "string") {
    return { ref: value.ref, item: doc?.library?.[category]?.[value.ref] };
  }
  return { ref: null, item: value };
}

export const isRef = (v) => Boolean(v && typeof v === "object" && !Array.isArray(v) && Object.keys(v).length === 1 && typeof v.ref === "string");

/** The zone key as in events and `data-zone`. */
export function zoneKey(e) {
  if (e.source === "offsite") return null;
  const z = e.zone;
  if (z && typeof z === "object" && z.embedded) return `embedded:${z.embedded}`;
  if (typeof z === "string") return z;
  if (e.format === "sticky") return "right";
  if (isProactive(e.format)) return "proactive";
  return null;
}

/** `{"url": {"pattern": "/shop/*"}}` or the shorthand `{"contains": "x"}` → {field, op, value}. */
export function splitMatcher(m) {
  if (!m || typeof m !== "object") return { field: "url", op: "contains", value: "" };
  const [k] = Object.keys(m);
  if (MATCH_FIELDS.includes(k) && m[k] && typeof m[k] === "object") {
    const [op] = Object.keys(m[k]);
    return { field: k, op: op || "contains", value: String(m[k][op] ?? "") };
  }
  if (MATCH_OPS.includes(k)) return { field: "url", op: k, value: String(m[k] ?? "") };
  return { field: "url", op: "contains", value: "" };
}

const OP_TEXT = { pattern: "matches", contains: "contains", prefix: "starts with", equals: "is", regex: "matches regex" };
export function describeMatcher(m) {
  const { field, op, value } = splitMatcher(m);
  const what = field === "url" ? "URL" : field === "title" ? "title" : "section";
  return `${what} ${OP_TEXT[op] || op} ${value}`;
}

export function describeEntryPoint(doc, ep) {
  if (ep === undefined || ep === null) return "Every page";
  const { ref, item } = resolveRef(doc, "entry_points", ep);
  const prefix = ref ? `Library “${ref}”: ` : "";
  if (!item) return `${prefix}(missing)`;
  const inc = (item.include || []).map(describeMatcher);
  const exc = (item.exclude || []).map(describeMatcher);
  let s = inc.length ? inc.join(" or ") : "Every page";
  if (exc.length) s += `; not where ${exc.join(" or ")}`;
  return prefix + s;
}

function dayRange(days) {
  const idx = days.map((d) => DAYS.indexOf(d)).filter((i) => i >= 0).sort((a, b) => a - b);
  if (idx.length === 7) return "Every day";
  const runs = [];
  for (const i of idx) {
    const last = runs[runs.length - 1];
    if (last && last[1] === i - 1) last[1] = i;
    else runs.push([i, i]);
  }
  return runs.map(([a, b]) => (a === b ? DAY_LABEL[DAYS[a]] : b === a + 1 ? `${DAY_LABEL[DAYS[a]]}, ${DAY_LABEL[DAYS[b]]}` : `${DAY_LABEL[DAYS[a]]}–${DAY_LABEL[DAYS[b]]}`)).join(", ");
}

export function describeWindows(windows) {
  return (windows || []).map((w) => `${dayRange(w.days || [])} ${w.from}–${w.to}`).join("; ");
}

function shortDate(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleDateString(undefined, { day: "numeric", month: "short", year: "numeric" });
}

export function describeTimeframe(doc, c) {
  const parts = [];
  const tf = c.timeframe || {};
  if (tf.start && tf.end) parts.push(`${shortDate(tf.start)} – ${shortDate(tf.end)}`);
  else if (tf.start) parts.push(`From ${shortDate(tf.start)}`);
  else if (tf.end) parts.push(`Until ${shortDate(tf.end)}`);
  if (tf.weekly) {
    const { ref, item } = resolveRef(doc, "schedules", tf.weekly);
    parts.push((ref ? `“${ref}”: ` : "") + (describeWindows(item) || "no weekly windows"));
  }
  if (c.business_hours_only) parts.push("business hours only");
  return parts.length ? parts.join(" · ") : "Always";
}

/** The creative set of an engagement, library refs resolved. */
export function creativeSet(doc, e) {
  return resolveRef(doc, "creatives", e.creative).item || {};
}

/** The message a card shows: the first engagement's online (or content) creative. */
export function leadCreative(doc, c) {
  for (const e of c.engagements || []) {
    const set = creativeSet(doc, e);
    const cr = set.online || set.content || set.busy || set.offline;
    if (cr) return { creative: cr, engagement: e };
  }
  return { creative: null, engagement: null };
}

/** Every engagement id in the document, with where it is. */
export function engagementIds(doc) {
  const out = [];
  (doc?.campaigns || []).forEach((c, ci) => (c.engagements || []).forEach((e, ei) => out.push({ id: e.id, campaign: c.id, ci, ei })));
  return out;
}

export const unique = (xs) => [...new Set(xs.filter((x) => x !== undefined && x !== null && x !== ""))];

export function emptyEngagement() {
  return {
    kind: "conversation",
    channel: "chat",
    format: "sticky",
    zone: "right",
    behavior: { time_on_page: 5 },
    // Nothing pre-written: the editor shows examples as placeholders, and asks for the online
    // title and call to action before the campaign can be saved.
    creative: { online: {} },
  };
}

export function emptyCampaign() {
  return { enabled: true, engagements: [emptyEngagement()] };
}

/** A draft without the console's private `_` keys, as it is sent to the server. */
export function stripPrivate(v) {
  if (Array.isArray(v)) return v.map(stripPrivate);
  if (v && typeof v === "object") {
    const out = {};
    for (const [k, x] of Object.entries(v)) if (!k.startsWith("_")) out[k] = stripPrivate(x);
    return out;
  }
  return v;
}
