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
