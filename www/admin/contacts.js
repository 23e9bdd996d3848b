// Contacts (SPEC §10), the audience of SMS campaigns: a table with a tag filter, a search and
// "Load more" (cursor paging); a CSV import (a file or pasted text, `PUT /contacts` as text/csv,
// all or nothing) that lists every refused row with its line; delete with a confirmation.

import { h, toast, confirmDialog, fill, uid } from "./dom.js";
import * as api from "./api.js";
import { smsTabs } from "./sms.js";
import { plural, formatInZone, siteTimeZone } from "./sms-model.js";

const PAGE = 50;
const MAX_CSV_BYTES = 20 * 1024 * 1024;
const EXAMPLE = "id,phone,name,tags,timezone,consent,attributes.city\nc-1,+447400123456,Ana,vip;newsletter,Europe/London,true,Leeds\nc-2,07400 123457,Ben,newsletter,,true,York";

let lastQuery = { tag: "", q: "" };

export function renderContacts(root, ctx) {
  let disposed = false;
  let seq = 0;
  let cursor = null;
  let total = 0;
  let searchTimer = null;
  let abort = null;
  const tz = siteTimeZone(ctx);

  const tagSelect = h("select", { id: "contacts-tag", dataset: { testid: "contacts-tag" } }, h("option", { value: "" }, "All tags"));
  const search = h("input", { type: "search", id: "contacts-q", placeholder: "Search phone, name or id", value: lastQuery.q, autocomplete: "off", dataset: { testid: "contacts-search" } });
  const status = h("p", { class: "muted small", "aria-live": "polite", dataset: { testid: "contacts-status" } });
  const tbody = h("tbody", {});
  const table = h("div", { class: "table-wrap panel flush" },
    h("table", { class: "data contacts", dataset: { testid: "contacts-table" } },
      h("caption", { class: "visually-hidden" }, "Contacts"),
      h("thead", {}, h("tr", {},
        h("th", { scope: "col" }, "Phone"),
        h("th", { scope: "col" }, "Name"),
        h("th", { scope: "col" }, "Tags"),
        h("th", { scope: "col" }, "Time zone"),
        h("th", { scope: "col" }, "Consent"),
        h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Actions")))),
      tbody));
  const more = h("button", { type: "button", class: "btn", hidden: true, dataset: { testid: "contacts-more" } }, "Load more");
  const empty = h("div", { class: "empty-state small", hidden: true, dataset: { testid: "contacts-empty" } });

  const loadTags = async () => {
    try {
      const res = await api.contactTags();
      if (disposed) return;
      const tags = res?.tags || [];
      const cur = lastQuery.tag;
      fill(tagSelect, h("option", { value: "" }, "All tags"),
        tags.map((t) => h("option", { value: t.tag }, `${t.tag} (${t.contacts.toLocaleString()})`)),
        cur && !tags.some((t) => t.tag === cur) ? h("option", { value: cur }, cur) : null);
      tagSelect.value = cur;
    } catch (_) {
      /* the filter still works by typing nothing: keep "All tags" */
    }
  };

  const load = async ({ append = false } = {}) => {
    const mine = ++seq;
    abort?.abort();
    abort = new AbortController();
    const query = { tag: tagSelect.value, q: search.value.trim() };
    lastQuery = query;
    more.disabled = true;
    status.textContent = append ? "Loading more…" : "Loading…";
    try {
      const res = await api.contacts({ ...query, cursor: append ? cursor : null, limit: PAGE }, abort.signal);
      if (disposed || mine !== seq) return;
      const list = res?.contacts || [];
      if (!append) {
        fill(tbody);
        total = 0;
      }
      for (const c of list) tbody.append(contactRow(c, tz, () => {
        total -= 1;
        summarize();
        loadTags();
      }));
      total += list.length;
      cursor = res?.next_cursor || null;
      more.hidden = !cursor;
      more.disabled = false;
      summarize();
      // "Load more" went away with the last page: the focus goes to the first row it added.
      if (append && more.hidden && list.length) tbody.querySelectorAll("tr")[total - list.length]?.querySelector("button")?.focus();
    } catch (e) {
      if (e?.name === "AbortError" || disposed || mine !== seq) return;
      status.textContent = "";
      more.disabled = false;
      toast(`Could not load the contacts: ${e.message}`, "error");
      fill(tbody, h("tr", {}, h("td", { colspan: 6 }, h("p", { class: "msg error", role: "alert" }, `Could not load the contacts: ${e.message}`))));
    }
  };

  const summarize = () => {
    const filtered = tagSelect.value || search.value.trim();
    table.hidden = total === 0;
    empty.hidden = total !== 0;
    if (total === 0) {
      fill(empty, filtered
        ? [h("h2", {}, "No contact matches"), h("p", {}, "Try another tag or search.")]
        : [h("h2", {}, "No contacts yet"), h("p", {}, "Import a CSV file below: each row is one contact, with its phone number, name, tags and consent.")]);
      if (!filtered) importer.open();
    }
    status.textContent = total
      ? `${plural(total, "contact")} shown${cursor ? " · more to load" : ""}${filtered ? " (filtered)" : ""}`
      : "";
  };

  tagSelect.addEventListener("change", () => load());
  search.addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => load(), 300);
  });
  more.addEventListener("click", () => load({ append: true }));

  const importer = importPanel(() => {
    loadTags();
    load();
  });

  fill(root,
    h("div", { class: "page-head" },
      h("div", {},
        h("h1", {}, "Contacts"),
        h("p", { class: "muted" }, `The people SMS campaigns on “${api.session.site}” are sent to. Only contacts with consent receive messages.`)),
      h("a", { class: "btn primary", href: "#/sms/new" }, "Create SMS campaign")),
    smsTabs("contacts"),
    importer.el,
    h("div", { class: "toolbar contacts-bar" },
      h("div", { class: "field inline" }, h("label", { for: "contacts-tag" }, "Tag"), tagSelect),
      h("div", { class: "field inline grow" }, h("label", { for: "contacts-q" }, "Search"), search),
      status),
    table, empty,
    h("div", { class: "actions center load-more" }, more));
  tagSelect.value = lastQuery.tag;
  loadTags();
  load();
  return () => {
    disposed = true;
    clearTimeout(searchTimer);
    abort?.abort();
  };
}

function contactRow(c, tz, onDeleted) {
  const del = h("button", { type: "button", class: "btn small ghost danger", dataset: { testid: "contact-delete" }, "aria-label": `Delete ${c.name || c.phone}` }, "Delete");
  const tr = h("tr", { dataset: { testid: "contact-row", contact: c.id } },
    h("td", { class: "mono nowrap" }, c.phone, h("small", { class: "muted block" }, c.id)),
    h("td", {}, c.name || h("span", { class: "muted" }, "—"), attrs(c.attributes)),
    h("td", {}, c.tags?.length ? h("span", { class: "chips" }, c.tags.map((t) => h("span", { class: "chip tag" }, t))) : h("span", { class: "muted" }, "—")),
    h("td", { dataset: { label: "Time zone" } }, c.timezone || h("span", { class: "muted", title: `The site's time zone (${tz})` }, "site's")),
    h("td", { dataset: { label: "Consent" } }, c.consent
      ? h("span", { class: "status sms-completed" }, "Yes")
      : h("span", { class: "status sms-cancelled" }, "No")),
    h("td", { class: "num" }, del));
  tr.title = c.updated_at ? `Updated ${formatInZone(c.updated_at, tz)}` : "";
  del.addEventListener("click", async () => {
    const ok = await confirmDialog({
      title: `Delete ${c.name || c.phone}?`,
      message: `The contact ${c.phone}${c.name ? ` (${c.name})` : ""} is erased. Messages already sent keep only a hash of the number. This can't be undone.`,
      confirmLabel: "Delete contact",
      danger: true,
    });
    if (!ok) {
      del.focus();
      return;
    }
    try {
      await api.deleteContact(c.id);
      const next = tr.nextElementSibling || tr.previousElementSibling;
      tr.remove();
      toast(`Deleted ${c.name || c.phone}`);
      onDeleted();
      (next?.querySelector("button") || document.getElementById("contacts-q"))?.focus();
    } catch (e) {
      toast(`Could not delete ${c.phone}: ${e.message}`, "error");
    }
  });
  return tr;
}

function attrs(a) {
  const entries = Object.entries(a || {});
  if (!entries.length) return null;
  return h("small", { class: "muted block" }, entries.slice(0, 3).map(([k, v]) => `${k}: ${typeof v === "object" ? JSON.stringify(v) : v}`).join(" · "), entries.length > 3 ? " …" : "");
}

/** The CSV import: a file or pasted text, sent as text/csv; every refused row listed. */
function importPanel(onImported) {
  const fileId = uid("csv");
  const textId = uid("csv");
  const file = h("input", { type: "file", id: fileId, accept: ".csv,text/csv,text/plain", dataset: { testid: "csv-file" } });
  const text = h("textarea", { id: textId, rows: 6, class: "mono", spellcheck: "false", wrap: "off", placeholder: EXAMPLE, dataset: { testid: "csv-text" } });
  const submit = h("button", { type: "submit", class: "btn primary", dataset: { testid: "csv-import" } }, "Import contacts");
  const result = h("div", { class: "import-result", "aria-live": "polite", dataset: { testid: "import-result" } });
  let fileText = null;
  file.addEventListener("change", async () => {
    fileText = null;
    const f = file.files?.[0];
    if (!f) return;
    if (f.size > MAX_CSV_BYTES) {
      fill(result, h("p", { class: "msg error", role: "alert" }, `${f.name} is ${(f.size / 1048576).toFixed(1)} MB: import at most 100,000 rows (about 20 MB) at a time.`));
      file.value = "";
      return;
    }
    fileText = await f.text();
    const rows = Math.max(0, fileText.split(/\r\n|\r|\n/).filter((l) => l.trim()).length - 1);
    fill(result, h("p", { class: "muted small" }, `${f.name}: ${plural(rows, "row")} ready to import.`));
  });
  const form = h("form", { class: "import-form", dataset: { testid: "csv-form" } },
    h("div", { class: "grid-2 import-grid" },
      h("div", { class: "field" },
        h("label", { for: fileId }, "CSV file"),
        file,
        h("p", { class: "help" }, "A header row, then one contact a row. Up to 100,000 rows at a time.")),
      h("div", { class: "field" },
        h("label", { for: textId }, "…or paste CSV"),
        text)),
    h("details", { class: "more" },
      h("summary", {}, "Columns"),
      h("ul", { class: "help columns" },
        h("li", {}, h("code", {}, "id"), " (required, your contact id), ", h("code", {}, "phone"), " (E.164, or a national number of the site's default country), ", h("code", {}, "name")),
        h("li", {}, h("code", {}, "tags"), " separated by ", h("code", {}, ";"), " or ", h("code", {}, "|"), "; ", h("code", {}, "timezone"), " (IANA, e.g. Europe/London; empty: the site's); ", h("code", {}, "consent"), " (true/false)"),
        h("li", {}, "any ", h("code", {}, "attributes.<name>"), " column becomes an attribute (", h("code", {}, "{{attributes.city}}"), " in messages, conditions)"),
        h("li", {}, "An existing id is updated. The import is all or nothing: one bad row and nothing changes.")),
      h("pre", { class: "json-view small" }, EXAMPLE)),
    h("div", { class: "actions" }, submit, h("span", { class: "muted small" }, "Pasted text wins over the file.")),
    result);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const body = text.value.trim() ? text.value : fileText;
    if (!body || !body.trim()) {
      fill(result, h("p", { class: "msg error", role: "alert" }, "Choose a CSV file or paste CSV text first."));
      (fileText === null ? text : file).focus();
      return;
    }
    submit.disabled = true;
    fill(result, h("p", { class: "muted" }, "Importing…"));
    try {
      const res = await api.importContactsCsv(body.endsWith("\n") ? body : `${body}\n`);
      const created = res?.created ?? 0;
      const updated = res?.updated ?? 0;
      fill(result, h("div", { class: "msg ok", role: "status", dataset: { testid: "import-ok" } },
        h("b", {}, "Imported. "), `${plural(created, "contact")} created, ${plural(updated, "contact")} updated.`));
      text.value = "";
      file.value = "";
      fileText = null;
      onImported();
    } catch (e) {
      if (e.status === 422 && e.details?.length) {
        const rows = new Set(e.details.map((d) => /^contacts\[(\d+)\]/.exec(d.path || "")?.[1]).filter(Boolean));
        fill(result, h("div", { class: "msg error import-errors", role: "alert", dataset: { testid: "import-errors" } },
          h("h3", {}, `Nothing was imported: ${plural(e.details.length, "problem")}${rows.size ? ` in ${plural(rows.size, "row")}` : ""}`),
          h("p", { class: "small" }, "Fix these rows and import again: nothing changes until every row is valid."),
          h("ol", { class: "problems" }, e.details.map((d) => h("li", { dataset: { testid: "import-error", path: d.path || "" } },
            d.message, d.path ? h("code", { class: "path" }, d.path) : null)))));
      } else {
        fill(result, h("div", { class: "msg error", role: "alert", dataset: { testid: "import-errors" } },
          h("p", {}, `Nothing was imported: ${e.message}`)));
      }
      result.querySelector(".msg")?.setAttribute("tabindex", "-1");
      result.querySelector(".msg")?.focus();
    } finally {
      submit.disabled = false;
    }
  });
  const details = h("details", { class: "panel import", dataset: { testid: "contacts-import" } },
    h("summary", {}, h("h2", {}, "Import contacts from CSV")),
    form);
  return { el: details, open: () => { details.open = true; } };
}
