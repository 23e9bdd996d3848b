// The whole document: download it, upload a new one (validated by the server: every problem is
// listed with its path), and the version history with rollback (activate an older version).

import { h, toast, confirmDialog, downloadText, when, fill } from "./dom.js";
import * as api from "./api.js";
import { keyCell } from "./keys.js";

export function renderVersions(root, ctx) {
  const list = h("div", { dataset: { testid: "version-list" } }, h("p", { class: "muted" }, "Loading the history…"));
  const problems = h("div", { class: "upload-problems", "aria-live": "polite", dataset: { testid: "upload-problems" } });

  const download = h("button", { type: "button", class: "btn", dataset: { testid: "download-document" }, disabled: !ctx.doc }, "Download campaigns.json");
  download.addEventListener("click", async () => {
    try {
      const { text, version } = await api.getDocument();
      if (!text) {
        toast("This site has no document yet.", "error");
        return;
      }
      downloadText(`${api.session.site}-campaigns${version ? `-v${version}` : ""}.json`, pretty(text));
    } catch (e) {
      toast(`Could not download: ${e.message}`, "error");
    }
  });

  const file = h("input", { type: "file", id: "upload-file", accept: "application/json,.json", dataset: { testid: "upload-document" } });
  const upload = h("form", { class: "upload" },
    h("label", { for: "upload-file" }, "Upload a whole document (JSON)"),
    h("div", { class: "actions" }, file,
      h("button", { type: "submit", class: "btn primary", dataset: { testid: "upload-submit" } }, "Upload and publish")),
    h("p", { class: "help" }, "The server validates it, compiles it, stores it as a new version and activates it — all or nothing."));
  upload.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = file.files?.[0];
    if (!f) {
      toast("Choose a JSON file first.", "error");
      file.focus();
      return;
    }
    fill(problems);
    let text;
    try {
      text = await f.text();
    } catch (e) {
      toast(`Could not read the file: ${e.message}`, "error");
      return;
    }
    try {
      const res = await api.putDocument(text);
      const warnings = res?.warnings || [];
      toast(`Published version ${res?.version ?? "?"}${warnings.length ? ` with ${warnings.length} warning(s)` : ""}.`, warnings.length ? "warn" : "info");
      if (warnings.length) fill(problems, problemList("Warnings", warnings, "warn"));
      file.value = "";
      await ctx.refresh({ quiet: true });
      loadHistory();
    } catch (e) {
      fill(problems, problemList(e.status === 422 ? `Not published: ${e.message}` : `Not published: ${e.message}`, e.details, "error"));
      problems.querySelector("h3")?.focus();
    }
  });

  const activeLine = h("p", { class: "muted small", dataset: { testid: "active-version" } },
    ctx.version ? `Active version: ${ctx.version}` : "No active version yet.");

  const loadHistory = async () => {
    try {
      // Key ids are shown by name when this key may read the keys (an admin); otherwise as ids.
      const [data, keys] = await Promise.all([api.getVersions(), api.listKeys().catch(() => null)]);
      const versions = Array.isArray(data?.versions) ? data.versions : Array.isArray(data) ? data : [];
      const active = data?.active ?? versions.find((v) => v.active)?.version;
      // The header follows the history (after a rollback, an upload).
      activeLine.textContent = active ? `Active version: ${active}` : "No active version yet.";
      const names = Object.fromEntries((keys?.keys || []).map((k) => [k.id, k.name]));
      fill(list, versions.length ? table(versions, active, names) : h("p", { class: "muted" }, "No versions yet."));
    } catch (e) {
      fill(list, h("p", { class: e.status === 404 ? "muted" : "msg error" }, e.status === 404 ? "No versions yet: upload a document or create a campaign." : e.message));
    }
  };

  const table = (versions, active, names) => h("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": "Versions" }, h("table", { class: "data versions" },
    h("thead", {}, h("tr", {}, ["Version", "Published", "By", "Change", "Campaigns", "Warnings"].map((t) => h("th", { scope: "col" }, t)), h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Actions")))),
    h("tbody", {}, versions.map((v) => {
      const isActive = v.version === active || v.active;
      const btn = isActive
        ? h("span", { class: "status on" }, "Active")
        : h("button", { type: "button", class: "btn small", dataset: { testid: "activate-version", version: v.version } }, v.version < active ? "Roll back to this" : "Activate");
      if (!isActive) {
        btn.addEventListener("click", async () => {
          const ok = await confirmDialog({
            title: `Activate version ${v.version}?`,
            message: `Visitors get version ${v.version}${v.change ? ` (“${v.change}”)` : ""} at their next bundle refresh. The current version stays in the history.`,
            confirmLabel: `Activate version ${v.version}`,
          });
          if (!ok) {
            btn.focus();
            return;
          }
          try {
            await api.activateVersion(v.version);
            toast(`Version ${v.version} is now active.`);
            await ctx.refresh({ quiet: true });
            loadHistory();
          } catch (e) {
            toast(`Could not activate version ${v.version}: ${e.message}`, "error");
          }
        });
      }
      return h("tr", { class: isActive ? "active" : "", dataset: { testid: "version-row", version: v.version, active: String(Boolean(isActive)) } },
        h("td", {}, h("b", {}, `v${v.version}`)),
        h("td", {}, when(v.created_at)),
        h("td", { dataset: { testid: "version-key", key: v.key || "" } }, keyCell(v.key, names)),
        h("td", {}, v.change || ""),
        h("td", {}, v.campaigns ?? ""),
        h("td", {}, v.warnings ? String(v.warnings) : "0"),
        h("td", {}, btn));
    }))));

  fill(root, 
    h("div", { class: "page-head" }, h("div", {},
      h("h1", {}, "Document and versions"),
      h("p", { class: "muted" }, "Every change publishes a new version; any version can be activated again."))),
    h("section", { class: "panel", "aria-labelledby": "doc-title" },
      h("h2", { id: "doc-title" }, "Campaign document"),
      activeLine,
      h("div", { class: "actions" }, download),
      upload,
      problems),
    h("section", { class: "panel", "aria-labelledby": "hist-title" },
      h("h2", { id: "hist-title" }, "History"),
      list));
  loadHistory();
}

function pretty(text) {
  try {
    return `${JSON.stringify(JSON.parse(text), null, 2)}\n`;
  } catch (_) {
    return text;
  }
}

function problemList(title, details = [], kind = "error") {
  return h("div", { class: `msg ${kind}`, role: kind === "error" ? "alert" : "status" },
    h("h3", { tabindex: "-1" }, title),
    details.length
      ? h("ul", {}, details.map((d) => h("li", { dataset: { testid: "upload-problem", path: d.path || "" } }, h("code", {}, d.path || "document"), ` ${d.message}`)))
      : null);
}
