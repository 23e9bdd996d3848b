// Access keys (SPEC §6): the list (revoke with a confirmation), a form to create one, and the new
// token shown once. Only an admin key may manage keys: any other key gets a plain explanation.

import { h, toast, confirmDialog, when, fill, uid } from "./dom.js";
import * as api from "./api.js";
import { ID_RE } from "./model.js";

export const ROLES = {
  admin: { label: "Admin", short: "everything, keys too", help: "Everything on its sites, including creating and revoking keys." },
  editor: { label: "Editor", short: "makes changes", help: "Campaign documents, simulate, contacts, SMS inboxes and campaigns — plus everything an analyst reads." },
  analyst: { label: "Analyst", short: "read-only", help: "Read-only: documents, versions, reports, conversations and SMS campaigns." },
  agent_feed: { label: "Agent feed", short: "availability only", help: "Only the agent system's availability feed (PUT …/availability/{skill}); it cannot open the console." },
};

/** "Owner token", a key's name (when known) or its id, for "made by" columns. */
export function keyLabel(id, names = {}) {
  if (!id) return "—";
  if (id === "owner") return "Owner token";
  return names[id] || id;
}

/** The "made by" cell: the name with the id beside it (or the id alone when unknown). */
export function keyCell(id, names = {}) {
  if (!id) return h("span", { class: "muted" }, "—");
  if (id === "owner") return h("span", { class: "key-ref owner" }, "Owner token");
  const name = names[id];
  return name
    ? h("span", { class: "key-ref" }, name, " ", h("code", { class: "muted small" }, id))
    : h("code", { class: "key-ref" }, id);
}

function sitesChips(sites = []) {
  if (sites.includes("*")) return h("span", { class: "chip every" }, "Every site");
  return h("span", { class: "chips" }, sites.map((s) => h("span", { class: "chip tag" }, s)));
}

function roleBadge(role) {
  return h("span", { class: `status role role-${role}`, dataset: { testid: "key-role" } }, ROLES[role]?.label || role);
}

export function renderKeys(root, ctx) {
  let disposed = false;
  let keys = [];
  const listSlot = h("div", { dataset: { testid: "key-list" } }, h("p", { class: "muted" }, "Loading the keys…"));
  const tokenSlot = h("div", { class: "token-slot", role: "status", "aria-live": "polite", dataset: { testid: "token-slot" } });
  const formSlot = h("div", {});
  const head = h("div", { class: "page-head" }, h("div", {},
    h("h1", {}, "Access keys"),
    h("p", { class: "muted" }, "Give each person or system its own key with only the role and sites it needs. A key can be revoked at any time; its token is shown once, when it is made.")));
  fill(root, head, tokenSlot, formSlot,
    h("section", { class: "panel", "aria-labelledby": "keys-title" },
      h("div", { class: "section-head" }, h("h2", { id: "keys-title" }, "Keys"),
        h("p", { class: "muted small", "aria-live": "polite", dataset: { testid: "key-count" } })),
      listSlot));

  const names = () => Object.fromEntries(keys.map((k) => [k.id, k.name]));

  const load = async () => {
    let data;
    try {
      data = await api.listKeys();
    } catch (e) {
      if (disposed) return;
      if (e.status === 401) {
        ctx.signOut?.("Your token was refused: sign in again.");
        return;
      }
      if (e.status === 403) {
        notAdmin(e);
        return;
      }
      fill(listSlot, h("div", { class: "msg error", role: "alert" },
        h("p", {}, `Could not load the keys: ${e.message}`),
        h("button", { type: "button", class: "btn", onclick: () => load() }, "Try again")));
      return;
    }
    if (disposed) return;
    keys = Array.isArray(data?.keys) ? data.keys : [];
    drawList();
    if (!formSlot.firstChild) fill(formSlot, createForm());
  };

  /** The signed-in key is not an admin: say so, and what each role may do. */
  const notAdmin = (e) => {
    fill(formSlot);
    fill(root, head,
      h("section", { class: "panel keys-denied", "aria-labelledby": "keys-denied-title", dataset: { testid: "keys-forbidden" } },
        h("h2", { id: "keys-denied-title" }, "Your key can't manage access keys"),
        h("p", {}, "Only a key with the ", h("b", {}, "admin"), " role can list, create or revoke keys. Ask an admin for a key, or sign in with the owner token (", h("code", {}, "ENGAGE_ADMIN_TOKEN"), ")."),
        h("p", { class: "muted small" }, "The server said: ", e.message.replace(/^Not allowed: /, ""))),
      h("section", { class: "panel", "aria-labelledby": "roles-title" },
        h("h2", { id: "roles-title" }, "What each role can do"),
        roleList()));
  };

  const drawList = () => {
    const live = keys.filter((k) => !k.revoked_at);
    const count = listSlot.closest("section")?.querySelector("[data-testid=key-count]");
    if (count) count.textContent = keys.length ? `${live.length} active${keys.length > live.length ? ` · ${keys.length - live.length} revoked` : ""}` : "";
    if (!keys.length) {
      fill(listSlot, h("p", { class: "muted", dataset: { testid: "keys-empty" } },
        "No keys yet: everyone uses the owner token. Create a key above for each person or system instead."));
      return;
    }
    const n = names();
    // Active keys first (newest first), then the revoked ones.
    const sorted = [...keys].sort((a, b) => (a.revoked_at ? 1 : 0) - (b.revoked_at ? 1 : 0) || String(b.created_at).localeCompare(String(a.created_at)));
    fill(listSlot, h("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": "Access keys" }, h("table", { class: "data keys" },
      h("caption", { class: "visually-hidden" }, "Access keys"),
      h("thead", {}, h("tr", {}, ["Name", "Role", "Sites", "Created", "Created by", "Status"].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, sorted.map((k) => keyRow(k, n))))));
  };

  const keyRow = (k, n) => {
    let status;
    if (k.revoked_at) {
      status = h("span", { class: "revoked", dataset: { testid: "key-revoked" } }, h("span", { class: "status off" }, "Revoked"), " ", h("span", { class: "muted small nowrap" }, when(k.revoked_at)));
    } else {
      status = h("button", { type: "button", class: "btn small ghost danger", dataset: { testid: "key-revoke", key: k.id } },
        "Revoke", h("span", { class: "visually-hidden" }, ` key ${k.name}`));
      status.addEventListener("click", () => revoke(k, status));
    }
    return h("tr", { class: k.revoked_at ? "revoked" : "", dataset: { testid: "key-row", key: k.id, revoked: String(Boolean(k.revoked_at)) } },
      h("td", { class: "name" }, h("b", {}, k.name), h("code", { class: "muted small block-code" }, k.id)),
      h("td", { "data-label": "Role" }, roleBadge(k.role)),
      h("td", { "data-label": "Sites" }, sitesChips(k.sites)),
      h("td", { "data-label": "Created", class: "nowrap" }, when(k.created_at)),
      h("td", { "data-label": "By" }, keyCell(k.created_by, n)),
      h("td", { class: "state" }, status));
  };

  const revoke = async (k, button) => {
    const ok = await confirmDialog({
      title: `Revoke “${k.name}”?`,
      message: `Anything using this ${ROLES[k.role]?.label.toLowerCase() || k.role} key is refused from its next request on. This can't be undone: to restore access, create a new key.`,
      confirmLabel: "Revoke key",
      danger: true,
    });
    if (!ok) {
      button.focus();
      return;
    }
    button.disabled = true;
    try {
      await api.revokeKey(k.id);
      toast(`Revoked “${k.name}”`);
    } catch (e) {
      if (e.status === 401) {
        ctx.signOut?.("Your token was refused: sign in again.");
        return;
      }
      toast(e.status === 404 ? `“${k.name}” was already revoked.` : `Could not revoke “${k.name}”: ${e.message}`, "error");
    }
    await load();
    document.querySelector("#keys-title")?.setAttribute("tabindex", "-1");
    document.querySelector("#keys-title")?.focus();
  };

  /** The new token, once: copy it now, it is never shown again. */
  const showToken = (k) => {
    const valueId = uid("token");
    const value = h("code", { class: "token-value", id: valueId, dataset: { testid: "new-token" } }, k.token);
    const copied = h("span", { class: "copy-note small", "aria-live": "polite" });
    const copy = h("button", { type: "button", class: "btn primary", "aria-describedby": valueId, dataset: { testid: "copy-token" } }, "Copy token");
    copy.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(k.token);
        copied.textContent = "Copied to the clipboard.";
      } catch (_) {
        // No clipboard (insecure origin, refused permission): select it for Ctrl+C / ⌘C.
        const range = document.createRange();
        range.selectNodeContents(value);
        const sel = window.getSelection();
        sel.removeAllRanges();
        sel.addRange(range);
        copied.textContent = "Selected: press Ctrl+C (⌘C on a Mac) to copy it.";
      }
    });
    const done = h("button", { type: "button", class: "btn", dataset: { testid: "token-done" } }, "I've stored it — hide the token");
    done.addEventListener("click", () => {
      fill(tokenSlot);
      document.getElementById("key-name")?.focus();
    });
    fill(tokenSlot, h("section", { class: "token-box", "aria-labelledby": "token-title", dataset: { testid: "token-box" } },
      h("h2", { id: "token-title" }, `Key “${k.name}” created`),
      h("p", { class: "token-warning" }, h("b", {}, "Copy this token now: it will not be shown again."),
        " Only a hash is stored on the server; if it is lost, revoke the key and create a new one."),
      value,
      h("div", { class: "actions" }, copy, done, copied),
      h("p", { class: "small token-meta" }, roleBadge(k.role),
        ` key for ${k.sites?.includes("*") ? "every site" : (k.sites || []).join(", ")}. `,
        k.role === "agent_feed"
          ? ["The agent system sends it as ", h("code", {}, "Authorization: Bearer …"), " with its availability updates."]
          : ["Sign in to this console with it, or send it as ", h("code", {}, "Authorization: Bearer …"), "."])));
    copy.focus();
  };

  const createForm = () => {
    const site = api.session.site;
    const fields = {};
    const field = (path, label, control, { help, extra } = {}) => {
      const helpId = help ? `${control.id}-help` : null;
      const errId = `${control.id}-err`;
      control.setAttribute("aria-describedby", [helpId, errId].filter(Boolean).join(" "));
      const help_ = help ? h("p", { class: "help", id: helpId }, help) : null;
      const el = h("div", { class: "field", dataset: { path } },
        h("label", { for: control.id }, label, h("span", { class: "req", "aria-hidden": "true" }, " *")),
        control, extra || null, help_, h("ul", { class: "errors", id: errId }));
      fields[path] = { el, control, errors: el.querySelector("ul.errors"), help: help_ };
      return el;
    };

    const name = h("input", { type: "text", id: "key-name", name: "name", maxlength: 100, autocomplete: "off", required: true, "aria-required": "true", placeholder: "Dana (marketing) or CI deploy", dataset: { testid: "key-name" } });
    const role = h("select", { id: "key-role", name: "role", dataset: { testid: "key-role-select" }, value: "analyst" },
      Object.entries(ROLES).map(([k, r]) => h("option", { value: k }, `${r.label} — ${r.short}`)));
    const roleHelp = () => ROLES[role.value]?.help || "";

    // Sites: this site, every site, or a list.
    const radio = (value, label, testid) => {
      const id = `key-sites-${value}`;
      return h("div", { class: "radio" },
        h("input", { type: "radio", name: "sites-mode", id, value, checked: value === "this", dataset: { testid } }),
        h("label", { for: id }, label));
    };
    const list = h("input", { type: "text", id: "key-sites-list", name: "sites", class: "mono", autocomplete: "off", spellcheck: "false", placeholder: "acme, acme-staging", disabled: true, dataset: { testid: "key-sites-list" } });
    const sitesErrors = h("ul", { class: "errors", id: "key-sites-err" });
    const sitesHelp = h("p", { class: "help", id: "key-sites-help" }, "Site ids separated by commas. An admin key scoped to some sites can only make keys for those sites.");
    list.setAttribute("aria-describedby", "key-sites-help key-sites-err");
    const sitesSet = h("fieldset", { class: "quiet sites-pick", dataset: { path: "sites", testid: "key-sites" }, "aria-describedby": "key-sites-err" },
      h("legend", { class: "label" }, "Sites", h("span", { class: "req", "aria-hidden": "true" }, " *")),
      h("div", { class: "radios" },
        radio("this", ["This site (", h("code", {}, site), ")"], "key-sites-this"),
        radio("all", "Every site", "key-sites-all"),
        radio("list", "These sites:", "key-sites-some")),
      h("div", { class: "field sites-list" }, h("label", { for: "key-sites-list", class: "visually-hidden" }, "Site ids, separated by commas"), list),
      sitesHelp, sitesErrors);
    const mode = () => sitesSet.querySelector("input[name=sites-mode]:checked")?.value || "this";
    const listIds = () => [...new Set(list.value.split(",").map((s) => s.trim()).filter(Boolean))];
    sitesSet.addEventListener("change", (ev) => {
      if (ev.target.name !== "sites-mode") return;
      list.disabled = mode() !== "list";
      if (mode() === "list") {
        if (!list.value) list.value = site;
        list.focus();
      }
    });

    const formError = h("div", { class: "msg error form-errors", role: "alert", hidden: true, dataset: { testid: "key-form-error" } });
    const submit = h("button", { type: "submit", class: "btn primary", dataset: { testid: "key-create" } }, "Create key");
    const form = h("form", { class: "key-form", novalidate: true, dataset: { testid: "key-form" } },
      h("div", { class: "grid-2" },
        field("name", "Name", name, { help: "Who or what uses it: shown in the list and in the version history." }),
        field("role", "Role", role, { help: roleHelp() })),
      sitesSet,
      formError,
      h("div", { class: "actions" }, submit));
    fields.role.help.setAttribute("aria-live", "polite");
    fields.role.help.dataset.testid = "key-role-help";
    role.addEventListener("change", () => { fields.role.help.textContent = roleHelp(); });

    const clearErrors = () => {
      for (const ul of form.querySelectorAll("ul.errors")) fill(ul);
      for (const el of form.querySelectorAll(".invalid")) el.classList.remove("invalid");
      for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
      formError.hidden = true;
      fill(formError);
    };
    /** Shows each problem beside the field its path names (`name`, `role`, `sites`, `sites[0]`). */
    const showErrors = (problems) => {
      const general = [];
      let first = null;
      for (const p of problems) {
        const path = p.path || "";
        const m = /^sites(?:\[(\d+)\])?/.exec(path);
        if (fields[path]) {
          const f = fields[path];
          f.errors.append(h("li", { dataset: { testid: "field-error", path } }, p.message));
          f.el.classList.add("invalid");
          f.control.setAttribute("aria-invalid", "true");
          first ||= f.control;
        } else if (m) {
          const ids = mode() === "list" ? listIds() : [];
          const which = m[1] !== undefined && ids[Number(m[1])] !== undefined ? `“${ids[Number(m[1])]}”: ` : "";
          sitesErrors.append(h("li", { dataset: { testid: "field-error", path } }, `${which}${p.message}`));
          sitesSet.classList.add("invalid");
          const target = mode() === "list" ? list : sitesSet.querySelector("input[name=sites-mode]:checked");
          target?.setAttribute("aria-invalid", "true");
          first ||= target;
        } else general.push(p);
      }
      if (general.length) {
        fill(formError, general.map((p) => h("p", { dataset: { testid: "form-error", path: p.path || "" } }, p.path ? [h("code", {}, p.path), " "] : null, p.message)));
        formError.hidden = false;
      }
      first?.focus();
    };

    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      clearErrors();
      const body = {
        name: name.value.trim(),
        role: role.value,
        sites: mode() === "all" ? ["*"] : mode() === "list" ? listIds() : [site],
      };
      const problems = [];
      if (!body.name) problems.push({ path: "name", message: "Give the key a name (who or what uses it)." });
      if (mode() === "list" && !body.sites.length) problems.push({ path: "sites", message: "List at least one site id, or pick this site or every site." });
      body.sites.forEach((s, i) => {
        if (s !== "*" && !ID_RE.test(s)) problems.push({ path: `sites[${i}]`, message: "a site id is lowercase letters, digits, - and _ (e.g. acme)" });
      });
      if (problems.length) {
        showErrors(problems);
        return;
      }
      submit.disabled = true;
      try {
        const k = await api.createKey(body);
        if (disposed) return;
        name.value = "";
        toast(`Created the key “${k.name}”`);
        showToken(k);
        keys = [{ ...k, token: undefined }, ...keys.filter((x) => x.id !== k.id)];
        drawList();
      } catch (e) {
        if (disposed) return;
        if (e.status === 401) {
          ctx.signOut?.("Your token was refused: sign in again.");
          return;
        }
        showErrors(e.details?.length ? e.details : [{ path: "", message: e.message }]);
      } finally {
        submit.disabled = false;
      }
    });

    return h("section", { class: "panel", "aria-labelledby": "new-key-title" },
      h("h2", { id: "new-key-title" }, "Create a key"),
      form,
      h("details", { class: "more roles-more" },
        h("summary", {}, "What each role can do"),
        roleList()));
  };

  load();
  return () => {
    disposed = true;
    fill(tokenSlot);
  };
}

function roleList() {
  return h("dl", { class: "meta roles" }, Object.entries(ROLES).map(([k, r]) => [
    h("dt", {}, roleBadge(k)),
    h("dd", {}, r.help),
  ]));
}
