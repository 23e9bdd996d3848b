// engage admin console: sign-in, site selection and hash routing between the views.
// Plain ES modules, no build step, nothing downloaded at run time.

import { h, toast, fill } from "./dom.js";
import * as api from "./api.js";
import { renderCampaigns } from "./campaigns.js";
import { renderEditor } from "./editor.js";
import { renderSimulate } from "./simulate.js";
import { renderReport } from "./report.js";
import { renderVersions } from "./versions.js";
import { renderKeys } from "./keys.js";
import { renderSmsList, renderSmsReport } from "./sms.js";
import { renderSmsForm } from "./sms-form.js";
import { renderContacts } from "./contacts.js";
import { renderConversations, renderHandoffs } from "./conversations.js";
import { ID_RE } from "./model.js";

const main = document.getElementById("main");
const topbar = document.getElementById("topbar");
const siteForm = document.getElementById("site-form");
const siteInput = document.getElementById("site-input");

const ctx = {
  doc: null,
  version: null,
  /** Re-reads the active document; re-renders the current view unless `quiet`. */
  async refresh({ quiet = false } = {}) {
    await loadDocument();
    if (!quiet) route();
  },
  /** Back to the sign-in form (a refused or revoked token). */
  signOut: (message) => signOut(message),
};

let cleanup = null;
let routeSeq = 0;

async function loadDocument() {
  const { doc, version } = await api.getDocument();
  ctx.doc = doc;
  ctx.version = version;
}

function signOut(message) {
  api.session.token = "";
  ctx.doc = null;
  showSignIn(message);
}

function showSignIn(message) {
  cleanup?.();
  cleanup = null;
  topbar.hidden = true;
  document.title = "Sign in · engage admin";
  const token = h("input", {
    type: "password", id: "signin-token", name: "token", autocomplete: "current-password", required: true,
    spellcheck: "false", dataset: { testid: "signin-token" },
  });
  const site = h("input", { type: "text", id: "signin-site", name: "site", value: api.session.site, required: true, class: "mono", dataset: { testid: "signin-site" } });
  const error = h("p", { class: "msg error", role: "alert", hidden: !message, dataset: { testid: "signin-error" } }, message || "");
  const submit = h("button", { type: "submit", class: "btn primary big", dataset: { testid: "signin-submit" } }, "Sign in");
  const form = h("form", { class: "signin-form", dataset: { testid: "signin-form" } },
    h("div", { class: "field" }, h("label", { for: "signin-token" }, "Admin token"), token,
      h("p", { class: "help" }, "Printed by engage-server at start-up, or the value of ENGAGE_ADMIN_TOKEN. Kept in this tab only (session storage).")),
    h("div", { class: "field" }, h("label", { for: "signin-site" }, "Site"), site),
    error, submit);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const t = token.value.trim();
    const s = site.value.trim();
    if (!ID_RE.test(s)) {
      error.textContent = "A site id is lowercase letters, digits, - and _ (e.g. acme).";
      error.hidden = false;
      site.focus();
      return;
    }
    submit.disabled = true;
    try {
      await api.checkToken(t, s);
      api.session.token = t;
      api.session.site = s;
      if (!location.hash || location.hash === "#/signin") location.hash = "#/campaigns";
      await start();
    } catch (e) {
      error.textContent = e.status === 401 ? "That token was refused. Check it and try again."
        : e.status === 403 ? `This key is valid but can't open the console for site “${s}”. ${e.message}` : e.message;
      error.hidden = false;
      token.focus();
    } finally {
      submit.disabled = false;
    }
  });
  fill(main, h("section", { class: "signin", dataset: { testid: "signin" }, "aria-labelledby": "signin-title" },
    h("div", { class: "signin-brand" }, logo(), h("span", {}, "engage")),
    h("h1", { id: "signin-title" }, "Sign in to the admin console"),
    h("p", { class: "muted" }, "Author campaigns, preview creatives, simulate visits and read the lift."),
    form));
  token.focus();
}

function logo() {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "0 0 32 32");
  svg.setAttribute("aria-hidden", "true");
  svg.setAttribute("class", "logo");
  const p = document.createElementNS(ns, "path");
  p.setAttribute("d", "M6 7h20a3 3 0 0 1 3 3v10a3 3 0 0 1-3 3H14l-6 5v-5H6a3 3 0 0 1-3-3V10a3 3 0 0 1 3-3Z");
  p.setAttribute("fill", "currentColor");
  const c = document.createElementNS(ns, "circle");
  c.setAttribute("cx", "24"); c.setAttribute("cy", "8"); c.setAttribute("r", "5"); c.setAttribute("fill", "var(--ok)");
  c.setAttribute("stroke", "#fff"); c.setAttribute("stroke-width", "2");
  svg.append(p, c);
  return svg;
}

const VIEWS = {
  campaigns: "Campaigns",
  simulate: "Simulate",
  report: "Report",
  versions: "Versions",
  sms: "SMS",
  conversations: "Conversations",
  keys: "Access keys",
};

async function route() {
  if (!api.session.token) {
    showSignIn();
    return;
  }
  const seq = ++routeSeq;
  cleanup?.();
  cleanup = null;
  topbar.hidden = false;
  siteInput.value = api.session.site;
  const hash = location.hash || "#/campaigns";
  const [path, query] = hash.slice(1).split("?");
  const params = new URLSearchParams(query || "");
  const parts = path.split("/").filter(Boolean);
  const view = VIEWS[parts[0]] ? parts[0] : "campaigns";
  for (const a of document.querySelectorAll("[data-nav]")) {
    if (a.dataset.nav === view) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  try {
    await loadDocument();
  } catch (e) {
    if (e.status === 401) {
      signOut("Your token was refused: sign in again.");
      return;
    }
    if (seq !== routeSeq) return;
    // The keys page does not need the site's document (a key may not cover this site).
    if (view !== "keys") {
      fill(main, h("div", { class: "msg error", role: "alert" }, h("p", {}, `Could not load the campaigns: ${e.message}`),
        h("button", { type: "button", class: "btn", onclick: () => route() }, "Try again")));
      return;
    }
  }
  if (seq !== routeSeq) return;
  let title = VIEWS[view];
  if (view === "campaigns" && parts[1] === "new") {
    cleanup = renderEditor(main, ctx, null);
    title = "New campaign";
  } else if (view === "campaigns" && parts[1] === "edit" && parts[2]) {
    const id = decodeURIComponent(parts[2]);
    cleanup = renderEditor(main, ctx, id);
    title = `Edit ${id}`;
  } else if (view === "simulate") renderSimulate(main, ctx, params);
  else if (view === "report") renderReport(main, ctx);
  else if (view === "versions") renderVersions(main, ctx);
  else if (view === "keys") cleanup = renderKeys(main, ctx);
  else if (view === "sms") title = routeSms(parts.slice(1).map(decodeURIComponent));
  else if (view === "conversations" && parts[1] === "handoffs") {
    cleanup = renderHandoffs(main, ctx);
    title = "Hand-offs";
  } else if (view === "conversations") cleanup = renderConversations(main, ctx);
  else renderCampaigns(main, ctx);
  document.title = `${title} · ${api.session.site} · engage admin`;
  if (routed) main.querySelector("h1")?.setAttribute("tabindex", "-1");
  if (routed) main.querySelector("h1")?.focus({ preventScroll: false });
  routed = true;
}
let routed = false;

/** `#/sms`, `#/sms/new`, `#/sms/contacts`, `#/sms/{id}`, `#/sms/{id}/edit` (and `#/sms/c/{id}…`
 * for a campaign whose id is one of those words). Answers the page title. */
function routeSms(rest) {
  const [first, ...more] = rest;
  if (!first) {
    cleanup = renderSmsList(main, ctx);
    return "SMS campaigns";
  }
  if (first === "new" && !more.length) {
    cleanup = renderSmsForm(main, ctx, null);
    return "New SMS campaign";
  }
  if (first === "contacts" && !more.length) {
    cleanup = renderContacts(main, ctx);
    return "Contacts";
  }
  const [id, action] = first === "c" && more.length ? more : [first, more[0]];
  if (action === "edit") {
    cleanup = renderSmsForm(main, ctx, id);
    return `Edit ${id}`;
  }
  cleanup = renderSmsReport(main, ctx, id);
  return `${id} · SMS`;
}

async function start() {
  // A token may be handed over in the fragment (#token=…): kept for this tab, removed from the URL.
  const m = /(?:^|[#&])token=([^&]+)/.exec(location.hash);
  if (m) {
    api.session.token = decodeURIComponent(m[1]);
    history.replaceState(null, "", `${location.pathname}${location.search}#/campaigns`);
  }
  const site = new URLSearchParams(location.search).get("site");
  if (site && ID_RE.test(site)) api.session.site = site;
  await route();
}

siteForm.addEventListener("submit", (ev) => {
  ev.preventDefault();
  const s = siteInput.value.trim();
  if (!ID_RE.test(s)) {
    toast("A site id is lowercase letters, digits, - and _.", "error");
    siteInput.focus();
    return;
  }
  api.session.site = s;
  toast(`Site: ${s}`);
  if (location.hash.startsWith("#/campaigns/")) location.hash = "#/campaigns";
  else if (location.hash.startsWith("#/sms/") && location.hash !== "#/sms/contacts") location.hash = "#/sms";
  else route();
});

document.getElementById("sign-out").addEventListener("click", () => {
  signOut("Signed out.");
});

window.addEventListener("hashchange", () => route());
start();
