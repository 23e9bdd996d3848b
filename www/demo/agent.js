// The demo's agent console: sets each skill's availability through the admin API
// (PUT /admin/v1/sites/{site}/availability/{skill}) and shows the live state from the public
// availability stream, so anyone can watch the shop's engagements change state.

const SITE = new URLSearchParams(location.search).get("site") || "acme";
const TOKEN_KEY = "engage-admin:token"; // shared with the admin console (same origin)
const FALLBACK_SKILLS = [
  { id: "sales", name: "Sales", max_wait_seconds: 120 },
  { id: "support", name: "Customer support", max_wait_seconds: 180 },
];
const PRESETS = {
  online: { agents_online: 3, agents_with_capacity: 2, expected_wait_seconds: 15 },
  busy: { agents_online: 3, agents_with_capacity: 0, expected_wait_seconds: 240 },
  offline: { agents_online: 0, agents_with_capacity: 0, expected_wait_seconds: 0 },
};

let skills = FALLBACK_SKILLS.slice();
let availability = {};

const $ = (sel) => document.querySelector(sel);

function token() {
  try {
    return sessionStorage.getItem(TOKEN_KEY) || "";
  } catch (_) {
    return "";
  }
}

function setToken(t) {
  try {
    if (t) sessionStorage.setItem(TOKEN_KEY, t);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch (_) {
    /* storage disabled: the token lives in the input only */
  }
}

function say(text, error = false) {
  const s = $("#agent-status");
  s.textContent = text;
  s.classList.toggle("error", error);
  s.hidden = !text;
}

/** The engine's rule (SPEC §4.5): offline / busy / online. */
function stateOf(a, maxWait) {
  if (!a || !(a.agents_online > 0)) return "offline";
  if (!(a.agents_with_capacity > 0) || (a.expected_wait_seconds || 0) > maxWait) return "busy";
  return "online";
}

async function errorText(res) {
  try {
    const body = await res.json();
    if (body?.error?.message) return `${res.status}: ${body.error.message}`;
  } catch (_) {
    /* not JSON */
  }
  return `${res.status} ${res.statusText}`;
}

async function setAvailability(skill, numbers) {
  const t = token() || $("#token").value.trim();
  if (!t) {
    say("Enter the admin token first: the availability feed is an admin API.", true);
    $("#token").focus();
    return;
  }
  try {
    const res = await fetch(`/admin/v1/sites/${encodeURIComponent(SITE)}/availability/${encodeURIComponent(skill)}`, {
      method: "PUT",
      headers: { "content-type": "application/json", authorization: `Bearer ${t}` },
      body: JSON.stringify(numbers),
    });
    if (res.status === 401 || res.status === 403) {
      say("The server refused the token: check it and try again.", true);
      return;
    }
    if (!res.ok) {
      say(`Could not update ${skill}: ${await errorText(res)}`, true);
      return;
    }
    const body = await res.json().catch(() => null);
    if (body) apply(body);
    else {
      availability[skill] = numbers;
      render();
    }
    say(`${skill}: ${numbers.agents_online} online, ${numbers.agents_with_capacity} with capacity, ${numbers.expected_wait_seconds} s wait.`);
  } catch (e) {
    say(`Could not reach the server: ${e.message}`, true);
  }
}

/** Takes `{"skills": {...}}` (or a bare map) as served by the availability endpoints. */
function apply(body) {
  const map = body && typeof body === "object" && body.skills && typeof body.skills === "object" ? body.skills : body;
  if (!map || typeof map !== "object") return;
  availability = { ...map };
  for (const id of Object.keys(availability)) {
    if (!skills.some((s) => s.id === id)) skills.push({ id, name: id, max_wait_seconds: 120, undeclared: true });
  }
  render();
}

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (v !== undefined && v !== null) e.setAttribute(k, String(v));
  }
  e.append(...children);
  return e;
}

function card(skill) {
  const a = availability[skill.id];
  const maxWait = skill.max_wait_seconds ?? 120;
  const state = stateOf(a, maxWait);
  const seg = el("div", { class: "seg", role: "group", "aria-label": `Set ${skill.name || skill.id}` },
    ...["online", "busy", "offline"].map((s) => {
      const b = el("button", {
        type: "button", "data-set": s, "aria-pressed": String(state === s), "data-testid": `set-${s}`,
      }, s[0].toUpperCase() + s.slice(1));
      b.addEventListener("click", () => setAvailability(skill.id, PRESETS[s]));
      return b;
    }));
  const num = (name, label, value) =>
    el("label", {}, label, el("input", { type: "number", min: 0, max: 100000, name, value: value ?? 0 }));
  const form = el("form", { class: "numbers", "aria-label": `Exact numbers for ${skill.id}` },
    num("agents_online", "Agents online", a?.agents_online),
    num("agents_with_capacity", "With capacity", a?.agents_with_capacity),
    num("expected_wait_seconds", "Wait (s)", a?.expected_wait_seconds),
    el("button", { class: "btn small ghost", type: "submit", style: "grid-column:1 / -1" }, "Apply these numbers"));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const n = (k) => Math.max(0, Number.parseInt(form.elements[k].value, 10) || 0);
    setAvailability(skill.id, {
      agents_online: n("agents_online"),
      agents_with_capacity: n("agents_with_capacity"),
      expected_wait_seconds: n("expected_wait_seconds"),
    });
  });
  return el("article", { class: "panel skill-card", "data-testid": "skill-card", "data-skill": skill.id, "data-state": state },
    el("header", {},
      el("div", {}, el("h3", {}, skill.name || skill.id), el("code", {}, skill.id)),
      el("span", { class: "state-pill", "data-state": state, "data-testid": "skill-state" }, state)),
    seg,
    el("p", { class: "note", style: "margin:0" }, skill.undeclared
      ? "The agent system feeds this skill, but the campaign document does not declare it: no engagement uses its own wait limit (120 s is assumed)."
      : `Busy above a ${maxWait} s wait.`),
    form);
}

function render() {
  const grid = $("#skills");
  // Keep focus on the same control across re-renders.
  const active = document.activeElement;
  const key = active?.closest?.("[data-skill]")?.dataset.skill;
  const which = active?.dataset?.set;
  grid.replaceChildren(...skills.map(card));
  if (key && which) grid.querySelector(`[data-skill="${key}"] [data-set="${which}"]`)?.focus();
}

/** Skill names and maximum waits from the active document, when the token allows reading it. */
async function loadSkills() {
  const t = token();
  if (!t) return;
  try {
    const res = await fetch(`/admin/v1/sites/${encodeURIComponent(SITE)}/campaigns`, {
      headers: { authorization: `Bearer ${t}` },
    });
    if (!res.ok) return;
    const doc = await res.json();
    if (Array.isArray(doc.skills) && doc.skills.length) {
      skills = doc.skills.map((s) => ({ id: s.id, name: s.name || s.id, max_wait_seconds: s.max_wait_seconds ?? 120 }));
      for (const id of Object.keys(availability)) {
        if (!skills.some((s) => s.id === id)) skills.push({ id, name: id, max_wait_seconds: 120, undeclared: true });
      }
      render();
    }
  } catch (_) {
    /* keep the fallback skills */
  }
}

async function poll() {
  try {
    const res = await fetch(`/v1/sites/${encodeURIComponent(SITE)}/availability`, { cache: "no-store" });
    if (res.ok) apply(await res.json());
  } catch (_) {
    /* the stream or the next poll will catch up */
  }
}

function live() {
  const status = $("#live-status");
  if (!("EventSource" in window)) {
    status.textContent = "Polling every 5 s";
    setInterval(poll, 5000);
    return;
  }
  const es = new EventSource(`/v1/sites/${encodeURIComponent(SITE)}/availability/stream`);
  const onData = (ev) => {
    try {
      apply(JSON.parse(ev.data));
    } catch (_) {
      /* ignore keep-alives and other events */
    }
  };
  es.onmessage = onData;
  es.addEventListener("availability", onData);
  es.onopen = () => { status.textContent = "● Live"; };
  es.onerror = () => { status.textContent = "Reconnecting…"; };
}

function tokenForm() {
  // A token may be handed over in the fragment (#token=…): stored, then removed from the URL.
  const m = /(?:^|[#&])token=([^&]+)/.exec(location.hash);
  if (m) {
    setToken(decodeURIComponent(m[1]));
    history.replaceState(null, "", location.pathname + location.search);
  }
  $("#token").value = token();
  $("#token-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    setToken($("#token").value.trim());
    say("Token saved for this tab.");
    loadSkills();
  });
  $("#forget-token").addEventListener("click", () => {
    setToken("");
    $("#token").value = "";
    say("Token forgotten.");
  });
}

tokenForm();
render();
poll();
live();
loadSkills();
