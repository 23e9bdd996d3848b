// Instant client-side checks of a campaign draft: the basics a form can tell at once. The server
// remains the authority (its 422 paths are shown the same way); these only make typing pleasant.
// Paths are relative to the campaign (`engagements[0].zone`).

import {
  ID_RE, ELEMENT_ID_RE, REFRESH_SECONDS, BEHAVIOR_NUMBERS, STYLE_FIELDS, isProactive, isRef, splitMatcher, resolveRef,
} from "./model.js";

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:\d{2})$/;
const HHMM = /^([01]\d|2[0-3]):[0-5]\d$|^24:00$/;
const LANG = /^[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8})*$/;
const STYLE_FORBIDDEN = ["url(", "expression(", ";", "{", "}", "<", ">", "\\", "javascript:", "@import"];

export function httpUrlProblem(url) {
  if (!/^https?:\/\//i.test(url)) return "must be a web address starting with https:// or http://";
  if (!/^https?:\/\/[^/?#\s]+/i.test(url)) return "has no host name after the //";
  if (/[\s<>"]/.test(url)) return "contains spaces or characters not allowed in a web address";
  return null;
}

function regexProblem(re) {
  try {
    new RegExp(re.replace(/^\(\?i\)/, ""));
    return null;
  } catch (e) {
    return `is not a valid regular expression (${e.message})`;
  }
}

export function validateCampaign(c, { doc, isNew }) {
  const out = [];
  const err = (path, message) => out.push({ path, message });
  const text = (path, v, max) => {
    if (typeof v === "string" && v.length > max) err(path, `${v.length} characters long: at most ${max} are allowed`);
  };

  if (!c.id) err("id", "Give the campaign an id (e.g. summer-sale).");
  else if (!ID_RE.test(c.id)) err("id", "Use 1 to 64 lowercase letters, digits, “-” or “_”, starting with a letter or digit.");
  else if (isNew && (doc?.campaigns || []).some((x) => x.id === c.id)) err("id", `A campaign “${c.id}” already exists.`);
  text("name", c.name, 200);
  text("goal", c.goal, 200);
  text("description", c.description, 2000);
  if (c.priority !== undefined && (!Number.isInteger(c.priority) || Math.abs(c.priority) > 1e6)) err("priority", "Use a whole number from -1000000 to 1000000.");
  if (c.control_group_percent !== undefined) {
    const p = c.control_group_percent;
    if (typeof p !== "number" || !(p >= 0 && p <= 100)) err("control_group_percent", "Use a percentage from 0 to 100.");
    else if (p === 100) err("control_group_percent", "100% puts every visitor in the control group: nothing would ever show.");
  }
  if (c.business_hours_only && doc && !doc.business_hours) err("business_hours_only", "The document declares no business hours.");

  const tf = c.timeframe || {};
  for (const k of ["start", "end"]) {
    if (tf[k] && !RFC3339.test(tf[k])) err(`timeframe.${k}`, "Use an RFC 3339 date-time, e.g. 2026-12-01T09:00:00Z or 2026-12-01T09:00:00+01:00.");
  }
  if (tf.start && tf.end && RFC3339.test(tf.start) && RFC3339.test(tf.end) && Date.parse(tf.end) <= Date.parse(tf.start)) {
    err("timeframe.end", "The time frame ends before it starts.");
  }
  if (Array.isArray(tf.weekly)) windows("timeframe.weekly", tf.weekly, err);
  else if (isRef(tf.weekly) && !doc?.library?.schedules?.[tf.weekly.ref]) err("timeframe.weekly", `No library schedule “${tf.weekly.ref}”.`);

  if (c.audience !== undefined) {
    if (isRef(c.audience)) {
      if (!doc?.library?.audiences?.[c.audience.ref]) err("audience", `No library audience “${c.audience.ref}”.`);
    } else if (c.audience === null || typeof c.audience !== "object" || Array.isArray(c.audience)) {
      err("audience", "The audience is a condition object, e.g. {\"country\": {\"$in\": [\"GB\", \"IE\"]}}.");
    }
  }

  const engagements = c.engagements || [];
  if (!engagements.length) err("engagements", "Add at least one engagement: without one the campaign shows nothing.");
  const elsewhere = new Map();
  for (const x of doc?.campaigns || []) {
    if (!isNew && x.id === c.id) continue;
    for (const e of x.engagements || []) elsewhere.set(e.id, x.id);
  }
  const seen = new Map();
  engagements.forEach((e, i) => {
    const p = `engagements[${i}]`;
    if (!e.id) err(`${p}.id`, "Give the engagement an id.");
    else if (!ID_RE.test(e.id)) err(`${p}.id`, "Use 1 to 64 lowercase letters, digits, “-” or “_”.");
    else if (seen.has(e.id)) err(`${p}.id`, `Already used by engagement ${seen.get(e.id) + 1}: engagement ids are unique across the document.`);
    else if (elsewhere.has(e.id)) err(`${p}.id`, `Already used in campaign “${elsewhere.get(e.id)}”: engagement ids are unique across the document.`);
    if (e.id) seen.set(e.id, i);
    engagement(p, e, { doc, err, text, engagements, all: [...elsewhere.keys(), ...seen.keys()] });
  });
  return out;
}

function windows(path, list, err) {
  list.forEach((w, i) => {
    const p = `${path}[${i}]`;
    if (!w.days || !w.days.length) err(`${p}.days`, "Pick at least one day.");
    if (!HHMM.test(w.from || "")) err(`${p}.from`, "Use HH:MM, e.g. 09:00.");
    else if (w.from === "24:00") err(`${p}.from`, "A window can't start at 24:00.");
    if (!HHMM.test(w.to || "")) err(`${p}.to`, "Use HH:MM, e.g. 17:30 (24:00 for midnight).");
    else if (w.from === w.to) err(`${p}.to`, "From and to are the same: the window would be empty.");
  });
}

function matcher(path, m, err) {
  const { field, op, value } = splitMatcher(m);
  const p = `${path}.${field}.${op}`;
  if (!value.trim()) err(p, "Give the text to match.");
  else if (op === "regex") {
    const problem = regexProblem(value);
    if (problem) err(p, `“${value}” ${problem}.`);
  } else if (op === "pattern" && field === "url" && /\(/.test(value)) err(p, "Regular-expression groups ( ) aren't supported in patterns: use regex instead.");
}

function engagement(p, e, { doc, err, text, all }) {
  text(`${p}.name`, e.name, 200);
  text(`${p}.agent_note`, e.agent_note, 1000);
  if (e.language && !LANG.test(e.language)) err(`${p}.language`, "Use a language tag such as en, en-GB or pt-BR.");
  const kind = e.kind;
  if (kind !== "conversation" && kind !== "content") err(`${p}.kind`, "Choose conversation or content.");
  const offsite = e.source === "offsite";
  if (offsite) {
    const o = e.offsite || {};
    if (!o.landing_url) err(`${p}.offsite.landing_url`, "Offsite links need the landing page's address.");
    else {
      const bad = httpUrlProblem(o.landing_url);
      if (bad) err(`${p}.offsite.landing_url`, `The landing URL ${bad}.`);
    }
    if (o.offline_survey_url) {
      const bad = httpUrlProblem(o.offline_survey_url);
      if (bad) err(`${p}.offsite.offline_survey_url`, `The survey URL ${bad}.`);
    }
  } else {
    if (!e.format) err(`${p}.format`, "Choose a format.");
    if (e.format === "sticky" && e.zone !== undefined && e.zone !== "left" && e.zone !== "right") err(`${p}.zone`, "A sticky tab goes left or right.");
    if (e.format === "button" || e.format === "banner") {
      const id = e.zone?.embedded;
      if (!id) err(`${p}.zone`, `Name the page element the ${e.format} renders into (its id).`);
      else if (!ELEMENT_ID_RE.test(id)) err(`${p}.zone`, "An element id starts with a letter, then letters, digits, “_”, “:”, “.” or “-”.");
    }
  }
  if (kind === "conversation" && e.skill && doc && !(doc.skills || []).some((s) => s.id === e.skill)) {
    err(`${p}.skill`, `No skill “${e.skill}” in the document.`);
  }
  if (e.refresh_seconds !== undefined && e.refresh_seconds !== null) {
    const set = resolveRef(doc, "creatives", e.creative).item || {};
    const r = e.refresh_seconds;
    let m = null;
    if (!REFRESH_SECONDS.includes(r)) m = `Use one of ${REFRESH_SECONDS.join(", ")} seconds.`;
    else if (kind === "content") m = "Content engagements have no agent state to refresh.";
    else if (offsite) m = "Offsite links have nothing to refresh.";
    else if (e.channel === "messaging") m = "Messaging engagements show whatever the agents' state: nothing to refresh.";
    else if (isProactive(e.format)) m = "Proactive engagements (overlay, toaster, peeling corner) are never refreshed.";
    else if (!set.busy && !set.offline) m = "Refresh switches to a busy or offline creative: add one first.";
    if (m) err(`${p}.refresh_seconds`, m);
  }

  // Entry points and behavior
  if (e.entry_point && !isRef(e.entry_point)) {
    for (const list of ["include", "exclude"]) {
      (e.entry_point[list] || []).forEach((m, j) => matcher(`${p}.entry_point.${list}[${j}]`, m, err));
    }
  } else if (isRef(e.entry_point) && !doc?.library?.entry_points?.[e.entry_point.ref]) {
    err(`${p}.entry_point`, `No library entry point “${e.entry_point.ref}”.`);
  }
  if (e.behavior && !isRef(e.behavior)) {
    const b = e.behavior;
    for (const n of BEHAVIOR_NUMBERS) {
      const v = b[n.key];
      if (v === undefined) continue;
      if (!Number.isInteger(v) || v < n.min || v > n.max) err(`${p}.behavior.${n.key}`, `Use a whole number from ${n.min} to ${n.max}.`);
    }
    if (b.visited) matcher(`${p}.behavior.visited`, b.visited, err);
    if (b.referrer) matcher(`${p}.behavior.referrer`, b.referrer, err);
    if (b.engaged) {
      if (!b.engaged.engagement) err(`${p}.behavior.engaged.engagement`, "Choose the engagement.");
      else if (!all.includes(b.engaged.engagement)) err(`${p}.behavior.engaged.engagement`, `No engagement “${b.engaged.engagement}” in the document.`);
    }
  } else if (isRef(e.behavior) && !doc?.library?.behaviors?.[e.behavior.ref]) {
    err(`${p}.behavior`, `No library behavior “${e.behavior.ref}”.`);
  }

  // Creatives
  if (isRef(e.creative)) {
    if (!doc?.library?.creatives?.[e.creative.ref]) err(`${p}.creative`, `No library creative “${e.creative.ref}”.`);
  } else {
    const set = e.creative || {};
    if (kind === "content") {
      if (!set.content) err(`${p}.creative.content`, "Content engagements need a creative: title, message, call to action and its URL.");
      for (const s of ["online", "busy", "offline"]) if (set[s]) err(`${p}.creative.${s}`, "Content engagements have a single creative.");
    } else if (kind === "conversation") {
      if (!set.online) err(`${p}.creative.online`, "Conversation engagements need an online creative (shown while agents are available).");
      if (set.content) err(`${p}.creative.content`, "Only content engagements take a content creative.");
    }
    for (const s of ["online", "busy", "offline", "content"]) {
      const cr = set[s];
      if (!cr) continue;
      const cp = `${p}.creative.${s}`;
      text(`${cp}.title`, cr.title, 200);
      text(`${cp}.message`, cr.message, 2000);
      text(`${cp}.cta`, cr.cta, 80);
      for (const u of ["url", "image_url"]) {
        if (cr[u]) {
          const bad = httpUrlProblem(cr[u]);
          if (bad) err(`${cp}.${u}`, `The address ${bad}.`);
        }
      }
    }
    if (kind === "content" && set.content && !set.content.url) err(`${p}.creative.content.url`, "Give the address the call to action opens.");
  }
  if (e.sender?.avatar_url) {
    const bad = httpUrlProblem(e.sender.avatar_url);
    if (bad) err(`${p}.sender.avatar_url`, `The avatar address ${bad}.`);
  }
  text(`${p}.sender.name`, e.sender?.name, 200);
  for (const k of STYLE_FIELDS) {
    const v = e.style?.[k];
    if (!v) continue;
    const lower = v.toLowerCase();
    const bad = STYLE_FORBIDDEN.find((f) => lower.includes(f));
    if (bad) err(`${p}.style.${k}`, `Plain CSS values only: “${bad}” is not allowed (use e.g. #1a73e8, 8px or 50%).`);
    else if (v.length > 100) err(`${p}.style.${k}`, "At most 100 characters.");
  }
}
