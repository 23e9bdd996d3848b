// Tiny DOM helpers. Everything the console shows is built with createElement and text nodes:
// no innerHTML anywhere, so nothing an admin types can become markup by accident.

/**
 * h("button", {class: "btn", onclick: fn, dataset: {testid: "x"}}, "Label", child, [more])
 * - `class`, `text`, `dataset`, `style` (object or string) are special;
 * - `on<event>` functions become listeners;
 * - `true` sets a boolean attribute, `false`/null/undefined leaves it out;
 * - children: strings (as text), nodes, arrays (flattened), null/false (skipped).
 */
export function h(tag, props = {}, ...children) {
  const el = tag === "svg" || SVG_TAGS.has(tag)
    ? document.createElementNS("http://www.w3.org/2000/svg", tag)
    : document.createElement(tag);
  let value;
  for (const [k, v] of Object.entries(props || {})) {
    if (k === "value" && v !== undefined && v !== null && !(el instanceof SVGElement)) { value = String(v); continue; }
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") el.setAttribute("class", v);
    else if (k === "text") el.textContent = String(v);
    else if (k === "dataset") for (const [dk, dv] of Object.entries(v)) { if (dv != null) el.dataset[dk] = String(dv); }
    else if (k === "style" && typeof v === "object") Object.assign(el.style, v);
    else if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "checked" || k === "selected" || k === "disabled" || k === "hidden") {
      el[k] = Boolean(v);
      if (k !== "checked" && k !== "selected") el.toggleAttribute(k, Boolean(v));
    } else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  if (value !== undefined) el.value = value; // after the children: a <select> needs its options first
  return el;
}

const SVG_TAGS = new Set(["g", "line", "rect", "circle", "path", "text", "title", "polyline", "defs", "clipPath"]);

export function append(parent, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false || c === true) continue;
    parent.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return parent;
}

export function clear(el) {
  el.replaceChildren();
  return el;
}

/** A unique-enough id for label/aria wiring. */
let counter = 0;
export function uid(prefix = "f") {
  counter += 1;
  return `${prefix}-${counter}`;
}

/** Announces a message to screen readers and shows it as a toast. */
export function toast(message, kind = "info") {
  const region = document.getElementById("toasts");
  if (!region) return;
  const t = h("div", { class: `toast ${kind}`, role: kind === "error" ? "alert" : "status", dataset: { testid: "toast" } },
    h("span", {}, message),
    h("button", { type: "button", class: "icon-btn", "aria-label": "Dismiss", onclick: () => t.remove() }, "×"));
  region.append(t);
  setTimeout(() => t.remove(), kind === "error" ? 9000 : 4500);
}

/** Opens a confirmation <dialog>; resolves true when confirmed. */
export function confirmDialog({ title, message, confirmLabel = "Confirm", cancelLabel = "Cancel", danger = false }) {
  const dlg = document.getElementById("confirm-dialog");
  dlg.querySelector("[data-dialog-title]").textContent = title;
  dlg.querySelector("[data-dialog-message]").textContent = message;
  const ok = dlg.querySelector("[data-testid=confirm-delete]");
  ok.textContent = confirmLabel;
  ok.className = danger ? "btn danger" : "btn primary";
  dlg.querySelector("[data-testid=cancel-delete]").textContent = cancelLabel;
  return new Promise((resolve) => {
    const done = () => {
      dlg.removeEventListener("close", done);
      resolve(dlg.returnValue === "confirm");
    };
    dlg.returnValue = "";
    dlg.addEventListener("close", done);
    dlg.showModal();
    dlg.querySelector("[data-testid=cancel-delete]").focus();
  });
}

/** Formats an RFC 3339 instant for people, in their locale. */
export function when(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : d.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

export function downloadText(filename, text, type = "application/json") {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = h("a", { href: url, download: filename, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/** Replaces an element's children; arrays are flattened, strings become text. */
export function fill(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}
