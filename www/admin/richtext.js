// The creative message's small HTML subset (SPEC §3: b i em strong u br p span a[href=http(s)|mailto]),
// rendered safely: the text is parsed by DOMParser into an inert document (no scripts run, nothing
// loads), then only the allowed elements are re-created with createElement, text with text nodes.
// Nothing is ever assigned to innerHTML.

const ALLOWED = new Set(["b", "i", "em", "strong", "u", "br", "p", "span", "a"]);
const DROP = new Set(["script", "style", "template", "iframe", "object", "embed", "noscript", "svg", "math", "head", "title"]);

export function safeHref(href) {
  const h = String(href || "").trim();
  return /^(https?:\/\/|mailto:)/i.test(h) ? h : null;
}

function parse(text) {
  return new DOMParser().parseFromString(`<!doctype html><body>${text}`, "text/html").body;
}

function copy(node, into, doc) {
  for (const child of node.childNodes) {
    if (child.nodeType === Node.TEXT_NODE) {
      into.append(doc.createTextNode(child.nodeValue));
    } else if (child.nodeType === Node.ELEMENT_NODE) {
      const tag = child.localName;
      if (DROP.has(tag)) continue;
      if (!ALLOWED.has(tag)) {
        copy(child, into, doc); // unknown element: keep its text
        continue;
      }
      const el = doc.createElement(tag);
      if (tag === "a") {
        const href = safeHref(child.getAttribute("href"));
        if (href) {
          el.setAttribute("href", href);
          el.setAttribute("target", "_blank");
          el.setAttribute("rel", "noopener noreferrer");
        }
      }
      copy(child, el, doc);
      into.append(el);
    }
  }
}

/** A DocumentFragment with the message's allowed markup, in `doc`. */
export function renderMessage(text, doc = document) {
  const frag = doc.createDocumentFragment();
  if (!text) return frag;
  copy(parse(String(text)), frag, doc);
  return frag;
}

/** The message as plain text (tags dropped, `<br>`/`<p>` as spaces), whitespace collapsed. */
export function plainText(text) {
  if (!text) return "";
  const body = parse(String(text).replace(/<br\s*\/?>|<\/p>/gi, " "));
  for (const d of body.querySelectorAll([...DROP].join(","))) d.remove();
  return (body.textContent || "").replace(/\s+/g, " ").trim();
}

/** Shortens text to at most `max` characters, cutting on a word boundary, with an ellipsis. */
export function truncateWords(text, max = 120) {
  const s = String(text || "").trim();
  if (s.length <= max) return s;
  const cut = s.slice(0, max + 1);
  const space = cut.lastIndexOf(" ");
  const head = (space > max * 0.5 ? cut.slice(0, space) : s.slice(0, max)).replace(/[\s,;:.–—-]+$/, "");
  return `${head}…`;
}

// The message editor's toolbar: a textarea keeps the markup a marketer can read and the
// preview renders, and these buttons write only the allowed subset around the selection.
const TOOLS = [
  { label: "Bold", text: "B", open: "<b>", close: "</b>", key: "b" },
  { label: "Italic", text: "I", open: "<i>", close: "</i>", key: "i" },
  { label: "Underline", text: "U", open: "<u>", close: "</u>", key: "u" },
  { label: "Line break", text: "↵", open: "<br>", close: "" },
  { label: "Link", text: "Link", link: true, key: "k" },
];

/** Wraps the selection of `area` in `open`/`close` (the selection stays on the text) and lets
 * the editor know, as typing would. */
function wrap(area, open, close) {
  const { selectionStart: a, selectionEnd: b, value } = area;
  area.value = value.slice(0, a) + open + value.slice(a, b) + close + value.slice(b);
  area.focus();
  area.setSelectionRange(a + open.length, b + open.length);
  area.dispatchEvent(new Event("input", { bubbles: true }));
}

/** Adds the formatting toolbar (and Ctrl/⌘+B, I, U, K) to the message field `field` (a
 * `.field` holding a textarea); answers the field. */
export function richText(field) {
  const area = field.querySelector("textarea");
  if (!area) return field;
  const apply = (t) => {
    if (!t.link) return wrap(area, t.open, t.close);
    const href = safeHref(window.prompt("Link address (https://…, http://… or mailto:…)", "https://"));
    // Only a scheme, nothing after it: not a link.
    if (href && /^(https?:\/\/|mailto:)$/i.test(href)) return area.focus();
    if (href) wrap(area, `<a href="${href.replace(/"/g, "&quot;")}">`, "</a>");
    else area.focus();
  };
  const bar = document.createElement("div");
  bar.className = "rt-bar";
  bar.setAttribute("role", "toolbar");
  bar.setAttribute("aria-label", "Format the message");
  bar.setAttribute("aria-controls", area.id);
  for (const t of TOOLS) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = `rt-btn rt-${t.label.toLowerCase().replace(" ", "-")}`;
    b.textContent = t.text;
    b.title = t.key ? `${t.label} (Ctrl+${t.key.toUpperCase()})` : t.label;
    b.setAttribute("aria-label", t.label);
    b.dataset.testid = `rt-${t.label.toLowerCase().replace(" ", "-")}`;
    b.addEventListener("click", () => apply(t));
    bar.append(b);
  }
  area.addEventListener("keydown", (ev) => {
    if (!(ev.ctrlKey || ev.metaKey) || ev.altKey) return;
    const t = TOOLS.find((t) => t.key === ev.key.toLowerCase());
    if (!t) return;
    ev.preventDefault();
    apply(t);
  });
  area.before(bar);
  return field;
}
