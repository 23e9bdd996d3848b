// engage UI: renders the engagements the wasm engine decided on (the debug panel is debug.js).
//
// Every displayed engagement is one element inside a shadow root: the one of
// `<div id="engage-root">` for the `left`, `right` and `proactive` zones, or one attached to the
// zone element for `embedded:<id>`. Built with createElement/createTextNode only (never
// innerHTML): message trees come from the bundle and are untrusted. Styles come from an adopted
// sheet (not subject to `style-src`) and custom properties.
//
// The engagement element carries data-engagement, data-campaign, data-state, data-zone and
// data-format; inside it the accept control has data-action="accept" and the close control
// data-action="decline". Clicks are handled by one delegated listener per shadow root.

const D = document;
const ROOT_ID = "engage-root";
const ZONE_ATTR = "data-engage-zone";
const X = "\u00d7";
const REL = "noopener noreferrer";

// The default look, adopted into every shadow root the UI owns. Themeable from the host page with
// custom properties (they inherit into shadow roots), e.g. `#engage-root{--engage-accent:#e11d48}`:
// --engage-accent, -bg, -color, -radius, -font, -shadow, -z, -offset-x, -offset-y, -width. A
// creative's `style` sets the same properties on its engagement element (values only, never CSS
// text), so it wins over the page theme. Motion is dropped under prefers-reduced-motion.
const CSS =
  ":host{all:initial}" +
  "slot{display:contents}.e~slot{display:none}" +
  ".e{--a:var(--engage-accent,#2563eb);--b:var(--engage-bg,#fff);--c:var(--engage-color,#1f2937);" +
  "--r:var(--engage-radius,14px);--x:var(--engage-offset-x,20px);--y:var(--engage-offset-y,20px);" +
  "font:14px/1.45 var(--engage-font,system-ui,-apple-system,'Segoe UI',Roboto,sans-serif);" +
  "color:var(--c);box-sizing:border-box;z-index:var(--engage-z,2147483000);text-align:left}" +
  ".e *{box-sizing:border-box}" +
  ".box{position:relative;background:var(--b);color:var(--c);border-radius:var(--r);" +
  "box-shadow:var(--engage-shadow,0 10px 30px rgba(15,23,42,.18),0 2px 6px rgba(15,23,42,.08));" +
  "padding:16px 18px;width:var(--engage-width,320px);max-width:calc(100vw - 24px)}" +
  ".t{font-weight:650;font-size:15px;margin:0 26px 4px 0}" +
  ".m{margin:0 0 12px}.m p{margin:0 0 6px}.m a{color:var(--a)}" +
  ".s{display:flex;align-items:center;gap:8px;margin:0 26px 10px 0;font-size:13px;opacity:.8}" +
  ".av{width:34px;height:34px;border-radius:50%;object-fit:cover;flex:none}" +
  ".im{display:block;max-width:100%;border-radius:calc(var(--r)*.6);margin:0 0 10px}" +
  ".a{display:inline-flex;align-items:center;justify-content:center;min-height:38px;" +
  "padding:8px 16px;border:0;border-radius:calc(var(--r)*.7);background:var(--a);color:#fff;" +
  "font:inherit;font-weight:600;text-decoration:none;cursor:pointer}" +
  ".a:hover{filter:brightness(1.08)}" +
  ".x{position:absolute;top:8px;right:8px;width:30px;height:30px;padding:0;border:0;" +
  "border-radius:50%;background:transparent;color:inherit;font:20px/1 inherit;opacity:.6;cursor:pointer}" +
  ".x:hover{opacity:1;background:rgba(127,127,127,.15)}" +
  "button:focus-visible,a:focus-visible{outline:3px solid var(--a);outline-offset:2px}" +
  "[data-state=busy] .a{filter:saturate(.6)}[data-state=offline] .a{background:#64748b}" +
  // Stickies and toasters are items of one grid over the viewport (`.lay`): the grid's cells keep
  // them apart whatever their sizes. A sticky is a tab on its edge, at most 48 px deep: close,
  // the title (opens the card beside the tab) and the call to action.
  ".lay{position:fixed;inset:0;display:grid;grid:1fr auto/auto 1fr auto;pointer-events:none;z-index:var(--engage-z,2147483000)}" +
  ".lay>*{pointer-events:auto}" +
  ".f-sticky{grid-row:1;align-self:center;display:flex;align-items:center;margin-top:var(--engage-offset-y,0px)}" +
  ".z-left{grid-column:1;margin-left:var(--engage-offset-x,0px)}" +
  ".z-right{grid-column:3;justify-self:end;flex-direction:row-reverse;margin-right:var(--engage-offset-x,0px)}" +
  ".tab{display:flex;flex-direction:column;align-items:center;gap:2px;width:48px;padding:4px 0 6px;" +
  "background:var(--a);color:#fff;border-radius:var(--r) 0 0 var(--r);box-shadow:0 4px 14px rgba(15,23,42,.22)}" +
  ".z-left .tab{border-radius:0 var(--r) var(--r) 0}" +
  ".tab .x{position:static;flex:none;color:#fff;opacity:.85}" +
  ".tt,.tab .a{writing-mode:vertical-rl;max-height:240px;overflow:hidden;text-overflow:ellipsis;white-space:nowrap;" +
  "min-height:0;padding:10px 8px;border:0;background:none;color:inherit;font:inherit;font-weight:650;cursor:pointer}" +
  ".tab .a{width:44px;background:rgba(0,0,0,.22)}" +
  ".z-left .tt,.z-left .tab .a{rotate:180deg}" +
  ".f-sticky .box{display:none;width:var(--engage-width,280px);margin:0 10px}.f-sticky.open .box{display:block}" +
  ".f-toaster{grid-row:2;grid-column:3;margin:var(--y) var(--x);animation:engage-in .35s ease-out}" +
  ".l .f-toaster{grid-column:1}.up{grid-template-rows:auto 1fr}.up .f-sticky{grid-row:2}.up .f-toaster{grid-row:1}" +
  ".f-overlay{position:fixed;inset:0;display:flex;align-items:center;justify-content:center;" +
  "padding:12px;background:rgba(15,23,42,.5);animation:engage-fade .2s ease-out}" +
  ".f-overlay .box{width:var(--engage-width,420px);padding:24px;animation:engage-in .25s ease-out}" +
  ".f-overlay .t{font-size:18px}" +
  ".f-peeling_corner{position:fixed;top:0;right:0;pointer-events:none}.f-peeling_corner>*{pointer-events:auto}" +
  // The folded corner takes taps on its visible triangle only: the page's own controls under
  // the transparent half (a header's basket button) stay the page's.
  ".peel{display:block;width:64px;height:64px;border:0;padding:0;cursor:pointer;" +
  "background:linear-gradient(225deg,transparent 48%,rgba(0,0,0,.25) 50%,var(--a) 53%);" +
  "clip-path:polygon(0 0,0 100%,100% 100%);transition:width .2s,height .2s}" +
  ".peel:hover{width:80px;height:80px}.peel:focus-visible{clip-path:none}" +
  ".f-peeling_corner .box{display:none;position:absolute;top:var(--y);right:var(--x)}" +
  ".f-peeling_corner.open .box,.f-peeling_corner:focus-within .box{display:block}" +
  ".f-button{display:inline-flex;align-items:center;gap:4px;vertical-align:middle}" +
  ".f-button .x{position:static;color:var(--c)}" +
  ".f-banner{display:block;margin:8px 0}.f-banner .box{width:auto;max-width:none}" +
  ".panel{position:fixed;right:var(--x);bottom:var(--y);display:flex;flex-direction:column;" +
  "width:min(380px,calc(100vw - 24px));height:min(620px,calc(100vh - 40px));overflow:hidden;" +
  "background:var(--b);border-radius:var(--r);box-shadow:0 12px 40px rgba(15,23,42,.3);" +
  "animation:engage-in .3s ease-out}" +
  ".ph{display:flex;align-items:center;justify-content:space-between;padding:10px 8px 10px 16px;" +
  "background:var(--a);color:#fff;font-weight:600}.ph .x{position:static;color:#fff}" +
  ".panel iframe{flex:1;width:100%;border:0}" +
  "@keyframes engage-in{from{opacity:0;translate:0 14px}}@keyframes engage-fade{from{opacity:0}}" +
  // Narrow screens: a sticky is a launcher in its bottom corner (its call to action and close),
  // the toaster a compact sheet below them (or above, see place()).
  "@media (max-width:600px),(max-height:500px){.lay{grid-template-rows:1fr auto auto}.f-sticky{grid-row:2;align-self:end;margin:4px}" +
  ".tab{flex-direction:row-reverse;width:auto;max-width:calc(50vw - 12px);padding:0 0 0 4px;border-radius:99px}" +
  ".tt,.f-sticky .box{display:none!important}.tab .a{writing-mode:initial;rotate:none!important;width:auto;min-height:44px;border-radius:99px}" +
  ".lay .f-toaster{grid-row:3;grid-column:1/-1;margin:8px}.lay .box{width:auto;max-width:none;padding:12px 14px}" +
  ".f-toaster .s,.f-toaster .im{display:none}.f-toaster .m{display:-webkit-box;-webkit-box-orient:vertical;-webkit-line-clamp:2;overflow:hidden;margin-bottom:8px}" +
  ".up{grid-template-rows:auto auto 1fr}.up .f-sticky{align-self:start}.lay.up .f-toaster{grid-row:1}" +
  ".panel{inset:0;width:auto;height:auto;border-radius:0}}" +
  ":host(.typing) .e:not(.f-overlay,.panel){visibility:hidden}" +
  ".sr{position:absolute;width:1px;height:1px;overflow:hidden;clip-path:inset(50%);white-space:nowrap}" +
  "@media (pointer:coarse){.x{width:44px;height:44px;top:2px;right:2px}.a{min-height:44px}.t,.s{margin-right:42px}}" +
  "@media (prefers-reduced-motion:reduce){.e,.e *,.panel{animation:none!important;transition:none!important}}";

// ----- DOM helpers -----

/** A new element with an optional class, attributes (set in order) and text. */
function el(tag, cls, attrs, txt) {
  const e = D.createElement(tag);
  if (cls) e.className = cls;
  attr(e, attrs);
  if (txt != null) e.textContent = txt;
  return e;
}

/** Sets every attribute of `attrs` on `e`, in order. */
function attr(e, attrs) {
  for (const k in attrs) e.setAttribute(k, attrs[k]);
}

/** Empties a shadow root. */
const clear = (root) => root.replaceChildren();

// Shadow roots this module attached to zone elements: a later Ui may take them over (a page's own
// open shadow root, e.g. a custom element's, is never touched).
const owned = new WeakSet();

/** The open shadow root of `host`, emptied, or a new one; null when `host` cannot have one. */
function openRoot(host) {
  const r = host.shadowRoot;
  if (r) {
    clear(r);
    return r;
  }
  try {
    return host.attachShadow({ mode: "open" });
  } catch {
    return null;
  }
}

const sheets = new Map();

/** Styles a shadow root: an adopted sheet (not subject to `style-src`), else a `<style>`. */
function adopt(root, css) {
  try {
    let s = sheets.get(css);
    if (!s) {
      s = new CSSStyleSheet();
      s.replaceSync(css);
      sheets.set(css, s);
    }
    root.adoptedStyleSheets = [s];
    if (root.adoptedStyleSheets.length == 1) return;
  } catch {}
  root.append(el("style", "", 0, css));
}

/** Whether `u` is an absolute http(s) URL (what links, images and windows may point at). */
const isHttp = (u) => typeof u == "string" && /^https?:\/\//i.test(u.trimStart());

/** The compiler already kept only these; checked again so a tampered bundle cannot add others. */
const safeHref = (h) => isHttp(h) || (typeof h == "string" && h.slice(0, 7).toLowerCase() == "mailto:");

/** A custom property value: validated at upload, checked again (no way out of the value). */
function safeCss(v) {
  const l = v.toLowerCase();
  return v.length <= 200 && !l.includes("url(") && !l.includes("expression(") && !/[;{}<\\]/.test(v);
}

// ----- rendering -----

// A creative style's fields and the custom properties they set.
const STYLE = {
  background: "bg",
  color: "color",
  accent: "accent",
  radius: "radius",
  offset_x: "offset-x",
  offset_y: "offset-y",
  width: "width",
};

/** The creative's look as custom properties; `reset` first drops the previous creative's. */
function setStyle(e, style, reset) {
  for (const k in STYLE) {
    const p = "--engage-" + STYLE[k];
    const v = style && style[k];
    if (reset) e.style.removeProperty(p);
    if (typeof v == "string" && safeCss(v)) e.style.setProperty(p, v);
  }
}

/** Title id inside the shadow root, for aria-labelledby. */
const titleId = (e) => "engage-t-" + e.id;

const acceptLabel = (e, cr) => cr.cta ?? cr.title ?? (e.kind == "content" ? "Open" : "Chat with us");
/** What a screen reader hears for the engagement: its title, else its call to action. */
const named = (e, cr) => cr.title ?? acceptLabel(e, cr);
/** The close control is named for what it closes. */
const closeLabel = (e, cr) => "Close: " + named(e, cr);

/** Labelled by the title when there is one (buttons are labelled by what they do). */
function label(root, e, cr) {
  const byTitle = cr.title != null && e.format != "button";
  root.removeAttribute(byTitle ? "aria-label" : "aria-labelledby");
  if (byTitle) attr(root, { "aria-labelledby": titleId(e) });
  else attr(root, { "aria-label": acceptLabel(e, cr) });
}

const TAGS = ["b", "i", "em", "strong", "u", "br", "p", "span", "a"];

/** The sanitized message tree (a string is text, `{t, h, c}` an element), as DOM nodes. */
function message(parent, nodes) {
  for (const n of Array.isArray(nodes) ? nodes : []) {
    if (typeof n == "string") parent.append(D.createTextNode(n));
    else if (n && TAGS.includes(n.t)) {
      const e = D.createElement(n.t);
      if (n.t == "a" && safeHref(n.h)) attr(e, { href: n.h, target: "_blank", rel: REL });
      message(e, n.c);
      parent.append(e);
    }
  }
}

const img = (cls, src) => el("img", cls, { alt: "", referrerpolicy: "no-referrer", src });

/** Other origins open in a new tab, without access to this page; same-origin links navigate. */
function link(href) {
  const o = location.origin;
  const rest = href.startsWith(o) ? href.slice(o.length) : null;
  const same = rest != null && (rest == "" || rest[0] == "/");
  return el("a", "a", same ? { href, rel: REL } : { href, target: "_blank", rel: REL });
}

/** The creative: sender, image, title, message and the accept control. */
function content(e, cr, format) {
  const button = format == "button";
  const c = el(button ? "span" : "div", "c");
  if (!button) {
    const s = e.sender || {};
    const avatar = isHttp(s.avatar_url);
    if (avatar || s.name != null) {
      const row = el("div", "s");
      if (avatar) row.append(img("av", s.avatar_url));
      if (s.name != null) row.append(el("span", "sn", 0, s.name));
      c.append(row);
    }
    if (isHttp(cr.image_url)) c.append(img("im", cr.image_url));
    if (cr.title != null) c.append(el("div", "t", { id: titleId(e) }, cr.title));
    if (cr.message && cr.message.length) {
      const m = el("div", "m");
      message(m, cr.message);
      c.append(m);
    }
  }
  // A content engagement's call to action is a real link; a conversation's a button.
  const a = e.kind == "content" && isHttp(cr.url) ? link(cr.url) : el("button", "a", { type: "button" });
  attr(a, { "data-action": "accept" });
  a.textContent = acceptLabel(e, cr);
  c.append(a);
  return c;
}

/** The engagement element of item `s`. */
function build(s, e, cr) {
  const format = e.format || "sticky";
  const z = s.zone == "left" || s.zone == "right" ? " z-" + s.zone : "";
  const root = el(format == "button" ? "span" : "div", "e f-" + format + z, {
    "data-engagement": e.id,
    "data-campaign": s.campaign.id,
    "data-state": s.state,
    "data-zone": s.zone,
    "data-format": format,
    role: format == "overlay" ? "dialog" : format == "button" ? "group" : "region",
  });
  if (format == "overlay") attr(root, { "aria-modal": "true" });
  label(root, e, cr);
  setStyle(root, cr.style);
  const close = el("button", "x", { type: "button", "data-action": "decline", "aria-label": closeLabel(e, cr), title: "Close" }, X);
  const body = content(e, cr, format);
  if (format == "button") {
    root.append(body, close);
    return root;
  }
  if (format == "peeling_corner") {
    root.append(el("button", "peel", { type: "button", "data-action": "open", "aria-expanded": "false", "aria-label": acceptLabel(e, cr) }));
  }
  const box = el("div", "box");
  if (format == "sticky") {
    // The tab comes first, so its controls are the engagement's first accept and close.
    const tab = el("div", "tab");
    tab.append(close);
    tab.append(el("button", "tt", { type: "button", "data-action": "open", "aria-expanded": "false" }, named(e, cr)));
    tab.append(body.lastChild);
    box.append(body);
    root.append(tab, box);
    return root;
  }
  box.append(close, body);
  root.append(box);
  return root;
}

/** Button refresh: new data-state, label, style and creative, same element. */
function update(m, e, cr) {
  attr(m.el, { "data-state": m.state });
  label(m.el, e, cr);
  setStyle(m.el, cr.style, true);
  const old = m.el.querySelector(".c");
  const c = content(e, cr, e.format || "sticky");
  if (old) old.replaceWith(c);
  const tab = m.el.querySelector(".tab .a");
  if (tab) tab.replaceWith(c.lastChild);
  const tt = m.el.querySelector(".tt");
  if (tt) tt.textContent = named(e, cr);
  const peel = m.el.querySelector(".peel");
  if (peel) attr(peel, { "aria-label": acceptLabel(e, cr) });
  const x = m.el.querySelector(".x");
  if (x) attr(x, { "aria-label": closeLabel(e, cr) });
}

/** Focus into a new overlay: its call to action, else its first button. */
function focusFirst(node) {
  const t = node.querySelector(".a") || node.querySelector("button");
  if (t) t.focus();
}

export class Ui {
  /** `post(msg)` gets `{accept: id}`, `{decline: id}` or `{closePanel: true}`. */
  constructor(post) {
    this.post = post;
    this.main = null; // [host, shadow root] of #engage-root
    this.zones = []; // {id, host, root} of embedded zones
    this.list = []; // mounted: {engagement, zone, state, el, overlay, host}
    this.panel = null;
    this.prevFocus = null;
    this.ac = new AbortController(); // removes the click listeners on teardown
    this.onClick = (ev) => this.click(ev);
  }

  /** Makes the DOM match `items`: unmounts what left, updates states in place, mounts what came. */
  render(items) {
    let restore = false;
    this.list = this.list.filter((m) => {
      // An embedded engagement whose zone element the page replaced is re-mounted in the new one.
      const keep =
        (!m.host || D.getElementById(m.zone.slice(9)) === m.host) &&
        m.el.isConnected &&
        items.some((s) => s.engagement.id == m.engagement && s.zone == m.zone);
      if (!keep) {
        m.el.remove();
        restore = restore || m.overlay;
      }
      return keep;
    });
    if (restore) this.restoreFocus();
    const news = [];
    for (const s of items) {
      const e = s.engagement;
      const cr = s.creative;
      if (!cr) continue;
      const m = this.list.find((m) => m.engagement == e.id);
      if (m) {
        if (m.state != s.state) {
          m.state = s.state;
          update(m, e, cr);
        }
        continue;
      }
      const embedded = s.zone.startsWith("embedded:");
      const host = embedded ? D.getElementById(s.zone.slice(9)) : null;
      const root = embedded ? host && this.zoneRoot(host) : this.mainRoot();
      if (!root) continue;
      const node = build(s, e, cr);
      const overlay = e.format == "overlay";
      if (overlay) {
        const a = D.activeElement;
        this.prevFocus = a instanceof HTMLElement ? a : null;
      }
      // Embedded: before the fallback <slot>, which the sheet then hides.
      if (host) root.insertBefore(node, root.firstChild);
      else if (overlay || e.format == "peeling_corner") root.append(node);
      else this.main[3].append(node);
      if (overlay) focusFirst(node);
      else if (!host) news.push(named(e, cr));
      this.list.push({ engagement: e.id, zone: s.zone, state: s.state, el: node, overlay, host });
    }
    // A polite announcement of what appeared (a screen reader would not notice it otherwise);
    // the last few stay, so one render never hides another's.
    const live = this.main && this.main[2];
    for (const t of live ? news : []) live.append(el("p", "", 0, t));
    while (live && live.childNodes.length > 4) live.firstChild.remove();
    this.place();
  }

  /** The layout pass over the floating engagements: the grid keeps them apart; this keeps them
   * off the page's embedded engagements in view, trying the toaster in the other bottom corner,
   * then everything at the top. Called after a render, on scroll and on resize (once a frame). */
  place() {
    if (!this.main || this.placing) return;
    this.placing = requestAnimationFrame(() => {
      this.placing = 0;
      // Torn down (or re-rooted) since: nothing to place.
      const lay = this.main && this.main[3];
      if (!lay) return;
      this.peel();
      const fixed = [...lay.children];
      const page = this.list.filter((m) => m.host).map((m) => m.el.getBoundingClientRect());
      const free = () =>
        !fixed.some((f) => {
          const a = f.getBoundingClientRect();
          return page.some((b) => a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom);
        });
      for (const c of ["", "l", "up"]) {
        lay.className = "lay " + c;
        if (!page.length || free()) return;
      }
      lay.className = "lay";
    });
  }

  /** A folded corner moves down below any control of the page's that its visible triangle
   * would cover (a header's basket on a phone), up to four times; back at the top once
   * nothing is there (the header scrolled away). */
  peel() {
    const p = this.main[1].querySelector(".peel");
    const e = p && p.parentNode;
    if (!e) return;
    for (let top = 0, i = 0; ; ) {
      e.style.top = top + "px";
      if (i++ > 3) return;
      const r = p.getBoundingClientRect();
      // Points inside the visible lower-left triangle.
      const hit = [[8, r.height - 8], [8, 20], [r.width / 2, r.height - 8]]
        .flatMap(([x, y]) => D.elementsFromPoint(r.left + x, r.top + y))
        .map((h) => h.closest("a,button,input,select,textarea,label,[role=button],[data-engage-zone]"))
        .find((h) => h && h != this.main[0]);
      if (!hit) return;
      // Never further than half the screen down: a corner, not a floating badge.
      top = Math.min(Math.max(top, hit.getBoundingClientRect().bottom), innerHeight / 2);
    }
  }

  /** What is on the page: `[{engagement, zone, state}]`. */
  mounted() {
    return this.list.map(({ engagement, zone, state }) => ({ engagement, zone, state }));
  }

  restoreFocus() {
    const p = this.prevFocus;
    this.prevFocus = null;
    if (p && p.isConnected) p.focus();
  }

  listen(root) {
    root.addEventListener("click", this.onClick, { signal: this.ac.signal });
  }

  /** The shadow root of #engage-root, created on first use. */
  mainRoot() {
    if (this.main && this.main[0].isConnected) return this.main[1];
    let host = D.getElementById(ROOT_ID);
    if (!host) {
      if (!D.body) return null;
      host = el("div", "", { id: ROOT_ID });
      D.body.append(host);
    }
    const root = openRoot(host);
    if (!root) return null;
    adopt(root, CSS);
    this.listen(root);
    const live = el("div", "sr", { "aria-live": "polite" });
    const lay = el("div", "lay");
    root.append(live, lay);
    this.main = [host, root, live, lay];
    return root;
  }

  /** The shadow root on the embedded zone element `host` (or, when that element cannot have one
   * of ours, on a `<span>` appended to it). */
  zoneRoot(host) {
    const id = host.id;
    this.zones = this.zones.filter((z) => z.host.isConnected);
    const z = this.zones.find((z) => z.id == id && z.host == host);
    if (z) return z.root;
    let root = host.shadowRoot;
    if (root && owned.has(root)) clear(root);
    else if (root) root = null; // the page's own (a custom element's): leave it alone
    else {
      try {
        root = host.attachShadow({ mode: "open" });
        owned.add(root);
      } catch {}
    }
    if (!root) {
      // A custom element with its own shadow root, or an element that cannot host one.
      const span = el("span", "", { "data-engage-host": "" });
      host.append(span);
      root = openRoot(span);
    }
    attr(host, { [ZONE_ATTR]: "" });
    adopt(root, CSS);
    // The page's own content of the zone shows while nothing is displayed in it.
    root.append(D.createElement("slot"));
    this.listen(root);
    this.zones.push({ id, host, root });
    return root;
  }

  /** One delegated listener per shadow root. */
  click(ev) {
    const a = ev.target.closest && ev.target.closest("[data-action]");
    if (!a) return;
    const action = a.getAttribute("data-action");
    const eng = a.closest("[data-engagement]");
    const id = eng && eng.getAttribute("data-engagement");
    if (action == "close-panel") this.post({ closePanel: true });
    if (id == null) return;
    // A content link navigates by itself; the accept is recorded on the way.
    if (action == "accept") this.post({ accept: id });
    if (action == "decline") {
      ev.preventDefault();
      this.post({ decline: id });
    }
    if (action == "open") attr(a, { "aria-expanded": String(eng.classList.toggle("open")) });
  }

  /** Opens the conversation in a panel (an iframe in the shadow root). */
  openPanel(url, title) {
    this.closePanel();
    const root = this.mainRoot();
    if (!root) return;
    const p = el("div", "e panel", { role: "dialog", "aria-label": title, "data-panel": "" });
    const head = el("div", "ph");
    const x = el("button", "x", { type: "button", "data-action": "close-panel", "aria-label": "Close conversation" }, X);
    head.append(el("span", "", 0, title), x);
    p.append(head, el("iframe", "", { src: url, title, allow: "microphone; camera; clipboard-write" }));
    root.append(p);
    x.focus();
    this.panel = p;
  }

  closePanel() {
    if (this.panel) this.panel.remove();
    this.panel = null;
  }

  hasPanel() {
    return !!this.panel;
  }

  /** While a form field of the page has focus, the floating engagements step aside. */
  typing(on) {
    if (this.main) this.main[0].classList.toggle("typing", on);
  }

  /** Escape declines an open overlay; Tab stays inside it. Answers the overlay to decline. */
  key(ev) {
    const esc = ev.key == "Escape" || ev.key == "Esc";
    const m = this.list.find((m) => m.overlay);
    // Escape folds an open sticky card or corner back first.
    const open = esc && !m && this.list.find((m) => m.el.classList.contains("open"));
    if (open) {
      // Focus inside the card would be lost as it folds: it goes to the control that opens it.
      const t = open.el.querySelector("[aria-expanded=true]"), had = open.el.contains(this.main[1].activeElement);
      t.click();
      if (had) t.focus();
    }
    if (!m) return null;
    if (esc) {
      ev.preventDefault();
      return m.engagement;
    }
    if (ev.key != "Tab" || !this.main) return null;
    const list = m.el.querySelectorAll("button,a[href]");
    const first = list[0];
    const last = list[list.length - 1];
    if (!first) return null;
    const active = this.main[1].activeElement;
    let to = null;
    if (!(active && m.el.contains(active))) to = first;
    else if (active == (ev.shiftKey ? first : last)) to = ev.shiftKey ? last : first;
    if (to) {
      ev.preventDefault();
      to.focus();
    }
    return null;
  }

  /** Removes everything the runtime added to the page. */
  teardown() {
    for (const m of this.list) m.el.remove();
    this.list = [];
    this.closePanel();
    if (this.main) this.main[0].remove();
    this.main = null;
    for (const z of this.zones) {
      if (z.root.host != z.host) z.root.host.remove(); // our <span>
      else z.root.replaceChildren(D.createElement("slot")); // the page's content shows again
      z.host.removeAttribute(ZONE_ATTR);
    }
    this.zones = [];
    this.ac.abort();
    this.ac = new AbortController();
  }
}

// ----- debug panel -----

/** The debug panel (`./debug.js`), loaded the first time someone asks for it: a chunk of its
 * own, so the shop's visitors never download it. Answers a promise of the panel. */
export const debugPanel = (onClose, visit) =>
  import("./debug.js").then((m) => new m.DebugPanel(onClose, el, adopt, X, visit));
